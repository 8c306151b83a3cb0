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
import type { RelayConnectionString } from '../protocol/connection-string';
import type { NamedKeyCredential } from '../credentials';
import { RelayArgumentError } from '../errors';
import type { RelayError } from '../errors';
import { relayedProxy } from '../expose';
import type { RelayedProxy } from '../expose';
import { createLocalForward, createRemoteForward, loadForwardConfig, parseHttpForwardSpec, parseLocalForwardSpec, parseRemoteForwardSpec } from '../forward';
import type { ForwardConfig, ForwardedConnection, HttpForward, LocalForward, ParsedForward, RemoteForward } from '../forward';
import { defaultAzureCredential, tokenSourceFor } from '../identity';
import { parseConnectionString } from '../protocol/connection-string';
import { explainFailure } from './failures';
import { tellSources } from './relay-flags';
import type { SettingSource } from './relay-flags';
import { complain, out, outJson } from './terminal';
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
  json?: boolean;
  verbose?: boolean;
}

/** The relay every forward of one run uses: where, and its tokens. */
interface Relay {
  namespace: string;
  token: TokenSource | undefined;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function milliseconds(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError('must be a positive whole number of milliseconds');
  return Number(value);
}

/** One layer of settings (the flags, the configuration file, the environment), its connection string parsed. */
interface Layer {
  from: string;
  cs?: RelayConnectionString;
  csFrom?: string;
  endpoint?: string;
  keyName?: string;
  key?: string;
  signature?: string;
}

/**
 * The relay's address and tokens: flags > configuration file (-f) >
 * environment (HYCO_CONNECTION_STRING). Each setting comes from the first
 * layer that has it; within a layer a setting of its own (-e, -K, -k, -s)
 * wins over the same part of its connection string.
 */
function resolveRelay(flags: ForwardFlags, config: ForwardConfig | undefined, verbose: boolean): Relay {
  const env = process.env.HYCO_CONNECTION_STRING || undefined;
  const layers: Layer[] = [
    { from: 'flag', ...pick(flags), ...(flags.connectionString ? { cs: parseConnectionString(flags.connectionString), csFrom: '-x/--connection-string' } : {}) },
    ...(config ? [{ from: `-f ${flags.configFile ?? ''}`, ...pick(config), ...(config.connectionString ? { cs: parseConnectionString(config.connectionString), csFrom: `-f ${flags.configFile ?? ''} (ConnectionString)` } : {}) }] : []),
    ...(env ? [{ from: '$HYCO_CONNECTION_STRING', cs: parseConnectionString(env), csFrom: '$HYCO_CONNECTION_STRING' }] : []),
  ];
  const sources: SettingSource[] = [];
  const first = <T>(name: string, own: (l: Layer) => T | undefined, part: (cs: RelayConnectionString) => T | undefined, ownFlag: string, show: (v: T) => string): { value: T; layer: Layer } | undefined => {
    for (const layer of layers) {
      const mine = own(layer);
      if (mine !== undefined) {
        sources.push({ name, shown: show(mine), from: layer.from === 'flag' ? ownFlag : layer.from });
        return { value: mine, layer };
      }
      const fromCs = layer.cs ? part(layer.cs) : undefined;
      if (fromCs !== undefined) {
        sources.push({ name, shown: show(fromCs), from: layer.csFrom ?? layer.from });
        return { value: fromCs, layer };
      }
    }
    return undefined;
  };
  const namespace = first(
    'namespace',
    (l) => (l.endpoint ? addressOf(l.endpoint) : undefined),
    (cs) => cs.address,
    '-e/--endpoint',
    (v) => v,
  );
  if (!namespace) throw new RelayArgumentError('give -x/--connection-string (or HYCO_CONNECTION_STRING), -e/--endpoint, or a configuration file (-f) that has one');
  const secret = () => '(set)';
  const keyName = first('key name', (l) => l.keyName, (cs) => cs.sharedAccessKeyName, '-K/--key-name', (v) => v);
  const key = first('key', (l) => l.key, (cs) => cs.sharedAccessKey, '-k/--key', secret);
  const signature = key ? undefined : first('signature', (l) => l.signature, (cs) => cs.sharedAccessSignature, '-s/--signature', secret);
  let token: TokenSource | undefined;
  if (flags.entra) {
    token = defaultAzureCredential('--entra');
    sources.push({ name: 'credential', shown: 'Entra ID (DefaultAzureCredential)', from: '--entra' });
  } else if (keyName && key) token = { name: keyName.value, key: key.value } satisfies NamedKeyCredential;
  else if (signature) token = signature.value;
  else if (keyName && !key) throw new RelayArgumentError('-K (key name) is given without -k (key): give the rule\'s key too');
  else if (key && !keyName) throw new RelayArgumentError('-k (key) is given without -K (key name): give the rule\'s name too');
  else if (namespace.layer.cs) token = tokenSourceFor(namespace.layer.cs);
  if (flags.proxy !== undefined) sources.push({ name: 'proxy', shown: flags.proxy === false ? 'none' : '(set)', from: flags.proxy === false ? '--no-proxy' : '--proxy' });
  if (verbose) tellSources(sources);
  return { namespace: namespace.value, token };
}

function pick(from: { endpoint?: string; keyName?: string; key?: string; signature?: string }): Omit<Layer, 'from'> {
  const layer: Omit<Layer, 'from'> = {};
  if (from.endpoint) layer.endpoint = from.endpoint;
  if (from.keyName) layer.keyName = from.keyName;
  if (from.key) layer.key = from.key;
  if (from.signature) layer.signature = from.signature;
  return layer;
}

function addressOf(endpoint: string): string {
  const parsed = parseRelayNamespace(endpoint);
  return `${parsed.scheme}://${parsed.host}:${parsed.port}`;
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

/** Prints one line (or JSON object) when a connection opens and one when it ends. */
function printConnections(forward: LocalForward | RemoteForward, json: boolean): void {
  const fields = (c: ForwardedConnection) => ({ id: c.id, protocol: c.protocol, peer: c.peer, target: c.target, portName: c.portName });
  forward.on('connection', (c) => (json ? outJson({ type: 'connection', ...fields(c) }) : out(`[${c.id}] ${describeConnection(c)}: open`)));
  forward.on('connectionClosed', (c, error) => {
    if (!json) return out(`[${c.id}] ${describeConnection(c)}: ${describeEnd(c, error)}`);
    outJson({
      type: 'connectionClosed',
      ...fields(c),
      durationMs: Math.round(c.durationMs),
      ...(c.protocol === 'udp' ? { datagramsToRelay: c.datagramsToRelay, datagramsFromRelay: c.datagramsFromRelay } : { bytesToRelay: c.bytesToRelay, bytesFromRelay: c.bytesFromRelay }),
      error: error ? error.message : null,
    });
  });
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
  const json = flags.json === true;
  const relay = resolveRelay(flags, config, flags.verbose === true);
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
  const onError = (what: string, relayName: string) => (error: RelayError) => {
    const failure = explainFailure(error, { address: relay.namespace, path: relayName, side: what.startsWith('-L') ? 'sender' : 'listener', verbose: flags.verbose === true });
    if (json) outJson({ type: 'error', forward: what, code: error.code ?? null, statusCode: error.statusCode ?? null, message: failure.line, exitCode: failure.exitCode, fatal: failure.stop });
    complain(`${what}: ${failure.line}`);
    // A local port that cannot be bound, or a refusal retrying will not cure, stops the whole run.
    if (failure.stop || error.code === 'ERR_HYCO_FORWARD_BIND') stop(failure.exitCode);
  };
  for (const { relayName, bindings } of locals) {
    const forward = createLocalForward({ ...common, path: relayName, bindings });
    running.push(forward);
    printConnections(forward, json);
    forward.on('error', onError(`-L ... :${relayName}`, relayName));
    forward.once('listening', () => {
      for (const address of forward.addresses) {
        if (!address) continue;
        if (json) {
          outJson({ type: 'forwarding', relayName, portName: address.portName, protocol: address.protocol, ...(address.protocol === 'unix' ? { path: address.path } : { address: address.address, port: address.port }) });
          continue;
        }
        const where = address.protocol === 'unix' ? `unix ${address.path}` : `${address.protocol} ${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
        out(`forwarding ${where} to relay "${relayName}" port name "${address.portName}"`);
      }
    });
  }
  for (const { relayName, bindings } of remotes) {
    const forward = createRemoteForward({ ...common, path: relayName, bindings });
    running.push(forward);
    printConnections(forward, json);
    let lastError: string | undefined;
    forward.on('error', (error) => {
      if (error.message === lastError) return;
      lastError = error.message;
      onError(`-T ${relayName}`, relayName)(error);
    });
    forward.on('online', () => {
      lastError = undefined;
      if (json) {
        outJson({ type: 'online', relayName, listenerId: forward.listenerId, bindings: forward.bindings.map((b) => ({ portName: b.portName, protocol: b.protocol, ...(b.protocol === 'unix' ? { path: b.path } : { host: b.host, port: b.port }) })) });
        return;
      }
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
    proxy.on('error', onError(`-H ${http.relayName}`, http.relayName));
    proxy.on('online', () => (json ? outJson({ type: 'online', relayName: http.relayName, listenerId: proxy.listenerId, origin: http.origin }) : out(`relay "${http.relayName}" online: HTTP to ${http.origin}`)));
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
    .option('-x, --connection-string <text>', 'an Azure Relay connection string (default: the configuration file\'s, else $HYCO_CONNECTION_STRING); -e, -K, -k, -s override its parts')
    .option('-e, --endpoint <uri>', 'the namespace endpoint (sb://contoso.servicebus.windows.net/, or ws://127.0.0.1:9030)')
    .option('-K, --key-name <name>', 'shared access rule name')
    .option('-k, --key <key>', 'shared access key')
    .option('-s, --signature <token>', 'a ready shared access signature (token)')
    .option('-f, --config-file <file>', 'azbridge\'s YAML configuration file')
    .option('--entra', 'use Microsoft Entra ID (DefaultAzureCredential, from @azure/identity) instead of a key')
    .option('--proxy <url>', 'HTTP proxy (http://[user:password@]host:port); default: HTTPS_PROXY / HTTP_PROXY unless NO_PROXY lists the relay')
    .option('--no-proxy', 'connect directly, whatever the environment says')
    .option('--json', 'one JSON object per line on stdout: forwarding, online, connection, connectionClosed, error')
    .option('-v, --verbose', 'say where each setting came from (flag, configuration file, environment; never a secret), and add tracking ids to errors')
    .addOption(new Option('--udp-idle-timeout <ms>', 'end a UDP route after this long without datagrams').argParser(milliseconds).hideHelp())
    .action((flags: ForwardFlags) => run(flags));
}
