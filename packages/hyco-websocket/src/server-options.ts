/**
 * The relayed server's options: their types, defaults and checks, and the
 * listen address they name.
 */
import type { ConnectionOptions } from 'node:tls';
import { RelayArgumentError } from './errors';
import { ACTION_LISTEN, PARAM_ACTION, PARAM_ID } from './protocol/constants';
import { decodeComponent } from './protocol/uri';
import { DEFAULT_BACKOFF_MS } from './backoff';
import type { ControlChannelKeepalive } from './control-channel';
import { MAX_TIMER_MS } from './timers';
import type { TokenSource } from './token-provider';
import { randomUUID } from 'node:crypto';
import { checkProxyOption } from './proxy';
import type { ProxyOption } from './proxy';

/** Options of the relayed server. Times are in milliseconds. */
export interface HybridConnectionsWebSocketServerOptions {
  /** The listen address, e.g. from `createRelayListenUri(ns, path)`. Required. */
  server: string;
  /**
   * Where tokens come from (one of `token` and `credential` is required): a
   * SAS token or Entra ID JWT string (fixed: it cannot be renewed), a
   * function returning one (or a Promise of one), or a credential: a
   * `TokenCredential` (e.g. `DefaultAzureCredential`; tokens for
   * `https://relay.azure.net/.default`), an `AzureNamedKeyCredential` (SAS
   * tokens minted for the listen URI) or an `AzureSASCredential` (its
   * current signature; `update()` is picked up at the next renewal).
   */
  token?: TokenSource;
  /** The Azure SDK's name for the same option: a credential (or anything `token` takes). */
  credential?: TokenSource;
  /**
   * An HTTP proxy for every connection to the relay (control channel,
   * rendezvous): `http://[user:password@]host:port`, or `false` for none.
   * Default: `HTTPS_PROXY` / `HTTP_PROXY` (by the target's scheme) unless
   * `NO_PROXY` lists the host; never for loopback targets.
   */
  proxy?: string | false;
  /** Accept every sender with its first requested subprotocol. Default false. */
  autoAcceptConnections?: boolean;
  /** Tracking id sent as `sb-hc-id` on the control channel. */
  id?: string;
  /** Largest frame accepted on a connection, bytes. Default 64 KiB. */
  maxReceivedFrameSize?: number;
  /** Largest message accepted on a connection, bytes. Default 1 MiB. */
  maxReceivedMessageSize?: number;
  /** Fragment outgoing messages over fragmentationThreshold. Default true. */
  fragmentOutgoingMessages?: boolean;
  /**
   * Messages longer than this go out in frames of this size, bytes. Default
   * 64 KiB (websocket.server's is 16 KiB): the largest frame that common
   * WebSocket stacks accept by default (websocket's server, Jetty), and
   * four times fewer frames for every hop of the relay to handle.
   */
  fragmentationThreshold?: number;
  /** Assemble fragmented messages into one `message` event. Default true. */
  assembleFragments?: boolean;
  /** Wait this long for the peer's close frame after sending ours. Default 5000. */
  closeTimeout?: number;
  /** Ping idle connections. Default true. */
  keepalive?: boolean;
  /** Default 20000. */
  keepaliveInterval?: number;
  /** Default true. */
  dropConnectionOnKeepaliveTimeout?: boolean;
  /** Default 10000. */
  keepaliveGracePeriod?: number;
  /** Default true. */
  disableNagleAlgorithm?: boolean;
  /** Ignore X-Forwarded-For for remoteAddress. Default false. */
  ignoreXForwardedFor?: boolean;
  /** TLS options for connections to the relay, as Node's `tls.connect` takes them (e.g. `ca` for an emulator's certificate). */
  tlsOptions?: ConnectionOptions;
  /**
   * How the control channel is kept alive: `ping` (reopen it when a ping goes
   * unanswered), `pong` (unsolicited pongs, never answered; a dead path is
   * found by TCP keepalive and write errors), or `auto` (ping, and switch to
   * pongs for good if the relay closes the channel after pings). Default `auto`.
   */
  controlChannelKeepalive?: ControlChannelKeepalive;
  /** Send a keepalive when the control channel has been idle this long. Default 30000. */
  controlChannelKeepaliveInterval?: number;
  /** (ping) Reconnect when a control-channel ping is not answered within this. Default 10000. */
  controlChannelKeepaliveGracePeriod?: number;
  /** Give up opening the control channel after this long. Default 30000. */
  connectTimeout?: number;
  /** Give up opening a rendezvous after this long. Default 30000. */
  rendezvousTimeout?: number;
  /** Reconnect delays, ms, before up to 20% jitter; the last repeats. Default [0, 1000, 2000, 5000, 10000, 30000]. */
  reconnectBackoff?: number[];
}

export type ResolvedOptions = Required<Omit<HybridConnectionsWebSocketServerOptions, 'id' | 'tlsOptions' | 'token' | 'credential' | 'proxy'>> &
  Pick<HybridConnectionsWebSocketServerOptions, 'id' | 'tlsOptions'> & { token: TokenSource; proxy: ProxyOption };

const DEFAULTS = {
  autoAcceptConnections: false,
  maxReceivedFrameSize: 0x10000,
  maxReceivedMessageSize: 0x100000,
  fragmentOutgoingMessages: true,
  fragmentationThreshold: 0x10000,
  assembleFragments: true,
  closeTimeout: 5000,
  keepalive: true,
  keepaliveInterval: 20000,
  dropConnectionOnKeepaliveTimeout: true,
  keepaliveGracePeriod: 10000,
  disableNagleAlgorithm: true,
  ignoreXForwardedFor: false,
  controlChannelKeepalive: 'auto' as ControlChannelKeepalive,
  controlChannelKeepaliveInterval: 30000,
  controlChannelKeepaliveGracePeriod: 10000,
  connectTimeout: 30000,
  rendezvousTimeout: 30000,
  reconnectBackoff: [...DEFAULT_BACKOFF_MS],
};

/** Options that are times (ms), each armed as a timer. */
const TIMED_OPTIONS = new Set<string>([
  'closeTimeout', 'keepaliveInterval', 'keepaliveGracePeriod', 'controlChannelKeepaliveInterval', 'controlChannelKeepaliveGracePeriod',
  'connectTimeout', 'rendezvousTimeout',
]);

const NUMBER_OPTIONS = [
  'maxReceivedFrameSize', 'maxReceivedMessageSize', 'fragmentationThreshold', 'closeTimeout', 'keepaliveInterval',
  'keepaliveGracePeriod', 'controlChannelKeepaliveInterval', 'controlChannelKeepaliveGracePeriod', 'connectTimeout', 'rendezvousTimeout',
] as const;

export function resolveOptions(options: HybridConnectionsWebSocketServerOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new RelayArgumentError('The options argument must be an object');
  if (options.server === undefined || options.server === null) throw new RelayArgumentError('The "server" option (the listen URI) is required');
  if (typeof options.server !== 'string') throw new RelayArgumentError('The "server" option must be a listen URI string');
  const hasToken = options.token !== undefined && options.token !== null;
  const hasCredential = options.credential !== undefined && options.credential !== null;
  if (hasToken && hasCredential) throw new RelayArgumentError('Give either the "token" option or the "credential" option, not both');
  if (!hasToken && !hasCredential) {
    throw new RelayArgumentError('The "token" option (a token, a function returning one, or a credential) or the "credential" option is required');
  }
  const { credential, ...rest } = options;
  const resolved = { ...DEFAULTS, ...rest, token: hasToken ? options.token : credential } as ResolvedOptions;
  for (const name of NUMBER_OPTIONS) {
    const value = resolved[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new RelayArgumentError(`The "${name}" option must be a positive number`);
    // Node's timers overflow past 2^31-1 ms (they would fire at once, again and again).
    if (TIMED_OPTIONS.has(name) && value > MAX_TIMER_MS) throw new RelayArgumentError(`The "${name}" option must be at most ${MAX_TIMER_MS} ms`);
  }
  if (
    !Array.isArray(resolved.reconnectBackoff) ||
    resolved.reconnectBackoff.length === 0 ||
    !resolved.reconnectBackoff.every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0 && n <= MAX_TIMER_MS)
  ) {
    throw new RelayArgumentError(`The "reconnectBackoff" option must be a non-empty array of delays in ms (0 to ${MAX_TIMER_MS})`);
  }
  if (!['auto', 'ping', 'pong'].includes(resolved.controlChannelKeepalive)) {
    throw new RelayArgumentError('The "controlChannelKeepalive" option must be "auto", "ping" or "pong"');
  }
  if (resolved.id !== undefined && typeof resolved.id !== 'string') throw new RelayArgumentError('The "id" option must be a string');
  resolved.proxy = checkProxyOption(resolved.proxy);
  return resolved;
}

/** The listen URI with `sb-hc-action=listen` and the id, and the hybrid connection's path. */
export function listenAddress(server: string, id: string | undefined): { uri: string; entityPath: string; listenerId: string } {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new RelayArgumentError('The "server" option is not a valid URI');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new RelayArgumentError('The "server" option must be a ws:// or wss:// URI');
  const match = /^\/\$hc\/(.+?)\/?$/i.exec(url.pathname);
  if (!match) throw new RelayArgumentError('The "server" option must be a relay address (/$hc/{path}); use createRelayListenUri');
  const action = url.searchParams.get(PARAM_ACTION);
  if (action !== null && action !== ACTION_LISTEN) throw new RelayArgumentError(`The "server" option must be a listen URI (${PARAM_ACTION}=listen)`);
  let uri = server;
  if (action === null) uri += `${uri.includes('?') ? '&' : '?'}${PARAM_ACTION}=${ACTION_LISTEN}`;
  // Every listener has an id (given, or made here), so that senders can be routed to it.
  let listenerId = url.searchParams.get(PARAM_ID);
  if (listenerId === null) {
    listenerId = id ?? randomUUID();
    uri += `&${PARAM_ID}=${encodeURIComponent(listenerId)}`;
  }
  return { uri, entityPath: decodeComponent(match[1]), listenerId };
}

