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
import type { RelayError } from './errors';
import { appendRelayToken, createRelayListenUri, createRelaySendUri } from './protocol/uri';
import { HybridConnectionsWebSocketServer } from './server';
import { registerForwardCommand } from './cli/forward';
import { registerExposeCommand } from './cli/expose';
import { complain, describeFailure, needPath, out, proxyOptions, relayOptions, resolveRelay, tokenFor, tokenNow } from './cli/relay-flags';
import type { RelayFlags } from './cli/relay-flags';
import { rootCertificates } from 'node:tls';

/** --ca FILE, for the commands that connect: a CA to trust besides Node's own (an emulator's development CA). */
function caOption(command: Command): Command {
  return command.option('--ca <file>', 'also trust this CA certificate (PEM), e.g. the emulator\'s (`hyco-relay-emulator trust`)');
}

/** The TLS options --ca asks for: Node's CAs and the one given. */
function caTls(flags: { ca?: string }): { tlsOptions?: { ca: string[] } } {
  return flags.ca ? { tlsOptions: { ca: [...rootCertificates, readFileSync(flags.ca, 'utf8')] } } : {};
}

/** This package's version, from its package.json. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/** JSON on stdout: what JSON.stringify leaves as it is of the unsafe characters (DEL, C1, bidi) escaped too; still JSON. */
const outJson = (value: unknown): void => {
  const text = JSON.stringify(value, null, 2).replace(/[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  process.stdout.write(`${text}\n`);
};

function milliseconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number of milliseconds');
  return Number(value);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
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

  caOption(proxyOptions(relayOptions(program.command('listen').description('run a relayed echo listener (Ctrl-C stops it)')))).action((flags: RelayFlags & { ca?: string }) => {
    const relay = resolveRelay(flags);
    const path = needPath(relay);
    if (!relay.credential) tokenFor(relay, flags.ttl); // Fails now, clearly, rather than on every reconnect.
    const server = new HybridConnectionsWebSocketServer({
      server: createRelayListenUri(relay.address, path),
      token: relay.credential ?? (() => tokenFor(relay, flags.ttl)),
      ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
      ...caTls(flags),
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

  caOption(proxyOptions(relayOptions(program.command('send').description('connect through the relay; send lines from stdin (or one message) and print what comes back'))))
    .option('-m, --message <text>', 'send this one message, print the reply and exit')
    .option('--protocol <name>', 'subprotocol to request')
    .option('--allowed-listener <id>', 'only this listener may take the connection (repeatable; see listen\'s id)', collect, [])
    .option('--wait <ms>', 'with piped input: after its end, wait this long at most for the replies', milliseconds, 5000)
    .action(async (flags: RelayFlags & { message?: string; protocol?: string; allowedListener: string[]; wait: number; ca?: string }) => {
      const relay = resolveRelay(flags);
      const path = needPath(relay);
      const client = new HybridConnectionsWebSocketClient({
        token: relay.credential ?? (() => tokenFor(relay, flags.ttl, path)),
        ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
        ...(flags.allowedListener.length ? { allowedListeners: flags.allowedListener } : {}),
        ...caTls(flags),
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

  caOption(proxyOptions(relayOptions(program.command('status').description('is anyone listening? print the listener count and dates of --path'))))
    .option('--json', 'print the runtime information as JSON')
    .action(async (flags: RelayFlags & { json?: boolean; ca?: string }) => {
      const relay = resolveRelay(flags);
      const path = needPath(relay);
      const info = await getRuntimeInformation(relay.address, path, {
        token: relay.credential ?? (() => tokenFor(relay, flags.ttl, path)),
        ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
        ...caTls(flags),
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

  registerForwardCommand(program);
  registerExposeCommand(program);

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
