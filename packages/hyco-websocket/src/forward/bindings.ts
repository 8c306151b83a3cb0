/**
 * Bindings: what a forwarder listens on (local side) or connects to (remote
 * side), each with the port name that travels in the preamble; their
 * checks and default names; azbridge's command-line syntax for them (`-L`,
 * `-T`, `-H`); and the listener's choice of binding for a port name.
 *
 * The syntax, as azbridge's (and ssh's where it can be):
 *
 *   -L [bind_address:]port[/port_name]{;...}:relay_name
 *   -T relay_name:[port_name/][host:]hostport{;...}
 *   -H relay_name:{http|https}/[host[/path]:]hostport
 *
 * A `U` after a port number means UDP (`53U`). A port that is not a number
 * is a Unix socket, named as azbridge names them (`-L sock/name:relay`,
 * `-T relay:name/sock`). An absolute socket path holds slashes of its own:
 * it is written whole (its port name is then the path), or with the port
 * name after (`-L`) or before (`-T`) a double slash: `-L /tmp/pg.sock//pg:db`,
 * `-T db:pg//var/run/postgresql/.s.PGSQL.5432` (an extension of ours;
 * azbridge cannot write absolute paths on its command line). An IPv6
 * address is written in brackets (`[::1]:2222`), as in URLs. Without an
 * address, a local listener binds to `127.0.0.1` (loopback only, as
 * azbridge and ssh do by default) and a target is `localhost`.
 */
import { RelayArgumentError } from '../errors';
import { MAX_PORT_NAME_BYTES, MODE_DATAGRAM, MODE_STREAM, REPLY_BINDING_IS_DATAGRAM, REPLY_BINDING_IS_STREAM } from './preamble';
import type { ModeByte } from './preamble';

/** A local listener whose connections go through the relay (azbridge's `LocalForward` binding; `-L`). */
export interface LocalForwardBinding {
  /** The address to listen on. Default `127.0.0.1`. */
  bindAddress?: string;
  /** The port to listen on, 0 to 65535 (0: any free port; `addresses` tells which). Not with `bindLocalSocket`. */
  bindPort?: number;
  /** `tcp` (default) or `udp`. */
  protocol?: 'tcp' | 'udp';
  /** A Unix socket path to listen on, instead of a port. */
  bindLocalSocket?: string;
  /** The port name sent to the remote forwarder. Default: the port as text (`"8888"`; `"8888U"` for UDP), or the socket path. */
  portName?: string;
}

/** A target the relay's connections are forwarded to (azbridge's `RemoteForward` binding; `-T`). */
export interface RemoteForwardBinding {
  /** The host to connect to. Default `localhost`. */
  host?: string;
  /** The port to connect to, 1 to 65535. Not with `localSocket`. */
  hostPort?: number;
  /** `tcp` (default) or `udp`. */
  protocol?: 'tcp' | 'udp';
  /** A Unix socket path to connect to, instead of a host and port. */
  localSocket?: string;
  /** The port name senders ask for. Default: the port as text (`"8888"`; `"8888U"` for UDP), or the socket path. */
  portName?: string;
}

/** Where a binding listens or connects: a host and port (TCP or UDP), or a Unix socket. */
export type Endpoint = { protocol: 'tcp' | 'udp'; host: string; port: number } | { protocol: 'unix'; path: string };

/** A binding, checked, with its port name. */
export type ResolvedBinding = Endpoint & { portName: string };

/** An HTTP forwarding (`-H`): the relay's HTTP requests to an origin. */
export interface HttpForward {
  relayName: string;
  /** The origin, e.g. `http://localhost:3000/base/`. */
  origin: string;
}

/** The bindings of one relay name, as `-L` or `-T` gives them. */
export interface ParsedForward<B> {
  relayName: string;
  bindings: B[];
}

const DEFAULT_BIND_ADDRESS = '127.0.0.1';
const DEFAULT_TARGET_HOST = 'localhost';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

/** Checks a port name: 1 to 255 bytes of UTF-8, no control characters. */
export function checkPortName(name: unknown, what: string): string {
  if (typeof name !== 'string' || name === '') throw new RelayArgumentError(`${what}: the port name must be a non-empty string`);
  if (Buffer.byteLength(name, 'utf8') > MAX_PORT_NAME_BYTES) throw new RelayArgumentError(`${what}: the port name must be at most ${MAX_PORT_NAME_BYTES} bytes of UTF-8`);
  if (CONTROL.test(name)) throw new RelayArgumentError(`${what}: the port name must not hold control characters`);
  return name;
}

/** Checks a relay (hybrid connection) name. */
export function checkRelayName(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.trim() === '') throw new RelayArgumentError(`${what}: the relay name must be a non-empty string`);
  if (/[\s:;]/.test(name) || CONTROL.test(name)) throw new RelayArgumentError(`${what}: the relay name "${name}" holds a space, ":", ";" or a control character`);
  return name;
}

function checkPort(value: unknown, what: string, allowZero: boolean): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1) || value > 65535) {
    throw new RelayArgumentError(`${what} must be a port number, ${allowZero ? 0 : 1} to 65535`);
  }
  return value;
}

function checkText(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '' || CONTROL.test(value)) throw new RelayArgumentError(`${what} must be a non-empty string without control characters`);
  return value;
}

function checkProtocol(value: unknown, what: string): 'tcp' | 'udp' {
  if (value === undefined || value === null) return 'tcp';
  if (value !== 'tcp' && value !== 'udp') throw new RelayArgumentError(`${what}: "protocol" must be "tcp" or "udp"`);
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The default port name: the port as text (`U` appended for UDP), or the socket path. */
export function defaultPortName(endpoint: Endpoint): string {
  return endpoint.protocol === 'unix' ? endpoint.path : `${endpoint.port}${endpoint.protocol === 'udp' ? 'U' : ''}`;
}

/** A local binding, checked, with its defaults. */
export function resolveLocalBinding(binding: unknown, what: string): ResolvedBinding {
  if (!isObject(binding)) throw new RelayArgumentError(`${what} must be an object`);
  const b = binding as LocalForwardBinding;
  let endpoint: Endpoint;
  if (b.bindLocalSocket !== undefined && b.bindLocalSocket !== null) {
    if (b.bindPort !== undefined || b.bindAddress !== undefined || b.protocol !== undefined) {
      throw new RelayArgumentError(`${what}: give either "bindLocalSocket" or "bindAddress"/"bindPort"/"protocol", not both`);
    }
    endpoint = { protocol: 'unix', path: checkText(b.bindLocalSocket, `${what}: "bindLocalSocket"`) };
  } else {
    endpoint = {
      protocol: checkProtocol(b.protocol, what),
      host: b.bindAddress === undefined || b.bindAddress === null ? DEFAULT_BIND_ADDRESS : checkText(b.bindAddress, `${what}: "bindAddress"`),
      port: checkPort(b.bindPort, `${what}: "bindPort"`, true),
    };
  }
  const portName = b.portName === undefined || b.portName === null ? defaultPortName(endpoint) : checkPortName(b.portName, what);
  return { ...endpoint, portName: checkPortName(portName, what) };
}

/** A remote binding, checked, with its defaults. */
export function resolveRemoteBinding(binding: unknown, what: string): ResolvedBinding {
  if (!isObject(binding)) throw new RelayArgumentError(`${what} must be an object`);
  const b = binding as RemoteForwardBinding;
  let endpoint: Endpoint;
  if (b.localSocket !== undefined && b.localSocket !== null) {
    if (b.hostPort !== undefined || b.host !== undefined || b.protocol !== undefined) {
      throw new RelayArgumentError(`${what}: give either "localSocket" or "host"/"hostPort"/"protocol", not both`);
    }
    endpoint = { protocol: 'unix', path: checkText(b.localSocket, `${what}: "localSocket"`) };
  } else {
    endpoint = {
      protocol: checkProtocol(b.protocol, what),
      host: b.host === undefined || b.host === null ? DEFAULT_TARGET_HOST : checkText(b.host, `${what}: "host"`),
      port: checkPort(b.hostPort, `${what}: "hostPort"`, false),
    };
  }
  const portName = b.portName === undefined || b.portName === null ? defaultPortName(endpoint) : checkPortName(b.portName, what);
  return { ...endpoint, portName: checkPortName(portName, what) };
}

/** Bindings whose port names repeat would make a listener's choice ambiguous. */
export function checkUniquePortNames(bindings: ResolvedBinding[], what: string): void {
  const seen = new Set<string>();
  for (const binding of bindings) {
    if (seen.has(binding.portName)) throw new RelayArgumentError(`${what}: the port name "${binding.portName}" is given twice`);
    seen.add(binding.portName);
  }
}

/** The mode byte a binding speaks. */
export function modeOf(endpoint: Endpoint): ModeByte {
  return endpoint.protocol === 'udp' ? MODE_DATAGRAM : MODE_STREAM;
}

/** A listener's answer to a preamble: the binding, a mismatch reply, or none (close without a reply). */
export type BindingChoice = { kind: 'binding'; binding: ResolvedBinding } | { kind: 'mismatch'; reply: Buffer } | { kind: 'unknown' };

/** .NET's `int.TryParse` with its default style: optional white space around an optional sign and digits, in 32 bits. */
function isDotNetInteger(text: string): boolean {
  const match = /^[\t\n\v\f\r ]*[+-]?([0-9]+)[\t\n\v\f\r ]*$/.exec(text);
  if (!match) return false;
  const value = Number(text.trim());
  return value >= -2147483648 && value <= 2147483647;
}

/**
 * Chooses the binding for a port name, as azbridge does: an exact
 * (case-sensitive) match; or, when there is a single binding and the name
 * is a number, that binding whatever the number. A binding of the other
 * kind (stream vs datagrams) is a mismatch, answered with its reply.
 */
export function chooseBinding(bindings: readonly ResolvedBinding[], portName: string, mode: ModeByte): BindingChoice {
  const binding = bindings.length === 1 && isDotNetInteger(portName) ? bindings[0] : bindings.find((b) => b.portName === portName);
  if (!binding) return { kind: 'unknown' };
  const bindingMode = modeOf(binding);
  if (bindingMode === MODE_DATAGRAM && mode !== MODE_DATAGRAM) return { kind: 'mismatch', reply: REPLY_BINDING_IS_DATAGRAM };
  if (bindingMode !== MODE_DATAGRAM && mode === MODE_DATAGRAM) return { kind: 'mismatch', reply: REPLY_BINDING_IS_STREAM };
  return { kind: 'binding', binding };
}

// ---------------------------------------------------------------------------------------------------------
// Command-line syntax

function syntaxError(flag: string, spec: string, why: string): RelayArgumentError {
  return new RelayArgumentError(`Invalid ${flag} expression "${spec}": ${why}`);
}

/** `8888` (TCP) or `8888U` (UDP), or undefined when `text` is not a port. */
function portOf(text: string, flag: string, spec: string): { port: number; protocol: 'tcp' | 'udp' } | undefined {
  const match = /^([0-9]+)(U?)$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[1]);
  // All digits is a port, never a socket named like one.
  if (port > 65535) throw syntaxError(flag, spec, `"${text}" is not a port number (1 to 65535, "U" after it for UDP)`);
  return { port, protocol: match[2] ? 'udp' : 'tcp' };
}

/** Splits `text` at its first `/`: [before, after], or [text] without one. */
function splitFirstSlash(text: string): [string] | [string, string] {
  const i = text.indexOf('/');
  return i === -1 ? [text] : [text.slice(0, i), text.slice(i + 1)];
}

/** `-L [bind_address:]port[/port_name]{;...}:relay_name`. */
export function parseLocalForwardSpec(spec: string): ParsedForward<LocalForwardBinding> {
  const flag = '-L';
  const colon = spec.lastIndexOf(':');
  if (colon === -1) throw syntaxError(flag, spec, 'it has no ":relay_name" at its end');
  const relayName = checkRelayName(spec.slice(colon + 1), `${flag} "${spec}"`);
  const list = spec.slice(0, colon);
  if (list === '') throw syntaxError(flag, spec, 'it names no port');
  const bindings = list.split(';').map((part): LocalForwardBinding => {
    if (part === '') throw syntaxError(flag, spec, 'an empty binding (";;")');
    const double = part.indexOf('//');
    if (double > 0) return { bindLocalSocket: part.slice(0, double), portName: part.slice(double + 2) };
    let address: string | undefined;
    let rest = part;
    const bracket = /^\[([^\]]+)\]:(.*)$/.exec(part);
    if (bracket) {
      address = bracket[1];
      rest = bracket[2];
    } else if (part.includes(':')) {
      const pieces = part.split(':');
      if (pieces.length > 2) throw syntaxError(flag, spec, `"${part}" has more than one ":" (write an IPv6 address in brackets)`);
      [address, rest] = pieces;
      if (address === '') throw syntaxError(flag, spec, `"${part}" has an empty bind address`);
    }
    if (address === undefined && rest.startsWith('/')) return { bindLocalSocket: rest };
    const [portText, name] = splitFirstSlash(rest);
    const port = portOf(portText, flag, spec);
    if (name === '') throw syntaxError(flag, spec, `"${part}" has an empty port name`);
    const portName = name === undefined ? {} : { portName: name };
    if (port) return { ...(address === undefined ? {} : { bindAddress: address }), bindPort: port.port, ...(port.protocol === 'udp' ? { protocol: 'udp' as const } : {}), ...portName };
    if (address !== undefined) throw syntaxError(flag, spec, `"${portText}" is not a port number (1 to 65535, "U" after it for UDP)`);
    if (portText === '') throw syntaxError(flag, spec, `"${part}" names no port`);
    return { bindLocalSocket: portText, ...portName };
  });
  return { relayName, bindings };
}

/** `-T relay_name:[port_name/][host:]hostport{;...}`. */
export function parseRemoteForwardSpec(spec: string): ParsedForward<RemoteForwardBinding> {
  const flag = '-T';
  const colon = spec.indexOf(':');
  if (colon === -1) throw syntaxError(flag, spec, 'it has no "relay_name:" at its start');
  const relayName = checkRelayName(spec.slice(0, colon), `${flag} "${spec}"`);
  const list = spec.slice(colon + 1);
  if (list === '') throw syntaxError(flag, spec, 'it names no target');
  const bindings = list.split(';').map((part): RemoteForwardBinding => {
    if (part === '') throw syntaxError(flag, spec, 'an empty binding (";;")');
    if (part.startsWith('/')) return { localSocket: part };
    const double = part.indexOf('//');
    if (double > 0 && !part.slice(0, double).includes(':')) return { portName: part.slice(0, double), localSocket: `/${part.slice(double + 2)}` };
    const bracket = /^(?:([^/[\]]*)\/)?\[([^\]]+)\]:(.*)$/.exec(part);
    let name: string | undefined;
    let host: string | undefined;
    let portText: string;
    if (bracket) {
      [, name, host, portText] = bracket;
    } else {
      const pieces = part.split(':');
      if (pieces.length > 2) throw syntaxError(flag, spec, `"${part}" has more than one ":" (write an IPv6 address in brackets)`);
      if (pieces.length === 2) {
        const head = splitFirstSlash(pieces[0]);
        if (head.length === 2) [name, host] = head;
        else host = head[0];
        portText = pieces[1];
      } else {
        const head = splitFirstSlash(pieces[0]);
        if (head.length === 2) [name, portText] = head;
        else portText = head[0];
      }
    }
    if (name === '') throw syntaxError(flag, spec, `"${part}" has an empty port name`);
    if (host === '') throw syntaxError(flag, spec, `"${part}" has an empty host`);
    const port = portOf(portText, flag, spec);
    const portName = name === undefined ? {} : { portName: name };
    if (port) {
      if (port.port === 0) throw syntaxError(flag, spec, 'the target port must be 1 to 65535');
      return { ...(host === undefined ? {} : { host }), hostPort: port.port, ...(port.protocol === 'udp' ? { protocol: 'udp' as const } : {}), ...portName };
    }
    if (host !== undefined) throw syntaxError(flag, spec, `"${portText}" is not a port number (1 to 65535, "U" after it for UDP)`);
    if (portText === '') throw syntaxError(flag, spec, `"${part}" names no target`);
    return { localSocket: portText, ...portName };
  });
  return { relayName, bindings };
}

/** `-H relay_name:{http|https}/[host[/path]:]hostport`. */
export function parseHttpForwardSpec(spec: string): HttpForward {
  const flag = '-H';
  const colon = spec.indexOf(':');
  if (colon === -1) throw syntaxError(flag, spec, 'it has no "relay_name:" at its start');
  const relayName = checkRelayName(spec.slice(0, colon), `${flag} "${spec}"`);
  const rest = spec.slice(colon + 1);
  const match = /^(https?)\/(?:([^/:]+)((?:\/[^:]*)?):)?([0-9]{1,5})$/.exec(rest) ?? /^(https?)\/([^/:]+)((?:\/[^:]*)?)$/.exec(rest);
  if (!match) throw syntaxError(flag, spec, 'expected http/[host[/path]:]port or https/host[/path]');
  const [, scheme, host = 'localhost', path = '', portText] = match;
  const port = portText === undefined ? (scheme === 'http' ? 80 : 443) : Number(portText);
  if (port < 1 || port > 65535) throw syntaxError(flag, spec, 'the port must be 1 to 65535');
  const base = path.replace(/\/*$/, '/');
  return { relayName, origin: `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${base}` };
}
