/**
 * HTTP proxies (PROTOCOL.md, "Through a proxy"): which proxy, if any, a
 * connection to the relay goes through, and the agent that tunnels it with
 * `CONNECT host:port` (TLS and the WebSocket handshake then run inside the
 * tunnel, to the relay, as without a proxy).
 *
 * - An explicit `proxy` option (a URL, credentials allowed in it) applies
 *   to every connection, loopback included; `false` means none.
 * - Otherwise the environment, as the Azure SDKs read it: `HTTPS_PROXY` /
 *   `https_proxy` for `wss`/`https` targets, `HTTP_PROXY` / `http_proxy`
 *   for `ws`/`http` targets, except for hosts that `NO_PROXY` / `no_proxy`
 *   lists and for loopback targets (so that a developer's corporate proxy
 *   settings leave the local emulator alone).
 *
 * Proxy credentials never appear in messages: a proxy is named by its
 * scheme, host and port only.
 */
import { BlockList, isIP } from 'node:net';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { RelayArgumentError, RelayError } from './errors';
import { isLoopbackHost } from './protocol/connection-string';

/** The `proxy` option: a proxy URL, `false` for none, or undefined to follow the environment. */
export type ProxyOption = string | false | undefined;

/** A proxy to go through, ready to use. */
export interface ResolvedProxy {
  url: URL;
  /** `http://host:port`: the proxy named without its credentials. */
  display: string;
  hasCredentials: boolean;
  /** The `Proxy-Authorization` value (Basic) for the URL's credentials, when it has any. */
  authorization: string | undefined;
  /** Where it came from: the option, or the environment variable's name. */
  source: string;
}

function parseProxyUrl(text: string): URL | undefined {
  // A proxy given as host:port means http://host:port, as curl and the Azure SDKs read it.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  try {
    const url = new URL(withScheme);
    return url.hostname ? url : undefined;
  } catch {
    return undefined;
  }
}

/** Why a proxy URL's user name or password cannot be decoded, or undefined (never quotes them). */
function credentialsProblem(url: URL): string | undefined {
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
    return undefined;
  } catch {
    return 'its user name or password has a "%" that is not a percent-escape (write a literal "%" as %25)';
  }
}

function resolved(url: URL, source: string): ResolvedProxy {
  const hasCredentials = url.username !== '' || url.password !== '';
  let authorization: string | undefined;
  if (hasCredentials) {
    const problem = credentialsProblem(url);
    if (problem) throw new RelayError('ERR_HYCO_PROXY', `The proxy in ${source} cannot be used: ${problem}`);
    authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  }
  return { url, display: `${url.protocol}//${url.host}`, hasCredentials, authorization, source };
}

/** Checks the `proxy` option; throws `ERR_HYCO_INVALID_ARGUMENT` naming the problem (never the credentials). */
export function checkProxyOption(value: unknown): ProxyOption {
  if (value === undefined || value === false) return value;
  if (typeof value !== 'string' || value.trim() === '') {
    throw new RelayArgumentError('The "proxy" option must be a proxy URL (http://host:port) or false');
  }
  const url = parseProxyUrl(value.trim());
  if (!url) throw new RelayArgumentError('The "proxy" option is not a valid URL (expected http://[user:password@]host:port)');
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RelayArgumentError(`The "proxy" option must be an http:// or https:// proxy, not ${url.protocol}//`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new RelayArgumentError('The "proxy" option must be a proxy\'s address only (http://[user:password@]host:port), without a path or query');
  }
  const problem = credentialsProblem(url);
  if (problem) throw new RelayArgumentError(`The "proxy" option is not usable: ${problem}`);
  return value.trim();
}

/** The environment variable (upper case first, then lower case) that is set, with its name. */
function fromEnvironment(env: NodeJS.ProcessEnv, name: string): { name: string; value: string } | undefined {
  for (const n of [name, name.toLowerCase()]) {
    const value = env[n]?.trim();
    if (value) return { name: n, value };
  }
  return undefined;
}

/**
 * Whether `NO_PROXY` (comma- or space-separated) exempts `hostname:port`:
 * `*` (everything), a host name (itself and its subdomains), `.suffix` (the
 * domain and its subdomains; `*.suffix` likewise), an IP address, a CIDR
 * range (`10.0.0.0/8`), any of them with `:port` to exempt that port only.
 */
export function matchesNoProxy(hostname: string, port: number, noProxy: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  for (const raw of noProxy.split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    let entryPort: number | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracketed) {
      entry = bracketed[1];
      entryPort = bracketed[2] === undefined ? undefined : Number(bracketed[2]);
    } else if (!entry.includes('/') && (entry.match(/:/g) ?? []).length === 1) {
      const [h, p] = entry.split(':');
      if (!/^\d+$/.test(p)) continue;
      entry = h;
      entryPort = Number(p);
    }
    if (entryPort !== undefined && entryPort !== port) continue;
    if (entry.includes('/')) {
      if (inRange(host, entry)) return true;
      continue;
    }
    entry = entry.replace(/^\*(?=\.)/, '').replace(/\.$/, '');
    if (!entry) continue;
    if (entry.startsWith('.')) {
      if (host.endsWith(entry) || host === entry.slice(1)) return true;
    } else if (host === entry || (isIP(host) === 0 && host.endsWith(`.${entry}`))) return true;
  }
  return false;
}

function inRange(host: string, cidr: string): boolean {
  const [network, bits] = cidr.split('/');
  const family = isIP(network);
  const prefix = Number(bits);
  if (family === 0 || isIP(host) !== family || !/^\d+$/.test(bits ?? '') || prefix > (family === 4 ? 32 : 128)) return false;
  const list = new BlockList();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  list.addSubnet(network, prefix, type);
  return list.check(host, type);
}

/**
 * The proxy a connection to `target` (a ws/wss/http/https URL) goes
 * through, or undefined. An environment variable that is not a usable
 * proxy URL is `ERR_HYCO_PROXY` naming the variable (not its value).
 */
export function proxyFor(target: string, option: ProxyOption, env: NodeJS.ProcessEnv = process.env): ResolvedProxy | undefined {
  if (option === false) return undefined;
  if (typeof option === 'string') return resolved(parseProxyUrl(option) as URL, 'the proxy option');
  const url = new URL(target);
  const secure = url.protocol === 'wss:' || url.protocol === 'https:';
  if (isLoopbackHost(url.hostname)) return undefined;
  const chosen = fromEnvironment(env, secure ? 'HTTPS_PROXY' : 'HTTP_PROXY');
  if (!chosen) return undefined;
  const port = url.port ? Number(url.port) : secure ? 443 : 80;
  const noProxy = fromEnvironment(env, 'NO_PROXY');
  if (noProxy && matchesNoProxy(url.hostname, port, noProxy.value)) return undefined;
  const proxyUrl = parseProxyUrl(chosen.value);
  if (!proxyUrl || (proxyUrl.protocol !== 'http:' && proxyUrl.protocol !== 'https:')) {
    throw new RelayError('ERR_HYCO_PROXY', `${chosen.name} is not an http:// or https:// proxy URL; fix it, or list the relay in NO_PROXY`);
  }
  return resolved(proxyUrl, chosen.name);
}

/** What the proxy answered to CONNECT, once it has. */
interface ConnectAnswer {
  statusCode: number;
  statusText: string;
}

/**
 * An `https-proxy-agent` for one connection, which remembers what went
 * wrong on the way to the relay (the proxy unreachable, or its answer to
 * CONNECT) so that the failure can be reported as the proxy's. `signal`
 * destroys the socket to the proxy (a proxy that never answers CONNECT
 * must not hold a socket open after the attempt is given up).
 */
export class ProxyTunnel extends HttpsProxyAgent<string> {
  answer: ConnectAnswer | undefined;
  failure: Error | undefined;

  constructor(
    readonly setting: ResolvedProxy,
    signal: AbortSignal,
  ) {
    // The credentials go in a header of our own, not in the URL the agent is given: the agent's
    // debug output (DEBUG=*) prints that URL.
    const bare = new URL(setting.url.href);
    bare.username = '';
    bare.password = '';
    const headers: Record<string, string> = {};
    if (setting.authorization) headers['Proxy-Authorization'] = setting.authorization;
    super(bare.href, { signal, headers });
    this.on('proxyConnect', (answer: ConnectAnswer) => {
      this.answer = { statusCode: answer.statusCode, statusText: answer.statusText };
    });
  }

  override async connect(...args: Parameters<HttpsProxyAgent<string>['connect']>): ReturnType<HttpsProxyAgent<string>['connect']> {
    try {
      return await super.connect(...args);
    } catch (err) {
      this.failure = err as Error;
      throw err;
    }
  }

  /**
   * The failure as the proxy's (`ERR_HYCO_PROXY_AUTH` for 407,
   * `ERR_HYCO_PROXY` otherwise), or undefined when the proxy did its part
   * (the tunnel was opened) and something beyond it failed.
   */
  problem(target: string): RelayError | undefined {
    const { display, hasCredentials } = this.setting;
    const answer = this.answer;
    // 407 is the standard answer; some proxies (tinyproxy) answer wrong credentials with 401.
    if (answer && (answer.statusCode === 407 || answer.statusCode === 401)) {
      const why = hasCredentials ? 'it refused the credentials in the proxy URL' : 'it wants credentials: put them in the proxy URL (http://user:password@host:port)';
      return new RelayError('ERR_HYCO_PROXY_AUTH', `The proxy ${display} answered ${answer.statusCode} ${answer.statusText}: ${why}`, { statusCode: answer.statusCode });
    }
    if (answer && answer.statusCode !== 200) {
      const { host } = new URL(target);
      return new RelayError('ERR_HYCO_PROXY', `The proxy ${display} refused to connect to ${host}: ${answer.statusCode} ${answer.statusText}`.trim(), { statusCode: answer.statusCode });
    }
    if (!answer && this.failure) {
      const code = (this.failure as NodeJS.ErrnoException).code;
      return new RelayError('ERR_HYCO_PROXY', `Could not reach the proxy ${display}: ${code ?? this.failure.message}`, { cause: this.failure });
    }
    return undefined;
  }
}
