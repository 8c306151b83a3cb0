/**
 * `hyco-websocket`: tokens, addresses, a relayed echo listener and an
 * interactive sender, from a terminal.
 *
 * Settings: flags > configuration file (forward -f) > environment
 * (HYCO_CONNECTION_STRING) > defaults; `--verbose` says which. Usage
 * errors are one or two lines and a pointer to --help, exit 2; the other
 * exit codes are the failure table's (cli/failures.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type { Message } from 'websocket';
import { getRuntimeInformation } from './runtime-information';
import { RelayError } from './errors';
import { appendRelayToken, createRelayListenUri, createRelaySendUri } from './protocol/uri';
import { parseRelayToken } from './protocol/token';
import { HybridConnectionsWebSocketServer } from './server';
import { registerForwardCommand } from './cli/forward';
import { registerExposeCommand } from './cli/expose';
import { EXIT_FAILURE, EXIT_USAGE, explainFailure } from './cli/failures';
import { needPath, proxyOptions, relayOptions, resolveRelay, tokenFor, tokenNow } from './cli/relay-flags';
import type { RelayFlags } from './cli/relay-flags';
import { registerSendCommand } from './cli/send';
import { complain, out, outJson, outParts } from './cli/terminal';
import { caOption, caTls } from './cli/tls';
import { watchListener } from './cli/watch';

/** This package's version, from its package.json. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

const jsonOption = (command: Command, what: string): Command => command.option('--json', `one JSON object per line on stdout: ${what}`);

/** Set once commander has printed a usage error (one thrown later, by an action, is printed by run). */
let usageSaid = false;

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('hyco-websocket')
    .description('Azure Relay Hybrid Connections from a terminal: tokens, addresses, a listener and a sender.')
    .version(packageVersion(), '-V, --version', 'print the version')
    // A bad flag or argument: commander's line ("did you mean"), a pointer to --help, exit 2 (run below).
    .exitOverride()
    .showSuggestionAfterError()
    .showHelpAfterError('(see --help)')
    .allowUnknownOption(false)
    .allowExcessArguments(false)
    .configureOutput({
      outputError: (text, write) => {
        usageSaid = true;
        write(`hyco-websocket: ${text.replace(/^error: /, '')}`);
      },
    });

  jsonOption(relayOptions(program.command('token').description('print a SAS token (for --path, or the whole namespace without one)')), 'token').action(
    async (flags: RelayFlags & { json?: boolean }, command: Command) => {
      const relay = resolveRelay(flags, command);
      const token = await tokenNow(relay, flags.ttl);
      if (!flags.json) return out(token);
      let expiresAt: string | null = null;
      try {
        expiresAt = new Date(parseRelayToken(token).expiry * 1000).toISOString();
      } catch {
        // An Entra ID token: its expiry is the credential's business.
      }
      outJson({ type: 'token', token, path: relay.path ?? null, expiresAt });
    },
  );

  jsonOption(relayOptions(program.command('uri').description('print a listen or send address')), 'uri')
    .addOption(new Option('-a, --action <action>', 'listen or send').choices(['listen', 'send']).default('send'))
    .option('--with-token', 'embed a token as sb-hc-token (for clients that cannot set headers)')
    .option('--id <id>', 'tracking id (sb-hc-id)')
    .action((flags: RelayFlags & { action: 'listen' | 'send'; withToken?: boolean; id?: string; json?: boolean }, command: Command) => {
      const relay = resolveRelay(flags, command);
      const path = needPath(relay);
      const make = flags.action === 'listen' ? createRelayListenUri : createRelaySendUri;
      let uri = make(relay.address, path, null, flags.id);
      if (flags.withToken) uri = relay.signature ? `${uri}&sb-hc-token=${encodeURIComponent(relay.signature)}` : appendRelayToken(uri, relay.keyName ?? '', relay.key ?? '', flags.ttl);
      if (flags.json) outJson({ type: 'uri', action: flags.action, path, uri });
      else out(uri);
    });

  jsonOption(caOption(proxyOptions(relayOptions(program.command('listen').description('run a relayed echo listener (Ctrl-C stops it)')))), 'online, connection, message, closed, reconnecting, error').action(
    (flags: RelayFlags & { ca?: string; json?: boolean }, command: Command) => {
      const relay = resolveRelay(flags, command);
      const path = needPath(relay);
      if (!relay.credential) tokenFor(relay, flags.ttl); // Fails now, clearly, rather than on every reconnect.
      const json = flags.json === true;
      const server = new HybridConnectionsWebSocketServer({
        server: createRelayListenUri(relay.address, path),
        token: relay.credential ?? (() => tokenFor(relay, flags.ttl)),
        ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
        ...caTls(flags),
      });
      const watch = watchListener(server, { address: relay.address, path, side: 'listener', verbose: flags.verbose === true }, json);
      server.on('online', () => {
        watch.online();
        if (json) outJson({ type: 'online', path, address: relay.address, listenerId: server.listenerId });
        else outParts(['listening', 'green'], ` on "${path}" through ${relay.address} (listener id ${server.listenerId})`);
      });
      server.on('request', (request) => {
        request.accept(request.requestedProtocols[0] ?? null, request.origin).then(
          (connection) => {
            if (json) outJson({ type: 'connection', id: request.id, remoteAddress: request.remoteAddress, resource: request.resource });
            else out(`connection ${request.id} from ${request.remoteAddress}${request.resource === '/' ? '' : ` (${request.resource})`}`);
            connection.on('message', (m: Message) => {
              if (m.type === 'utf8') {
                if (json) outJson({ type: 'message', id: request.id, text: m.utf8Data });
                else out(`${request.id} < ${m.utf8Data}`);
                connection.sendUTF(m.utf8Data);
              } else {
                if (json) outJson({ type: 'message', id: request.id, base64: m.binaryData.toString('base64') });
                else out(`${request.id} < ${m.binaryData.length} bytes`);
                connection.sendBytes(m.binaryData);
              }
            });
            connection.on('close', (code: number) => {
              if (json) outJson({ type: 'closed', id: request.id, code });
              else out(`connection ${request.id} closed (${code})`);
            });
          },
          (err: Error) => (json ? outJson({ type: 'error', id: request.id, message: err.message }) : complain(`accept failed: ${err.message}`)),
        );
      });
      const stop = () => void server.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
  );

  registerSendCommand(program);

  jsonOption(caOption(proxyOptions(relayOptions(program.command('status').description('is anyone listening? print the listener count and dates of --path')))), 'status').action(
    async (flags: RelayFlags & { json?: boolean; ca?: string }, command: Command) => {
      const relay = resolveRelay(flags, command);
      const path = needPath(relay);
      let info;
      try {
        info = await getRuntimeInformation(relay.address, path, {
          token: relay.credential ?? (() => tokenFor(relay, flags.ttl, path)),
          ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
          ...caTls(flags),
        });
      } catch (err) {
        if (!(err instanceof RelayError)) throw err;
        const failure = explainFailure(err, { address: relay.address, path, side: 'sender', verbose: flags.verbose === true });
        if (flags.json) outJson({ type: 'error', code: err.code, statusCode: err.statusCode ?? null, message: failure.line, exitCode: failure.exitCode });
        complain(failure.line);
        process.exitCode = failure.exitCode;
        return;
      }
      if (flags.json) {
        outJson({ type: 'status', path, ...info });
        return;
      }
      out(`hybrid connection:  ${path}`);
      outParts('listeners online:   ', [String(info.listenerCount), info.listenerCount > 0 ? 'green' : 'yellow']);
      if (info.createdAt) out(`created:            ${info.createdAt.toISOString()}`);
      if (info.updatedAt) out(`updated:            ${info.updatedAt.toISOString()}`);
      if (info.requiresClientAuthorization !== undefined) out(`senders need a token: ${info.requiresClientAuthorization ? 'yes' : 'no'}`);
      if (info.userMetadata) out(`user metadata:      ${info.userMetadata}`);
    },
  );

  registerForwardCommand(program);
  registerExposeCommand(program);
  for (const command of program.commands) command.showHelpAfterError(`(see hyco-websocket ${command.name()} --help)`);

  return program;
}

/** Runs the command line: usage errors exit 2, other failures the failure table's code (else 1). */
export function run(argv: string[]): void {
  // A closed stdout (e.g. piped into `head`) ends the command quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  let program: Command;
  try {
    program = buildProgram();
  } catch (err) {
    complain((err as Error).message);
    process.exit(EXIT_FAILURE);
  }
  program.parseAsync(argv).catch((err: Error) => {
    if (err instanceof CommanderError) {
      // commander has said what was wrong, unless an action threw it (help and --version exit 0).
      if (err.exitCode !== 0 && !usageSaid) complain(`${err.message.replace(/^error: /, '')} (see --help)`);
      process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
    }
    if ((err as { code?: string }).code === 'ERR_HYCO_INVALID_ARGUMENT') {
      complain(err.message);
      complain('(see --help)');
      process.exit(EXIT_USAGE);
    }
    if (err instanceof RelayError) {
      const failure = explainFailure(err, { address: '', side: 'sender', verbose: argv.includes('--verbose') || argv.includes('-v') });
      complain(failure.line);
      process.exit(failure.exitCode);
    }
    complain(err.message);
    process.exit(EXIT_FAILURE);
  });
}

if (require.main === module) run(process.argv);
