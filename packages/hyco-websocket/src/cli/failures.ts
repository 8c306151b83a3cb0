/**
 * Every failure a `hyco-websocket` command can meet, in one table: what it
 * means in one line, the command or flag that fixes it, and the exit code.
 * `listen`, `send`, `status`, `expose` and `forward` all explain errors
 * through `explainFailure`, so the same failure reads the same everywhere.
 *
 * Exit codes (documented in the README's CLI section):
 * 0 done, 1 any other failure, 2 usage (unknown flag, bad value, missing
 * setting), 3 authentication or authorization (401, 403, proxy 407),
 * 4 not found (no such hybrid connection, no listener), 5 network (not
 * reachable, DNS, TLS, 502, 504, proxy, port in use).
 *
 * Tracking ids and timestamps of the service's status texts are left out
 * unless `verbose`; no row ever holds a key or a token.
 */
import type { RelayError } from '../errors';
import { isLoopbackHost } from '../protocol/connection-string';
import { parseRelayNamespace } from '../protocol/uri';

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_AUTH = 3;
export const EXIT_NOT_FOUND = 4;
export const EXIT_NETWORK = 5;

/** What a command knows when a failure is explained. */
export interface FailureContext {
  /** `scheme://host:port` of the relay. */
  address: string;
  /** The hybrid connection, when there is one. */
  path?: string;
  /** `listen` (or another listener: expose, forward -T/-H), or `send` (a sender: send, status, forward -L). */
  side: 'listener' | 'sender';
  /** With --verbose: the tracking id and the service's own text are added. */
  verbose?: boolean;
}

/** One row's answer. */
export interface Explanation {
  /** What happened, one line. */
  what: string;
  /** The command or flag that fixes it. */
  fix: string;
  exitCode: number;
  /** A listener stops (retrying will not cure it); otherwise it keeps retrying. */
  stop: boolean;
}

interface Row {
  /** The row's name (for the README and the tests). */
  name: string;
  matches(err: RelayError, cause: NodeJS.ErrnoException | undefined): boolean;
  explain(err: RelayError, ctx: FailureContext, host: string, port: number): Explanation;
}

const TLS_UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
/** Errors in what was given (a flag, a connection string, a configuration file): usage errors. */
const USAGE_CODES = new Set<string>(['ERR_HYCO_INVALID_ARGUMENT', 'ERR_HYCO_INVALID_CONFIG', 'ERR_HYCO_INVALID_CONNECTION_STRING']);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/** The errno-style cause, looked for one or two levels down. */
function causeOf(err: RelayError): NodeJS.ErrnoException | undefined {
  let cause = err.cause as NodeJS.ErrnoException | undefined;
  for (let i = 0; i < 3 && cause; i++) {
    if (typeof cause.code === 'string') return cause;
    cause = cause.cause as NodeJS.ErrnoException | undefined;
  }
  return undefined;
}

/** The service's status text of a handshake error, without its tracking id and timestamp. */
function statusText(err: RelayError): string {
  const m = /failed with status \d+: (.*)$/s.exec(err.message);
  return m ? withoutTracking(m[1]) : '';
}

/** `text` without `TrackingId:...`, `SystemTracker:...` and `Timestamp:...` parts. */
export function withoutTracking(text: string): string {
  return text
    .replace(/[,;]?\s*(TrackingId|SystemTracker|Timestamp)\s*:\s*[^,;]*/gi, '')
    .replace(/\s*\(\s*\)/g, '')
    .replace(/[\s,;.]+$/, '')
    .trim();
}

const where = (ctx: FailureContext) => (ctx.path ? `"${ctx.path}"` : 'the hybrid connection');
const right = (ctx: FailureContext) => (ctx.side === 'listener' ? 'Listen' : 'Send');

/** The table. The first row that matches explains the failure. */
export const FAILURES: readonly Row[] = [
  {
    name: 'proxy 407',
    matches: (err) => err.code === 'ERR_HYCO_PROXY_AUTH' || err.statusCode === 407,
    explain: () => ({ what: 'the proxy asks for credentials (407)', fix: '--proxy http://user:password@host:port (or HTTPS_PROXY), or --no-proxy', exitCode: EXIT_AUTH, stop: true }),
  },
  {
    name: 'proxy',
    matches: (err) => err.code === 'ERR_HYCO_PROXY',
    explain: (err) => ({ what: `the proxy failed: ${withoutTracking(err.message)}`, fix: 'check --proxy (or HTTPS_PROXY), or --no-proxy', exitCode: EXIT_NETWORK, stop: false }),
  },
  {
    name: 'emulator not running',
    matches: (err, cause) => cause?.code === 'ECONNREFUSED',
    explain: (err, ctx, host, port) =>
      isLoopbackHost(host)
        ? { what: `nothing answers at ${ctx.address}: is the emulator running on ${port}?`, fix: `npx hyco-relay-emulator --port ${port}`, exitCode: EXIT_NETWORK, stop: false }
        : { what: `${ctx.address} refused the connection`, fix: 'check --namespace (or the connection string\'s Endpoint) and the port', exitCode: EXIT_NETWORK, stop: false },
  },
  {
    name: 'DNS',
    matches: (err, cause) => cause?.code === 'ENOTFOUND' || cause?.code === 'EAI_AGAIN',
    explain: (err, ctx, host) => ({ what: `no such host ${host} (DNS)`, fix: 'check --namespace (or the connection string\'s Endpoint): contoso.servicebus.windows.net', exitCode: EXIT_NETWORK, stop: false }),
  },
  {
    name: 'TLS untrusted',
    matches: (err, cause) => cause !== undefined && TLS_UNTRUSTED.has(String(cause.code)),
    explain: (err, ctx, host) => ({
      what: `the certificate of ${host} is not trusted (${String(causeOf(err)?.code)})`,
      fix: isLoopbackHost(host) ? '--ca <file> with the emulator\'s development CA (npx hyco-relay-emulator trust prints its path)' : '--ca <file> with the CA that signed it, or NODE_EXTRA_CA_CERTS',
      exitCode: EXIT_NETWORK,
      stop: true,
    }),
  },
  {
    // A wss:// address (a connection string without UseDevelopmentEmulator) meeting a plain ws:// emulator:
    // OpenSSL's 'wrong version number', which says nothing to a newcomer.
    name: 'TLS to a plain port',
    matches: (err, cause) => cause?.code === 'EPROTO' || /wrong version number/i.test(String(cause?.message ?? err.message)),
    explain: (err, ctx, host) => ({
      what: `${host} does not speak TLS on that port (the address is wss:// or https://)`,
      fix: isLoopbackHost(host) ? 'for the local emulator add ;UseDevelopmentEmulator=true to the connection string, or use --namespace ws://host:port' : 'check the port, or use ws:// if the relay has no TLS',
      exitCode: EXIT_NETWORK,
      stop: true,
    }),
  },
  {
    name: 'relay not reachable',
    matches: (err, cause) => cause !== undefined && UNREACHABLE.has(String(cause.code)),
    explain: (err, ctx) => ({ what: `cannot reach ${ctx.address} (${String(causeOf(err)?.code)})`, fix: 'check the network; behind a proxy: --proxy http://host:port', exitCode: EXIT_NETWORK, stop: false }),
  },
  {
    name: '401 expired token',
    matches: (err) => err.statusCode === 401 && /expired/i.test(err.message),
    explain: () => ({ what: 'the relay refused the token: it has expired (401)', fix: 'a longer --ttl, or check this machine\'s clock', exitCode: EXIT_AUTH, stop: true }),
  },
  {
    name: '401 missing token',
    matches: (err) => err.statusCode === 401 && /MissingToken|no ServiceBusAuthorization/i.test(err.message),
    explain: (err, ctx) => ({
      what: `the relay wants a token and none was sent (401)`,
      fix: `--key-name and --key (a rule with ${right(ctx)}), a connection string with them, or --entra`,
      exitCode: EXIT_AUTH,
      stop: true,
    }),
  },
  {
    name: '401 malformed token',
    matches: (err) => err.statusCode === 401 && /Malformed/i.test(err.message),
    explain: () => ({ what: 'the relay could not read the token (401)', fix: 'check the SharedAccessSignature of the connection string, or use --key-name and --key', exitCode: EXIT_AUTH, stop: true }),
  },
  {
    name: '401 wrong key',
    matches: (err) => err.statusCode === 401,
    explain: () => ({ what: 'the relay refused the key (401): wrong key or unknown rule name', fix: 'check --key-name and --key (or the connection string\'s SharedAccessKeyName/SharedAccessKey)', exitCode: EXIT_AUTH, stop: true }),
  },
  {
    name: '403 wrong hybrid connection',
    matches: (err) => err.statusCode === 403 && /audience/i.test(err.message),
    explain: (err, ctx) => ({ what: `the token is not for ${where(ctx)} (403)`, fix: 'check --path: the token must be made for the same hybrid connection', exitCode: EXIT_AUTH, stop: true }),
  },
  {
    name: '403 missing right',
    matches: (err) => err.statusCode === 403,
    explain: (err, ctx) => {
      const named = /\b(Listen|Send|Manage)\b/.exec(statusText(err))?.[1] ?? right(ctx);
      return {
        what: `the rule or role lacks the ${named} right on ${where(ctx)} (403)`,
        fix: `use a rule with ${named} (--key-name/--key), or with --entra a role Azure Relay ${named === 'Send' ? 'Sender' : named === 'Listen' ? 'Listener' : 'Owner'}`,
        exitCode: EXIT_AUTH,
        stop: true,
      };
    },
  },
  {
    name: '404 no listener',
    matches: (err) => err.code === 'ERR_HYCO_NO_LISTENER',
    explain: (err, ctx) => ({
      what: `no listener is online for ${where(ctx)} (404)`,
      fix: `start one: npx hyco-websocket listen --path ${ctx.path ?? '<path>'} (and check --allowed-listener)`,
      exitCode: EXIT_NOT_FOUND,
      stop: true,
    }),
  },
  {
    name: '404 no hybrid connection',
    matches: (err) => err.statusCode === 404 || err.code === 'ERR_HYCO_NOT_FOUND',
    explain: (err, ctx, host) => ({
      what: `there is no hybrid connection ${where(ctx)} in ${host} (404)`,
      fix: isLoopbackHost(host)
        ? `npx hyco-relay-emulator hc create ${ctx.path ?? '<path>'} (or start the emulator with --hybrid-connection ${ctx.path ?? '<path>'} or --auto-create)`
        : `check --path, or create it: az relay hyco create --name ${ctx.path ?? '<path>'} --namespace-name <namespace> --resource-group <group>`,
      exitCode: EXIT_NOT_FOUND,
      stop: true,
    }),
  },
  {
    name: '502 listener failed',
    matches: (err) => err.statusCode === 502,
    explain: (err, ctx) => ({ what: `the listener of ${where(ctx)} did not take the connection (502)`, fix: 'look at the listener\'s log; try again', exitCode: EXIT_NETWORK, stop: false }),
  },
  {
    name: '504 listener timed out',
    matches: (err) => err.statusCode === 504,
    explain: (err, ctx) => ({ what: `the listener of ${where(ctx)} did not answer in time (504)`, fix: 'is the listener busy or stuck? try again', exitCode: EXIT_NETWORK, stop: false }),
  },
  {
    name: 'port in use',
    matches: (err, cause) => cause?.code === 'EADDRINUSE',
    explain: (err) => ({ what: `the local port is in use (${withoutTracking(err.message)})`, fix: 'another port, or port 0 for any free one', exitCode: EXIT_NETWORK, stop: true }),
  },
];

/** One line (`what: fix`) and the exit code for `err`; unknown errors keep their message (without tracking ids). */
export function explainFailure(err: RelayError, ctx: FailureContext): Explanation & { line: string } {
  const cause = causeOf(err);
  let host = '';
  let port = 0;
  try {
    const endpoint = parseRelayNamespace(ctx.address);
    host = endpoint.host;
    port = endpoint.port;
  } catch {
    // An address the command could not parse: the rows that need it say less.
  }
  const row = FAILURES.find((r) => r.matches(err, cause));
  const explained: Explanation = row
    ? row.explain(err, ctx, host, port)
    : { what: withoutTracking(err.message), fix: '', exitCode: USAGE_CODES.has(err.code) ? EXIT_USAGE : EXIT_FAILURE, stop: false };
  let line = explained.fix ? `${explained.what}; fix: ${explained.fix}` : explained.what;
  if (ctx.verbose) {
    const details = [err.trackingId ? `tracking id ${err.trackingId}` : '', row ? err.message : ''].filter(Boolean).join('; ');
    if (details) line += ` [${details}]`;
  }
  return { ...explained, line };
}
