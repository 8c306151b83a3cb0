/**
 * `hyco-websocket forward`: azbridge's port forwarding from a terminal,
 * with its flags (`-L`, `-T`, `-H`, `-x`, `-K`, `-k`, `-s`, `-e`, `-f`).
 * Parsing and printing only: the work is the library's `createLocalForward`,
 * `createRemoteForward` and (for `-H`) `relayedProxy`.
 *
 * Settings combine as azbridge's do: the configuration file first, the
 * command line over it. Every printed line is escaped (`printable`): port
 * names, addresses and error texts may come from the network. No line ever
 * holds a key, a token or a connection string.
 */
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import type { NamedKeyCredential } from '../credentials';
import { RelayArgumentError } from '../errors';
import type { RelayError } from '../errors';
import { relayedProxy } from '../expose';
import type { RelayedProxy } from '../expose';
import { createLocalForward, createRemoteForward, loadForwardConfig, parseHttpForwardSpec, parseLocalForwardSpec, parseRemoteForwardSpec } from '../forward';
import type { ForwardConfig, ForwardedConnection, HttpForward, LocalForward, ParsedForward, RemoteForward } from '../forward';
import { defaultAzureCredential, tokenSourceFor } from '../identity';
import { parseConnectionString } from '../protocol/connection-string';
import { printable } from '../protocol/printable';
import { createRelayListenUri, parseRelayNamespace } from '../protocol/uri';
import type { TokenSource } from '../token-provider';

interface ForwardFlags {
  localForward: string[];
  remoteForward: string[];
  remoteHttpForward: string[];
  connectionString?: string;
  endpoint?: string;
  keyName?: string;
  key?: string;
  signature?: string;
  configFile?: string;
  entra?: boolean;
  proxy?: string | false;
  udpIdleTimeout?: number;
}

/** The relay every forward of one run uses: where, and its tokens. */
interface Relay {
  namespace: string;
  token: TokenSource | undefined;
}

const out = (line: string): void => {
  process.stdout.write(`${printable(line, Infinity)}\n`);
};

const complain = (line: string): void => {
  process.stderr.write(`hyco-websocket: ${printable(line, Infinity)}\n`);
};

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function milliseconds(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError('must be a positive whole number of milliseconds');
  return Number(value);
}

/** The relay's address and tokens from the flags over the configuration file. */
function resolveRelay(flags: ForwardFlags, config: ForwardConfig | undefined): Relay {
  const connectionString = flags.connectionString ?? config?.connectionString;
  const endpoint = flags.endpoint ?? config?.endpoint;
  let keyName = flags.keyName ?? config?.keyName;
  let key = flags.key ?? config?.key;
  let signature = flags.signature ?? config?.signature;
  let namespace: string | undefined;
  let token: TokenSource | undefined;
  if (connectionString) {
    const cs = parseConnectionString(connectionString);
    namespace = cs.address;
    // The relay names come from -L/-T; an EntityPath in the string is not used.
    if (!flags.keyName && !flags.key && !flags.signature && !flags.entra) token = tokenSourceFor(cs);
    keyName ??= cs.sharedAccessKeyName;
    key ??= cs.sharedAccessKey;
    signature ??= cs.sharedAccessSignature;
  }
  if (endpoint) {
    const parsed = parseRelayNamespace(endpoint);
    namespace = `${parsed.scheme}://${parsed.host}:${parsed.port}`;
  }
  if (!namespace) throw new RelayArgumentError('give -x/--connection-string (or HYCO_CONNECTION_STRING), -e/--endpoint, or a configuration file (-f) that has one');
  if (flags.entra) token = defaultAzureCredential('--entra');
  else if (flags.keyName || flags.key || flags.signature || !token) {
    if (keyName && key) token = { name: keyName, key } satisfies NamedKeyCredential;
    else if (signature) token = signature;
    else if (keyName && !key) throw new RelayArgumentError('-K (key name) is given without -k (key): give the rule\'s key too');
    else if (key && !keyName) throw new RelayArgumentError('-k (key) is given without -K (key name): give the rule\'s name too');
  }
  return { namespace, token };
}

/** Merges forwards of one relay name (`-L a:r -L b:r` listens on both for `r`). */
function merge<B>(forwards: ParsedForward<B>[]): ParsedForward<B>[] {
  const byName = new Map<string, ParsedForward<B>>();
  for (const forward of forwards) {
    const known = byName.get(forward.relayName);
    if (known) known.bindings.push(...forward.bindings);
    else byName.set(forward.relayName, { relayName: forward.relayName, bindings: [...forward.bindings] });
  }
  return [...byName.values()];
}

function describeConnection(c: ForwardedConnection): string {
  return `${c.protocol} ${c.peer} -> "${c.target}" port name "${c.portName}"`;
}

function describeEnd(c: ForwardedConnection, error: RelayError | undefined): string {
  const traffic = c.protocol === 'udp' ? `${c.datagramsToRelay} datagrams sent, ${c.datagramsFromRelay} received` : `${c.bytesToRelay} bytes sent, ${c.bytesFromRelay} received`;
  const seconds = (c.durationMs / 1000).toFixed(1);
  return error ? `failed after ${seconds} s (${traffic}): ${error.message}` : `closed after ${seconds} s (${traffic})`;
}

/** Prints one line when a connection opens and one when it ends. */
function printConnections(forward: LocalForward | RemoteForward): void {
  forward.on('connection', (c) => out(`[${c.id}] ${describeConnection(c)}: open`));
  forward.on('connectionClosed', (c, error) => out(`[${c.id}] ${describeConnection(c)}: ${describeEnd(c, error)}`));
}

/** Stops the whole run (and exits 1) on an error that retrying will not cure. */
function fatal(error: RelayError): boolean {
  return error.code === 'ERR_HYCO_FORWARD_BIND' || error.statusCode === 401 || error.statusCode === 403 || error.statusCode === 404;
}

function run(flags: ForwardFlags): void {
  const config = flags.configFile ? loadForwardConfig(flags.configFile) : undefined;
  const locals = merge([...(config?.localForwards ?? []), ...flags.localForward.map(parseLocalForwardSpec)]);
  const remotes = merge([...(config?.remoteForwards ?? []), ...flags.remoteForward.map(parseRemoteForwardSpec)]);
  const https: HttpForward[] = [...(config?.httpForwards ?? []), ...flags.remoteHttpForward.map(parseHttpForwardSpec)];
  if (locals.length + remotes.length + https.length === 0) throw new RelayArgumentError('nothing to forward: give -L, -T or -H (or a configuration file with LocalForward or RemoteForward)');
  for (const http of https) {
    if (remotes.some((r) => r.relayName === http.relayName)) {
      throw new RelayArgumentError(`relay "${http.relayName}" has both -T and -H: one listener serving both is not supported yet; use two relay names`);
    }
  }
  const relay = resolveRelay(flags, config);
  if (remotes.length + https.length > 0 && relay.token === undefined) {
    throw new RelayArgumentError('-T and -H listen on the relay, which needs a key (-K and -k), a token (-s), a connection string with one, or --entra');
  }
  const common = {
    namespace: relay.namespace,
    ...(relay.token === undefined ? {} : { token: relay.token }),
    ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
    ...(flags.udpIdleTimeout === undefined ? {} : { udpIdleTimeout: flags.udpIdleTimeout }),
  };
  const running: { close(): Promise<void> }[] = [];
  let stopping = false;
  const stop = (exitCode?: number) => {
    if (exitCode !== undefined) process.exitCode = exitCode;
    if (stopping) return;
    stopping = true;
    void Promise.all(running.map((r) => r.close())).then(() => process.exit());
  };
  const onError = (what: string) => (error: RelayError) => {
    complain(`${what}: ${error.message}`);
    if (fatal(error)) stop(1);
  };
  for (const { relayName, bindings } of locals) {
    const forward = createLocalForward({ ...common, path: relayName, bindings });
    running.push(forward);
    printConnections(forward);
    forward.on('error', onError(`-L ... :${relayName}`));
    forward.once('listening', () => {
      for (const address of forward.addresses) {
        if (!address) continue;
        const where = address.protocol === 'unix' ? `unix ${address.path}` : `${address.protocol} ${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
        out(`forwarding ${where} to relay "${relayName}" port name "${address.portName}"`);
      }
    });
  }
  for (const { relayName, bindings } of remotes) {
    const forward = createRemoteForward({ ...common, path: relayName, bindings });
    running.push(forward);
    printConnections(forward);
    let lastError: string | undefined;
    forward.on('error', (error) => {
      if (error.message === lastError) return;
      lastError = error.message;
      onError(`-T ${relayName}`)(error);
    });
    forward.on('online', () => {
      lastError = undefined;
      out(`relay "${relayName}" online (listener id ${forward.listenerId})`);
      for (const b of forward.bindings) {
        out(`  port name "${b.portName}" -> ${b.protocol === 'unix' ? `unix ${b.path}` : `${b.protocol} ${b.host}:${b.port}`}`);
      }
    });
  }
  for (const http of https) {
    const proxy: RelayedProxy = relayedProxy({
      server: createRelayListenUri(relay.namespace, http.relayName),
      ...(relay.token === undefined ? {} : { token: relay.token }),
      origin: http.origin,
      ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
    });
    running.push(proxy);
    proxy.on('error', onError(`-H ${http.relayName}`));
    proxy.on('online', () => out(`relay "${http.relayName}" online: HTTP to ${http.origin}`));
  }
  process.once('SIGINT', () => stop());
  process.once('SIGTERM', () => stop());
}

/** Adds `forward` to the program. */
export function registerForwardCommand(program: Command): void {
  program
    .command('forward')
    .description('forward TCP, UDP and Unix sockets through the relay, as azbridge does (and with azbridge on the other end)')
    .option('-L, --local-forward <spec>', 'listen locally, forward through the relay: [bind_address:]port[/port_name]{;...}:relay_name ("U" after a port: UDP; a path: Unix socket)', collect, [])
    .option('-T, --remote-forward <spec>', 'forward the relay\'s connections to a target: relay_name:[port_name/][host:]hostport{;...}', collect, [])
    .option('-H, --remote-http-forward <spec>', 'forward the relay\'s HTTP requests to an origin: relay_name:{http|https}/[host[/path]:]hostport', collect, [])
    .addOption(new Option('-x, --connection-string <text>', 'an Azure Relay connection string').env('HYCO_CONNECTION_STRING'))
    .option('-e, --endpoint <uri>', 'the namespace endpoint (sb://contoso.servicebus.windows.net/, or ws://127.0.0.1:9030)')
    .option('-K, --key-name <name>', 'shared access rule name')
    .option('-k, --key <key>', 'shared access key')
    .option('-s, --signature <token>', 'a ready shared access signature (token)')
    .option('-f, --config-file <file>', 'azbridge\'s YAML configuration file')
    .option('--entra', 'use Microsoft Entra ID (DefaultAzureCredential, from @azure/identity) instead of a key')
    .option('--proxy <url>', 'HTTP proxy (http://[user:password@]host:port); default: HTTPS_PROXY / HTTP_PROXY unless NO_PROXY lists the relay')
    .option('--no-proxy', 'connect directly, whatever the environment says')
    .addOption(new Option('--udp-idle-timeout <ms>', 'end a UDP route after this long without datagrams').argParser(milliseconds).hideHelp())
    .action((flags: ForwardFlags) => run(flags));
}
