/**
 * azbridge's configuration file (YAML; `azbridge -f FILE`), read into the
 * same bindings the command line gives:
 *
 *   AzureRelayConnectionString: Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...
 *   LocalForward:
 *     - RelayName: db
 *       Bindings:
 *         - { BindAddress: 127.0.0.1, BindPort: 5432, PortName: pg }
 *         - { BindPort: -5353 }                 # negative: UDP, as in azbridge
 *         - { BindLocalSocket: /tmp/x.sock, PortName: x }
 *   RemoteForward:
 *     - RelayName: db
 *       Bindings:
 *         - { Host: localhost, HostPort: 5432, PortName: pg }
 *         - { LocalSocket: /var/run/x.sock, PortName: x }
 *
 * Also read: `AzureRelayEndpoint`, `AzureRelaySharedAccessKeyName`,
 * `AzureRelaySharedAccessKey`, `AzureRelaySharedAccessSignature` (the
 * `-e`, `-K`, `-k`, `-s` flags), and azbridge's single-binding shorthand
 * (the binding's keys on the forward itself, without `Bindings`).
 *
 * As azbridge, a key it does not know is an error, named by its path
 * (`LocalForward[0].Bindings[1].BindPrt`). So is a key azbridge knows and
 * this forwarder does not implement (`GatewayPorts`, `LogLevel`...):
 * silently ignoring a setting would forward differently from what the file
 * says. Error messages never quote a value that may be a secret (the
 * connection string, keys, signatures), and YAML syntax errors are reported
 * by line and column only, without the file's text around them.
 *
 * The YAML itself is read by the `yaml` package (YAML 1.2, duplicate keys
 * refused, aliases bounded), not by hand.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { RelayError } from '../errors';
import { parseHttpForwardSpec } from './bindings';
import type { HttpForward, LocalForwardBinding, ParsedForward, RemoteForwardBinding } from './bindings';

/** What a configuration file says. */
export interface ForwardConfig {
  connectionString?: string;
  endpoint?: string;
  keyName?: string;
  key?: string;
  signature?: string;
  localForwards: ParsedForward<LocalForwardBinding>[];
  remoteForwards: ParsedForward<RemoteForwardBinding>[];
  httpForwards: HttpForward[];
}

/** The largest configuration file read, bytes. */
const MAX_CONFIG_BYTES = 1024 * 1024;

const TOP_KEYS = ['AzureRelayConnectionString', 'AzureRelayEndpoint', 'AzureRelaySharedAccessKeyName', 'AzureRelaySharedAccessKey', 'AzureRelaySharedAccessSignature', 'LocalForward', 'RemoteForward'];
/** Settings azbridge has and this forwarder does not implement. */
const UNSUPPORTED = new Set(['AddressFamily', 'BindAddress', 'ClearAllForwardings', 'ConnectionAttempts', 'ConnectTimeout', 'ExitOnForwardFailure', 'GatewayPorts', 'LogLevel', 'LogFileName', 'ConnectionString', 'HostName', 'Insecure', 'Path']);
const LOCAL_BINDING_KEYS = ['BindAddress', 'BindPort', 'PortName', 'BindLocalSocket'];
const REMOTE_BINDING_KEYS = ['Host', 'HostPort', 'PortName', 'LocalSocket', 'Http'];

function invalid(source: string, message: string): RelayError {
  return new RelayError('ERR_HYCO_INVALID_CONFIG', `${source}: ${message}`);
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Rejects every key of `map` not in `allowed`, naming its path. */
function checkKeys(map: Record<string, unknown>, allowed: readonly string[], path: string, source: string): void {
  for (const key of Object.keys(map)) {
    if (allowed.includes(key)) continue;
    const at = path ? `${path}.${key}` : key;
    if (UNSUPPORTED.has(key)) throw invalid(source, `"${at}" is an azbridge setting that hyco-websocket forward does not support`);
    throw invalid(source, `unknown key "${at}"${suggestion(key, allowed)}`);
  }
}

function suggestion(key: string, allowed: readonly string[]): string {
  const near = allowed.find((k) => k.toLowerCase() === key.toLowerCase());
  return near ? ` (keys are case-sensitive: "${near}")` : ` (expected one of ${allowed.join(', ')})`;
}

/** A string setting; numbers and booleans are taken as their text, as azbridge's YAML reader does. */
function text(map: Record<string, unknown>, key: string, path: string, source: string): string | undefined {
  const value = map[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw invalid(source, `"${path ? `${path}.` : ''}${key}" must be a string`);
}

/** A port setting: a whole number (negative: UDP, as azbridge writes it). */
function port(map: Record<string, unknown>, key: string, path: string, source: string): { port: number; protocol: 'tcp' | 'udp' } | undefined {
  const value = map[key];
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'string' && /^-?[0-9]+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < -65535 || n > 65535) {
    throw invalid(source, `"${path}.${key}" must be a port number (-65535 to 65535; negative for UDP)`);
  }
  return { port: Math.abs(n), protocol: n < 0 ? 'udp' : 'tcp' };
}

function list(value: unknown, path: string, source: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(source, `"${path}" must be a list`);
  return value;
}

function localBinding(map: Record<string, unknown>, path: string, source: string): LocalForwardBinding {
  const binding: LocalForwardBinding = {};
  const address = text(map, 'BindAddress', path, source);
  const bindPort = port(map, 'BindPort', path, source);
  const name = text(map, 'PortName', path, source);
  const socket = text(map, 'BindLocalSocket', path, source);
  if (address !== undefined) binding.bindAddress = address;
  if (bindPort) {
    binding.bindPort = bindPort.port;
    if (bindPort.protocol === 'udp') binding.protocol = 'udp';
  }
  if (name !== undefined) binding.portName = name;
  if (socket !== undefined) binding.bindLocalSocket = socket;
  return binding;
}

function remoteBinding(map: Record<string, unknown>, path: string, source: string): RemoteForwardBinding {
  const binding: RemoteForwardBinding = {};
  const host = text(map, 'Host', path, source);
  const hostPort = port(map, 'HostPort', path, source);
  const name = text(map, 'PortName', path, source);
  const socket = text(map, 'LocalSocket', path, source);
  if (host !== undefined) binding.host = host;
  if (hostPort) {
    binding.hostPort = hostPort.port;
    if (hostPort.protocol === 'udp') binding.protocol = 'udp';
  }
  if (name !== undefined) binding.portName = name;
  if (socket !== undefined) binding.localSocket = socket;
  return binding;
}

/** Whether a forward entry carries a binding's keys itself (azbridge's shorthand). */
function hasShorthand(map: Record<string, unknown>, keys: readonly string[]): boolean {
  return keys.some((k) => map[k] !== undefined);
}

/** Reads a configuration from YAML text; `source` names it in errors. */
export function parseForwardConfig(yamlText: string, source = 'the configuration'): ForwardConfig {
  const doc = parseDocument(yamlText, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const error = doc.errors[0];
    // Where, by line and column only: the text around it may hold a key.
    const before = yamlText.slice(0, error.pos[0]);
    const line = before.split('\n').length;
    const col = error.pos[0] - before.lastIndexOf('\n');
    throw invalid(source, `not valid YAML (line ${line}, column ${col}): ${error.code}`);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw invalid(source, `not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (data === null || data === undefined) data = {};
  if (!isMap(data)) throw invalid(source, 'the file must hold a mapping of settings (AzureRelayConnectionString, LocalForward, RemoteForward)');
  checkKeys(data, TOP_KEYS, '', source);
  const config: ForwardConfig = { localForwards: [], remoteForwards: [], httpForwards: [] };
  for (const key of TOP_KEYS.filter((k) => k.startsWith('AzureRelay'))) {
    const value = data[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') throw invalid(source, `"${key}" must be a string`);
    const trimmed = value.trim().replace(/^['"]|['"]$/g, '');
    if (key === 'AzureRelayConnectionString') config.connectionString = trimmed;
    else if (key === 'AzureRelayEndpoint') config.endpoint = trimmed;
    else if (key === 'AzureRelaySharedAccessKeyName') config.keyName = trimmed;
    else if (key === 'AzureRelaySharedAccessKey') config.key = trimmed;
    else config.signature = trimmed;
  }
  list(data.LocalForward, 'LocalForward', source).forEach((entry, i) => {
    const path = `LocalForward[${i}]`;
    if (!isMap(entry)) throw invalid(source, `"${path}" must be a mapping (RelayName, Bindings)`);
    checkKeys(entry, ['RelayName', 'Bindings', ...LOCAL_BINDING_KEYS], path, source);
    const relayName = text(entry, 'RelayName', path, source);
    if (!relayName) throw invalid(source, `"${path}.RelayName" is missing`);
    const bindings = list(entry.Bindings, `${path}.Bindings`, source).map((b, j) => {
      const at = `${path}.Bindings[${j}]`;
      if (!isMap(b)) throw invalid(source, `"${at}" must be a mapping`);
      checkKeys(b, LOCAL_BINDING_KEYS, at, source);
      return localBinding(b, at, source);
    });
    if (hasShorthand(entry, LOCAL_BINDING_KEYS)) bindings.unshift(localBinding(entry, path, source));
    if (bindings.length === 0) throw invalid(source, `"${path}" has no bindings`);
    config.localForwards.push({ relayName, bindings });
  });
  list(data.RemoteForward, 'RemoteForward', source).forEach((entry, i) => {
    const path = `RemoteForward[${i}]`;
    if (!isMap(entry)) throw invalid(source, `"${path}" must be a mapping (RelayName, Bindings)`);
    checkKeys(entry, ['RelayName', 'Bindings', ...REMOTE_BINDING_KEYS], path, source);
    const relayName = text(entry, 'RelayName', path, source);
    if (!relayName) throw invalid(source, `"${path}.RelayName" is missing`);
    const entries = list(entry.Bindings, `${path}.Bindings`, source).map((b, j) => {
      const at = `${path}.Bindings[${j}]`;
      if (!isMap(b)) throw invalid(source, `"${at}" must be a mapping`);
      checkKeys(b, REMOTE_BINDING_KEYS, at, source);
      return { map: b, at };
    });
    if (hasShorthand(entry, REMOTE_BINDING_KEYS)) entries.unshift({ map: entry, at: path });
    if (entries.length === 0) throw invalid(source, `"${path}" has no bindings`);
    const bindings: RemoteForwardBinding[] = [];
    for (const { map, at } of entries) {
      if (map.Http === true || map.Http === 'true') {
        // An HTTP binding: the relay's HTTP requests go to http(s)://Host:HostPort.
        const scheme = text(map, 'PortName', at, source) === 'https' ? 'https' : 'http';
        const host = text(map, 'Host', at, source) ?? 'localhost';
        const p = port(map, 'HostPort', at, source)?.port ?? (scheme === 'http' ? 80 : 443);
        try {
          config.httpForwards.push(parseHttpForwardSpec(`${relayName}:${scheme}/${host}:${p}`));
        } catch (err) {
          throw invalid(source, `"${at}": ${(err as Error).message}`);
        }
      } else if (map.Http !== undefined && map.Http !== null && map.Http !== false && map.Http !== 'false') {
        throw invalid(source, `"${at}.Http" must be true or false`);
      } else bindings.push(remoteBinding(map, at, source));
    }
    if (bindings.length > 0) config.remoteForwards.push({ relayName, bindings });
  });
  return config;
}

/** Reads a configuration file. */
export function loadForwardConfig(file: string): ForwardConfig {
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (err) {
    throw new RelayError('ERR_HYCO_INVALID_CONFIG', `Cannot read the configuration file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  if (content.length > MAX_CONFIG_BYTES) throw invalid(file, `the file is larger than ${MAX_CONFIG_BYTES} bytes`);
  return parseForwardConfig(content.toString('utf8'), file);
}
