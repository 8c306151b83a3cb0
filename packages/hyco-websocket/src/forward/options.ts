/**
 * The forwarders' options: their types, defaults and checks, and the relay
 * they name (namespace, hybrid connection, tokens).
 */
import type { ConnectionOptions } from 'node:tls';
import { RelayArgumentError } from '../errors';
import { connectionStringTarget } from '../identity';
import { parseRelayNamespace } from '../protocol/uri';
import { MAX_TIMER_MS } from '../timers';
import { TokenProvider } from '../token-provider';
import type { TokenSource } from '../token-provider';
import type { ControlChannelKeepalive } from '../control-channel';
import type { LocalForwardBinding, RemoteForwardBinding } from './bindings';
import { DEFAULT_UDP_IDLE_TIMEOUT } from './datagrams';

/** What both forwarders take. Times are in milliseconds. */
export interface ForwardOptions {
  /**
   * The namespace: a host name (`contoso.servicebus.windows.net`) or a URL
   * (`sb://…`, `wss://…`, `ws://127.0.0.1:9030` for the emulator). Not with
   * `connectionString`.
   */
  namespace?: string;
  /** The hybrid connection (azbridge's "relay name"). Default: the connection string's `EntityPath`. */
  path?: string;
  /** A connection string: the namespace (`Endpoint`), the hybrid connection (`EntityPath`) and the tokens (its key, signature or managed identity). */
  connectionString?: string;
  /**
   * Where tokens come from, as for `relayedServer`: a token string, a
   * function returning one, or a credential (`TokenCredential`,
   * `AzureNamedKeyCredential`, `AzureSASCredential`). Required on the
   * remote side (a listener); none on the local side means anonymous
   * senders (a hybrid connection that does not require client authorization).
   */
  token?: TokenSource;
  /** The Azure SDK's name for the same option. */
  credential?: TokenSource;
  /** An HTTP proxy for every connection to the relay (`http://[user:password@]host:port`), or false for none. Default: the environment's. */
  proxy?: string | false;
  /** TLS options for connections to the relay (e.g. `ca` for an emulator's certificate). */
  tlsOptions?: ConnectionOptions;
  /** Give up opening a relayed connection (or, remote side, the control channel) after this long. Default 30000. */
  connectTimeout?: number;
  /** Give up on a relayed connection whose preamble (remote side) or reply (local side) has not come within this. Default 30000. */
  handshakeTimeout?: number;
  /** Send an unsolicited pong on a forwarded connection after this long without sending anything (as the .NET client does); 0: never. Default 30000. */
  keepaliveInterval?: number;
  /** A UDP route ends after this long without a datagram either way. Default 240000 (4 minutes, as azbridge). */
  udpIdleTimeout?: number;
  /** Wait this long for the end of a relayed connection whose close frames have crossed. Default 5000. */
  closeTimeout?: number;
}

/** `createLocalForward`'s options: local listeners whose connections go through the relay. */
export interface LocalForwardOptions extends ForwardOptions {
  /** What to listen on, each with the port name it asks the remote forwarder for. At least one. */
  bindings: LocalForwardBinding[];
  /**
   * UDP: the most bytes of datagrams held, across all routes, while their
   * relayed connections open; datagrams beyond it are dropped (and counted
   * in `datagramsDropped`), as UDP may. Default 4194304 (4 MiB).
   */
  maxHeldDatagramBytes?: number;
}

/** The default of `maxHeldDatagramBytes`. */
export const DEFAULT_MAX_HELD_DATAGRAM_BYTES = 4 * 1024 * 1024;

/** `maxHeldDatagramBytes`, checked, with its default. */
export function resolveMaxHeldDatagramBytes(options: LocalForwardOptions): number {
  const value = options.maxHeldDatagramBytes;
  if (value === undefined || value === null) return DEFAULT_MAX_HELD_DATAGRAM_BYTES;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new RelayArgumentError('The "maxHeldDatagramBytes" option must be a non-negative integer (bytes)');
  }
  return value;
}

/** `createRemoteForward`'s options: a relayed listener that connects its senders to local targets. */
export interface RemoteForwardOptions extends ForwardOptions {
  /** The targets, each with the port name senders ask for. At least one. */
  bindings: RemoteForwardBinding[];
  /** The listener's tracking id (`sb-hc-id`; senders can be routed to it). Default: a UUID. */
  id?: string;
  /** Reconnect delays of the control channel, ms; the last repeats. Default [0, 1000, 2000, 5000, 10000, 30000]. */
  reconnectBackoff?: number[];
  /** How the control channel is kept alive (`auto`, `ping`, `pong`), as for `relayedServer`. Default `auto`. */
  controlChannelKeepalive?: ControlChannelKeepalive;
  /** Send a control-channel keepalive after this long idle. Default 30000. */
  controlChannelKeepaliveInterval?: number;
}

/** The timings every forwarded connection uses, resolved. */
export interface ForwardTimings {
  connectTimeout: number;
  handshakeTimeout: number;
  keepaliveInterval: number;
  udpIdleTimeout: number;
  closeTimeout: number;
}

/** The relay a forwarder uses. */
export interface RelayTarget {
  /** The namespace, as the URI helpers take it. */
  namespace: string;
  /** The hybrid connection. */
  path: string;
  /** Where tokens come from; undefined: none (anonymous senders). */
  token: TokenSource | undefined;
}

function time(value: unknown, name: string, fallback: number, allowZero = false): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (value === 0 && !allowZero) || value > MAX_TIMER_MS) {
    throw new RelayArgumentError(`The "${name}" option must be a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds, at most ${MAX_TIMER_MS}`);
  }
  return value;
}

/** The timings, checked, with their defaults. */
export function resolveTimings(options: ForwardOptions): ForwardTimings {
  return {
    connectTimeout: time(options.connectTimeout, 'connectTimeout', 30_000),
    handshakeTimeout: time(options.handshakeTimeout, 'handshakeTimeout', 30_000),
    keepaliveInterval: time(options.keepaliveInterval, 'keepaliveInterval', 30_000, true),
    udpIdleTimeout: time(options.udpIdleTimeout, 'udpIdleTimeout', DEFAULT_UDP_IDLE_TIMEOUT),
    closeTimeout: time(options.closeTimeout, 'closeTimeout', 5000),
  };
}

/** The options object, checked to be one, with a non-empty `bindings` array. */
export function checkOptionsObject(options: unknown, what: string): asserts options is ForwardOptions & { bindings: unknown[] } {
  if (typeof options !== 'object' || options === null) throw new RelayArgumentError(`${what}: the options argument must be an object`);
  const bindings = (options as { bindings?: unknown }).bindings;
  if (!Array.isArray(bindings) || bindings.length === 0) throw new RelayArgumentError(`${what}: the "bindings" option must be a non-empty array`);
}

/** The namespace, hybrid connection and token source the options name. */
export function resolveTarget(options: ForwardOptions, tokenRequired: boolean): RelayTarget {
  const given = (v: unknown) => v !== undefined && v !== null;
  if (given(options.token) && given(options.credential)) throw new RelayArgumentError('Give either the "token" option or the "credential" option, not both');
  const explicit = given(options.token) ? options.token : given(options.credential) ? options.credential : undefined;
  if (explicit !== undefined) TokenProvider.check(explicit);
  let target: RelayTarget;
  if (given(options.connectionString)) {
    if (given(options.namespace)) throw new RelayArgumentError('Give either the "connectionString" option or the "namespace" option, not both');
    if (typeof options.connectionString !== 'string') throw new RelayArgumentError('The "connectionString" option must be a string');
    const cs = connectionStringTarget(options.connectionString, { path: options.path, token: explicit });
    target = { namespace: cs.address, path: cs.path, token: explicit ?? cs.token };
  } else {
    if (typeof options.namespace !== 'string' || options.namespace === '') {
      throw new RelayArgumentError('The "namespace" option (or "connectionString") is required');
    }
    parseRelayNamespace(options.namespace); // Checked now, not at the first connection.
    if (typeof options.path !== 'string' || options.path === '') throw new RelayArgumentError('The "path" option (the hybrid connection) is required');
    target = { namespace: options.namespace, path: options.path, token: explicit };
  }
  if (tokenRequired && target.token === undefined) {
    throw new RelayArgumentError('The "token" option (a token, a function returning one, or a credential) or the "credential" option is required');
  }
  return target;
}
