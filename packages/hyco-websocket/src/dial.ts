/**
 * Opening a WebSocket to the relay (the control channel, an accept or
 * reject rendezvous, an HTTP rendezvous), through a proxy when one
 * applies, bounded by a timeout, with one outcome reported once:
 * connected, answered with a status, failed (the proxy's failure told
 * apart), timed out or aborted. Nothing of a given-up attempt lingers: its
 * request is aborted and its socket to the proxy destroyed.
 */
import { useFastDataPath } from './data-path';
import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import dns from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { createSecureContext } from 'node:tls';
import type { ConnectionOptions, SecureContext } from 'node:tls';
import createDebug from 'debug';
import { client as WebSocketClient } from 'websocket';
import type { connection as WebSocketConnection, IClientConfig } from 'websocket';
import { RelayError } from './errors';
import { ProxyTunnel, proxyFor } from './proxy';
import type { ProxyOption } from './proxy';

const debug = createDebug('hyco-websocket:dial');

/** How long a host name's addresses are reused, ms. */
const LOOKUP_TTL_MS = 30_000;

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * What a listener's connections to its relay share, so that a rendezvous
 * costs no more than the protocol needs:
 *
 * - the relay's host name resolved once (for 30 s), not for every
 *   rendezvous (on a real network each lookup can cost a round trip);
 * - one TLS secure context, made once from `tlsOptions` (their CA and other
 *   settings parsed once, not for every connection);
 * - the last TLS session by `host:port`: every connection a listener makes
 *   goes to the same relay host, so each new one resumes that session (the
 *   relay skips its certificate signature, we skip verifying its chain).
 */
export class ConnectionCache {
  private readonly sessions = new Map<string, Buffer>();
  private readonly addresses = new Map<string, { expires: number; address: string | LookupAddress[]; family?: number }>();
  private context: SecureContext | undefined;

  constructor(private readonly tlsOptions: ConnectionOptions | undefined = undefined) {}

  /** The shared secure context (made on first use). */
  get secureContext(): SecureContext {
    this.context ??= createSecureContext(this.tlsOptions);
    return this.context;
  }

  session(key: string): Buffer | undefined {
    return this.sessions.get(key);
  }

  keepSession(key: string, session: Buffer): void {
    remember(this.sessions, key, session);
  }

  /** A `lookup` for net/http: the system's, with its answers kept for a while. */
  readonly lookup = (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    const key = `${hostname}|${options.family ?? 0}|${options.all === true}`;
    const known = this.addresses.get(key);
    if (known && known.expires > Date.now()) {
      process.nextTick(() => callback(null, known.address, known.family));
      return;
    }
    dns.lookup(hostname, options, (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => {
      if (!err) remember(this.addresses, key, { expires: Date.now() + LOOKUP_TTL_MS, address, ...(family === undefined ? {} : { family }) });
      callback(err, address, family);
    });
  };

  /** Forgets what is known of `hostname` (a connection to it failed: it may have moved). */
  forget(hostname: string): void {
    for (const key of [...this.addresses.keys()]) if (key.startsWith(`${hostname}|`)) this.addresses.delete(key);
  }
}

/** Sets `key` in a small map that keeps its 16 most recent entries. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > 16) map.delete(map.keys().next().value as string);
}

export interface DialOptions {
  clientConfig: IClientConfig;
  proxy: ProxyOption;
  /** What connections to the same relay share: name lookups, the TLS context, TLS sessions. */
  cache?: ConnectionCache;
  protocols?: string[];
  headers?: Record<string, string | string[]>;
  timeoutMs: number;
}

export type DialResult =
  | { kind: 'connect'; connection: WebSocketConnection }
  | { kind: 'status'; status: number; statusText: string | undefined }
  /** The proxy failed or refused (`ERR_HYCO_PROXY`, `ERR_HYCO_PROXY_AUTH`). */
  | { kind: 'proxy'; error: RelayError }
  /** The connection failed beyond the proxy, or without one. */
  | { kind: 'failed'; error: Error }
  | { kind: 'timeout' }
  | { kind: 'aborted' };

export interface Dial {
  readonly result: Promise<DialResult>;
  /** Gives the attempt up (it settles as `aborted` unless it already settled). */
  abort(): void;
}

/**
 * The peer may speak first: a sender's first frames can arrive with the
 * rendezvous' 101 (and the relay's first control message with the control
 * channel's), and `websocket`'s client hands them to the connection right
 * after its `connect` event, before whoever awaits the outcome has attached
 * handlers. Those bytes, and the socket, are held until the next turn of
 * the event loop, so that nothing is lost.
 */
export function holdFirstData(client: InstanceType<typeof WebSocketClient>, connection: WebSocketConnection): void {
  const internals = client as unknown as { firstDataChunk?: Buffer | null };
  const early = internals.firstDataChunk;
  internals.firstDataChunk = Buffer.alloc(0);
  const socket = connection.socket;
  socket.pause();
  // What the user asks for meanwhile (pause() of a socket paused here would be a no-op, and a resume() would
  // let later bytes overtake the early ones): recorded, and applied when the early bytes are handed over.
  let wanted: 'pause' | 'resume' | undefined;
  const target = connection as unknown as { pause(): void; resume(): void; inputPaused: boolean };
  target.pause = () => void (wanted = 'pause');
  target.resume = () => void (wanted = 'resume');
  setImmediate(() => {
    delete (target as { pause?: unknown }).pause;
    delete (target as { resume?: unknown }).resume;
    if (wanted === 'pause') {
      // Held until the user resumes (websocket's resume() resumes the socket, whose 'resume' event parses on).
      target.inputPaused = true;
      socket.pause();
    } else {
      // Flowing again before the early bytes are handed over: a user who pauses the connection in a handler for
      // one of them pauses a flowing socket, which stops the rest.
      socket.resume();
    }
    if (early && early.length > 0 && connection.connected) {
      (connection as unknown as { handleSocketData(data: Buffer): void }).handleSocketData(early);
    }
  });
}

/** Opens a WebSocket to `uri` on the relay. */
export function dial(uri: string, options: DialOptions): Dial {
  let settle: (result: DialResult) => boolean = () => false;
  const result = new Promise<DialResult>((resolve) => {
    let settled = false;
    settle = (outcome) => {
      if (settled) return false;
      settled = true;
      resolve(outcome);
      return true;
    };
  });
  let proxy;
  try {
    proxy = proxyFor(uri, options.proxy);
  } catch (err) {
    settle({ kind: 'proxy', error: err as RelayError });
    return { result, abort: () => undefined };
  }
  // websocket's client takes `tlsOptions` out of the config object it is given: each client gets a copy.
  const client = new WebSocketClient({ ...options.clientConfig });
  // Destroys the socket to the proxy when the attempt is given up (a proxy may never answer CONNECT).
  const controller = new AbortController();
  const tunnel = proxy ? new ProxyTunnel(proxy, controller.signal) : undefined;
  const finish = (outcome: DialResult): boolean => {
    if (!settle(outcome)) return false;
    clearTimeout(timer);
    if (outcome.kind !== 'connect') {
      client.abort();
      controller.abort();
    }
    return true;
  };
  const timer = setTimeout(() => {
    // A proxy that took the connection and never answered CONNECT is the proxy's failure.
    if (tunnel && !tunnel.answer && !tunnel.failure) {
      finish({ kind: 'proxy', error: new RelayError('ERR_HYCO_PROXY', `The proxy ${tunnel.setting.display} did not answer within ${options.timeoutMs} ms`) });
    } else finish({ kind: 'timeout' });
  }, options.timeoutMs);
  client.on('connect', (connection: WebSocketConnection) => {
    holdFirstData(client, connection);
    useFastDataPath(connection);
    if (!finish({ kind: 'connect', connection })) connection.drop();
  });
  client.on('httpResponse', (response: { statusCode?: number; statusMessage?: string; resume(): void }) => {
    response.resume();
    const problem = tunnel?.problem(uri);
    finish(problem ? { kind: 'proxy', error: problem } : { kind: 'status', status: response.statusCode ?? 0, statusText: response.statusMessage });
  });
  client.on('connectFailed', (err: Error) => {
    if (!tunnel) cache?.forget(new URL(uri).hostname);
    const problem = tunnel?.problem(uri);
    finish(problem ? { kind: 'proxy', error: problem } : { kind: 'failed', error: err });
  });
  if (tunnel) debug('connecting through the proxy %s (from %s)', tunnel.setting.display, tunnel.setting.source);
  const url = new URL(uri);
  const cache = options.cache;
  const sessionKey = url.protocol === 'wss:' && cache ? `${url.hostname}:${url.port || '443'}` : undefined;
  const extra: Record<string, unknown> = {};
  if (tunnel) extra.agent = tunnel;
  // Through a proxy, the proxy resolves the relay's name.
  else if (cache) extra.lookup = cache.lookup;
  if (sessionKey && cache) {
    // (A secureContext takes precedence over the context options tlsOptions also carries: they made it.)
    extra.secureContext = cache.secureContext;
    const session = cache.session(sessionKey);
    if (session) extra.session = session;
  }
  client.connect(uri, options.protocols, undefined, options.headers, Object.keys(extra).length ? extra : undefined);
  if (sessionKey) {
    const req = (client as unknown as { _req?: ClientRequest | null })._req;
    req?.once('socket', (socket: Socket) => socket.on('session', (ticket: Buffer) => cache?.keepSession(sessionKey, ticket)));
  }
  return { result, abort: () => void finish({ kind: 'aborted' }) };
}
