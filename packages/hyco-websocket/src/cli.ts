/**
 * `hyco-websocket`: tokens, addresses, a relayed echo listener and an
 * interactive sender, from a terminal.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { connection as WebSocketConnection, Message } from 'websocket';
import { HybridConnectionsWebSocketClient } from './client';
import { getRuntimeInformation } from './runtime-information';
import { RELAY_SCOPE } from './credentials';
import type { TokenCredential } from './credentials';
import { RelayArgumentError } from './errors';
import { defaultAzureCredential, tokenSourceFor } from './identity';
import type { RelayError } from './errors';
import { isLoopbackHost, isManagedIdentity } from './protocol/connection-string';
import { parseConnectionString } from './protocol/connection-string';
import { printable } from './protocol/printable';
import { createRelayToken } from './protocol/token';
import { appendRelayToken, createRelayListenUri, createRelaySendUri, parseRelayNamespace } from './protocol/uri';
import { HybridConnectionsWebSocketServer } from './server';

interface RelayFlags {
  connectionString?: string;
  namespace?: string;
  keyName?: string;
  key?: string;
  path?: string;
  ttl: number;
  entra?: boolean;
  /** --proxy URL, or false with --no-proxy; undefined: the environment's. */
  proxy?: string | false;
}

interface Relay {
  /** `scheme://host:port`, the namespace argument of the URI helpers. */
  address: string;
  host: string;
  path: string | undefined;
  keyName?: string;
  key?: string;
  signature?: string;
  /** --entra, or Authentication=Managed Identity: tokens from an Entra ID credential. */
  credential?: TokenCredential;
}

/** This package's version, from its package.json. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

// Every line printed may hold values from the network (ids, paths, messages, status texts): escaped, so
// that no peer can forge a line or drive the terminal.
const out = (line: string): void => {
  process.stdout.write(`${printable(line, Infinity)}\n`);
};

/** JSON on stdout: what JSON.stringify leaves as it is of the unsafe characters (DEL, C1, bidi) escaped too; still JSON. */
const outJson = (value: unknown): void => {
  const text = JSON.stringify(value, null, 2).replace(/[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  process.stdout.write(`${text}\n`);
};

const complain = (line: string): void => {
  process.stderr.write(`hyco-websocket: ${printable(line, Infinity)}\n`);
};

function milliseconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number of milliseconds');
  return Number(value);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function seconds(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError('must be a positive whole number of seconds');
  return Number(value);
}

function relayOptions(command: Command): Command {
  return command
    .addOption(new Option('-c, --connection-string <text>', 'an Azure Relay connection string').env('HYCO_CONNECTION_STRING'))
    .option('-n, --namespace <ns>', 'namespace host (contoso.servicebus.windows.net) or URL (ws://127.0.0.1:9030)')
    .option('--key-name <name>', 'shared access rule name')
    .option('--key <key>', 'shared access key')
    .option('-p, --path <path>', 'hybrid connection (default: the connection string\'s EntityPath)')
    .option('--ttl <seconds>', 'token lifetime in seconds', seconds, 3600)
    .option('--entra', 'use Microsoft Entra ID (DefaultAzureCredential, from @azure/identity) instead of a key');
}

/** --proxy and --no-proxy, for the commands that connect. */
function proxyOptions(command: Command): Command {
  return command
    .option('--proxy <url>', 'HTTP proxy (http://[user:password@]host:port); default: HTTPS_PROXY / HTTP_PROXY unless NO_PROXY lists the relay')
    .option('--no-proxy', 'connect directly, whatever the environment says');
}

function resolveRelay(flags: RelayFlags): Relay {
  let relay: Relay;
  if (flags.connectionString) {
    const cs = parseConnectionString(flags.connectionString);
    relay = {
      address: cs.address,
      host: cs.namespace,
      path: flags.path ?? cs.entityPath,
      keyName: cs.sharedAccessKeyName,
      key: cs.sharedAccessKey,
      signature: cs.sharedAccessSignature,
    };
    if (isManagedIdentity(cs.authentication)) relay.credential = tokenSourceFor(cs) as TokenCredential;
  } else {
    if (!flags.namespace) throw new RelayArgumentError('give --connection-string (or HYCO_CONNECTION_STRING), or --namespace');
    const endpoint = parseRelayNamespace(flags.namespace);
    relay = {
      address: `${endpoint.scheme}://${endpoint.host}:${endpoint.port}`,
      host: endpoint.host,
      path: flags.path,
      keyName: flags.keyName,
      key: flags.key,
    };
  }
  if (flags.entra) {
    // Keyless: whatever DefaultAzureCredential finds (environment, managed identity, az login...).
    relay.credential = defaultAzureCredential('--entra');
  }
  return relay;
}

/** A token for the relay: an Entra ID token from the credential, else a SAS token from the key. */
async function tokenNow(relay: Relay, ttl: number, path = relay.path): Promise<string> {
  if (!relay.credential) return tokenFor(relay, ttl, path);
  const access = await relay.credential.getToken(RELAY_SCOPE);
  if (!access?.token) throw new RelayArgumentError('the Entra ID credential gave no token');
  return access.token;
}

function needPath(relay: Relay): string {
  if (!relay.path) throw new RelayArgumentError('give --path (or an EntityPath in the connection string)');
  return relay.path;
}

function tokenFor(relay: Relay, ttl: number, path = relay.path): string {
  if (relay.signature) return relay.signature;
  if (!relay.keyName && !relay.key) throw new RelayArgumentError('give --key-name and --key (or a connection string with them)');
  if (!relay.keyName) throw new RelayArgumentError('--key is given without --key-name: give the rule\'s name too');
  if (!relay.key) throw new RelayArgumentError('--key-name is given without --key: give the rule\'s key too');
  return createRelayToken(`http://${relay.host}/${path ?? ''}`, relay.keyName, relay.key, ttl);
}

/** What to tell someone whose listener failed with `err`, once; and whether to stop. */
function describeFailure(err: RelayError, address: string): { line: string; stop: boolean } {
  if (err.statusCode === 401 || err.statusCode === 403) {
    return { line: `the relay refused the listener (${err.statusCode}): check the key, rule name or role. ${err.message}`, stop: true };
  }
  const cause = err.cause as NodeJS.ErrnoException | undefined;
  if (err.code === 'ERR_HYCO_CONNECTION' && cause?.code === 'ECONNREFUSED') {
    const endpoint = parseRelayNamespace(address);
    if (isLoopbackHost(endpoint.host)) {
      return { line: `nothing answers at ${address}: is the emulator running on ${endpoint.port}? (npx hyco-relay-emulator --port ${endpoint.port}); retrying`, stop: false };
    }
  }
  return { line: err.message, stop: false };
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('hyco-websocket')
    .description('Azure Relay Hybrid Connections from a terminal: tokens, addresses, a listener and a sender.')
    .version(packageVersion(), '-V, --version', 'print the version');

  relayOptions(program.command('token').description('print a SAS token (for --path, or the whole namespace without one)')).action((flags: RelayFlags) => {
    return tokenNow(resolveRelay(flags), flags.ttl).then(out);
  });

  relayOptions(program.command('uri').description('print a listen or send address'))
    .addOption(new Option('-a, --action <action>', 'listen or send').choices(['listen', 'send']).default('send'))
    .option('--with-token', 'embed a token as sb-hc-token (for clients that cannot set headers)')
    .option('--id <id>', 'tracking id (sb-hc-id)')
    .action((flags: RelayFlags & { action: 'listen' | 'send'; withToken?: boolean; id?: string }) => {
      const relay = resolveRelay(flags);
      const path = needPath(relay);
      const make = flags.action === 'listen' ? createRelayListenUri : createRelaySendUri;
      const uri = make(relay.address, path, null, flags.id);
      if (!flags.withToken) out(uri);
      else if (relay.signature) out(`${uri}&sb-hc-token=${encodeURIComponent(relay.signature)}`);
      else out(appendRelayToken(uri, relay.keyName ?? '', relay.key ?? '', flags.ttl));
    });

  proxyOptions(relayOptions(program.command('listen').description('run a relayed echo listener (Ctrl-C stops it)'))).action((flags: RelayFlags) => {
    const relay = resolveRelay(flags);
    const path = needPath(relay);
    if (!relay.credential) tokenFor(relay, flags.ttl); // Fails now, clearly, rather than on every reconnect.
    const server = new HybridConnectionsWebSocketServer({
      server: createRelayListenUri(relay.address, path),
      token: relay.credential ?? (() => tokenFor(relay, flags.ttl)),
      ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
    });
    let lastFailure: string | undefined;
    server.on('online', () => {
      lastFailure = undefined;
      out(`listening on "${path}" through ${relay.address} (listener id ${server.listenerId})`);
    });
    server.on('connecting', (attempt: number, delay: number) => {
      if (attempt > 0 && lastFailure === undefined) out(`reconnecting (attempt ${attempt + 1}, in ${delay} ms)`);
    });
    server.on('offline', (err?: RelayError) => {
      if (!err) return;
      // Said once: an error that ends the listener (404) is not repeated as "offline".
      if (describeFailure(err, relay.address).line !== lastFailure) complain(err.message);
      process.exitCode = 1;
    });
    server.on('error', (err: RelayError) => {
      const { line, stop } = describeFailure(err, relay.address);
      if (line === lastFailure) return;
      lastFailure = line;
      complain(line);
      if (stop) {
        process.exitCode = 1;
        void server.close();
      }
    });
    server.on('request', (request) => {
      request.accept(request.requestedProtocols[0] ?? null, request.origin).then(
        (connection) => {
          out(`connection ${request.id} from ${request.remoteAddress}${request.resource === '/' ? '' : ` (${request.resource})`}`);
          connection.on('message', (m: Message) => {
            if (m.type === 'utf8') {
              out(`${request.id} < ${m.utf8Data}`);
              connection.sendUTF(m.utf8Data);
            } else {
              out(`${request.id} < ${m.binaryData.length} bytes`);
              connection.sendBytes(m.binaryData);
            }
          });
          connection.on('close', (code: number) => out(`connection ${request.id} closed (${code})`));
        },
        (err: Error) => out(`accept failed: ${err.message}`),
      );
    });
    const stop = () => void server.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

  proxyOptions(relayOptions(program.command('send').description('connect through the relay; send lines from stdin (or one message) and print what comes back')))
    .option('-m, --message <text>', 'send this one message, print the reply and exit')
    .option('--protocol <name>', 'subprotocol to request')
    .option('--allowed-listener <id>', 'only this listener may take the connection (repeatable; see listen\'s id)', collect, [])
    .option('--wait <ms>', 'with piped input: after its end, wait this long at most for the replies', milliseconds, 5000)
    .action(async (flags: RelayFlags & { message?: string; protocol?: string; allowedListener: string[]; wait: number }) => {
      const relay = resolveRelay(flags);
      const path = needPath(relay);
      const client = new HybridConnectionsWebSocketClient({
        token: relay.credential ?? (() => tokenFor(relay, flags.ttl, path)),
        ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
        ...(flags.allowedListener.length ? { allowedListeners: flags.allowedListener } : {}),
      });
      const connection = await new Promise<WebSocketConnection | undefined>((resolve) => {
        client.once('connect', resolve);
        client.once('connectFailed', (err: Error) => {
          complain(err.message);
          process.exitCode = 1;
          resolve(undefined);
        });
        client.connect(createRelaySendUri(relay.address, path), flags.protocol);
      });
      if (!connection) return;
      if (flags.message !== undefined) {
        // One message, one reply, printed as it is (for scripts).
        connection.once('message', (m: Message) => {
          out(m.type === 'utf8' ? m.utf8Data : `<${m.binaryData.length} bytes>`);
          connection.close();
        });
        connection.sendUTF(flags.message);
        return;
      }
      const interactive = process.stdin.isTTY === true;
      let sent = 0;
      let replies = 0;
      let inputEnded = false;
      let waitTimer: NodeJS.Timeout | undefined;
      const finish = () => {
        if (waitTimer) clearTimeout(waitTimer);
        if (connection.connected) connection.close();
      };
      // Replies are marked "< ", so they are told apart from what was typed.
      connection.on('message', (m: Message) => {
        replies++;
        out(`< ${m.type === 'utf8' ? m.utf8Data : `<${m.binaryData.length} bytes>`}`);
        if (inputEnded && replies >= sent) finish();
      });
      connection.on('close', (code: number, description: string) => {
        if (waitTimer) clearTimeout(waitTimer);
        if (interactive || code !== 1000) out(`closed (${code}${description ? `: ${description}` : ''})`);
        if (inputEnded && replies < sent) {
          complain(`${sent - replies} of ${sent} messages got no reply`);
          process.exitCode = 1;
        }
        process.stdin.pause();
      });
      if (interactive) process.stderr.write('connected; type lines to send, Ctrl-D to close\n');
      const lines = createInterface({ input: process.stdin });
      lines.on('line', (line) => {
        if (!connection.connected) return;
        sent++;
        connection.sendUTF(line);
      });
      lines.on('close', () => {
        inputEnded = true;
        if (replies >= sent || interactive) finish();
        // Piped input: the replies to what was sent may still be on their way.
        else waitTimer = setTimeout(finish, flags.wait);
      });
    });

  proxyOptions(relayOptions(program.command('status').description('is anyone listening? print the listener count and dates of --path')))
    .option('--json', 'print the runtime information as JSON')
    .action(async (flags: RelayFlags & { json?: boolean }) => {
      const relay = resolveRelay(flags);
      const path = needPath(relay);
      const info = await getRuntimeInformation(relay.address, path, {
        token: relay.credential ?? (() => tokenFor(relay, flags.ttl, path)),
        ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
      });
      if (flags.json) {
        outJson(info);
        return;
      }
      out(`hybrid connection:  ${path}`);
      out(`listeners online:   ${info.listenerCount}`);
      if (info.createdAt) out(`created:            ${info.createdAt.toISOString()}`);
      if (info.updatedAt) out(`updated:            ${info.updatedAt.toISOString()}`);
      if (info.requiresClientAuthorization !== undefined) out(`senders need a token: ${info.requiresClientAuthorization ? 'yes' : 'no'}`);
      if (info.userMetadata) out(`user metadata:      ${info.userMetadata}`);
    });

  return program;
}

/** Runs the command line; errors become a message and exit code 1. */
export function run(argv: string[]): void {
  // A closed stdout (e.g. piped into `head`) ends the command quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  buildProgram()
    .parseAsync(argv)
    .catch((err: Error) => {
      complain(err.message);
      process.exit(1);
    });
}

if (require.main === module) run(process.argv);
