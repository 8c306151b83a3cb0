/**
 * HybridConnectionsWebSocketServer: `websocket`'s WebSocketServer contract,
 * listening through Azure Relay instead of the local network. It starts on
 * construction and stays online: reconnects, renews its token, keeps its
 * control channel alive.
 *
 * Events: `request` (HybridConnectionsWebSocketRequest, when
 * autoAcceptConnections is false), `connect` (connection), `close`
 * (connection, closeReason, description) for each accepted connection;
 * `online` and `listening` when the control channel opens, `connecting`
 * (attempt, delayMs) when it retries, `offline` (lastError) when it gives up
 * or is closed; `error` (RelayError) and `warning` (RelayError), which never
 * crash the process when nobody listens.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import createDebug from 'debug';
import type { connection as WebSocketConnection, frame as WebSocketFrame, IClientConfig } from 'websocket';
import { RelayArgumentError, RelayError } from './errors';
import { ACTION_LISTEN, PARAM_ACTION, PARAM_ID, PARAM_TOKEN } from './protocol/constants';
import type { AcceptMessage, RequestMessage } from './protocol/messages';
import { parseServiceMessage } from './protocol/messages';
import { createExchange, openHttpRendezvous } from './http-exchange';
import type { ResponseChannels } from './http-exchange';
import { DEFAULT_BACKOFF_MS } from './backoff';
import { ListenerControlChannel } from './control-channel';
import { HybridConnectionsWebSocketRequest } from './request';
import type { RequestConfig } from './request';
import { TokenProvider } from './token-provider';
import type { TokenSource } from './token-provider';

const debug = createDebug('hyco-websocket:server');

/** Options of the relayed server. Times are in milliseconds. */
export interface HybridConnectionsWebSocketServerOptions {
  /** The listen address, e.g. from `createRelayListenUri(ns, path)`. Required. */
  server: string;
  /** A SAS token, or a function returning one (or a Promise of one); the function form allows renewal. Required. */
  token: TokenSource;
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
  /** Default 16 KiB. */
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
  /** TLS options for connections to the relay (e.g. `ca` for an emulator's certificate). */
  tlsOptions?: object;
  /** Ping the control channel when idle this long. Default 30000. */
  controlChannelKeepaliveInterval?: number;
  /** Reconnect when a control-channel ping is not answered within this. Default 10000. */
  controlChannelKeepaliveGracePeriod?: number;
  /** Give up opening the control channel after this long. Default 30000. */
  connectTimeout?: number;
  /** Give up opening a rendezvous after this long. Default 30000. */
  rendezvousTimeout?: number;
  /** Reconnect delays, ms, before up to 20% jitter; the last repeats. Default [0, 1000, 2000, 5000, 10000, 30000]. */
  reconnectBackoff?: number[];
}

type ResolvedOptions = Required<Omit<HybridConnectionsWebSocketServerOptions, 'id' | 'tlsOptions'>> &
  Pick<HybridConnectionsWebSocketServerOptions, 'id' | 'tlsOptions'>;

const DEFAULTS = {
  autoAcceptConnections: false,
  maxReceivedFrameSize: 0x10000,
  maxReceivedMessageSize: 0x100000,
  fragmentOutgoingMessages: true,
  fragmentationThreshold: 0x4000,
  assembleFragments: true,
  closeTimeout: 5000,
  keepalive: true,
  keepaliveInterval: 20000,
  dropConnectionOnKeepaliveTimeout: true,
  keepaliveGracePeriod: 10000,
  disableNagleAlgorithm: true,
  ignoreXForwardedFor: false,
  controlChannelKeepaliveInterval: 30000,
  controlChannelKeepaliveGracePeriod: 10000,
  connectTimeout: 30000,
  rendezvousTimeout: 30000,
  reconnectBackoff: [...DEFAULT_BACKOFF_MS],
};

const NUMBER_OPTIONS = [
  'maxReceivedFrameSize', 'maxReceivedMessageSize', 'fragmentationThreshold', 'closeTimeout', 'keepaliveInterval',
  'keepaliveGracePeriod', 'controlChannelKeepaliveInterval', 'controlChannelKeepaliveGracePeriod', 'connectTimeout', 'rendezvousTimeout',
] as const;

function resolveOptions(options: HybridConnectionsWebSocketServerOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new RelayArgumentError('The options argument must be an object');
  if (options.server === undefined || options.server === null) throw new RelayArgumentError('The "server" option (the listen URI) is required');
  if (typeof options.server !== 'string') throw new RelayArgumentError('The "server" option must be a listen URI string');
  if (options.token === undefined || options.token === null) throw new RelayArgumentError('The "token" option (a token or a function returning one) is required');
  const resolved = { ...DEFAULTS, ...options } as ResolvedOptions;
  for (const name of NUMBER_OPTIONS) {
    const value = resolved[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new RelayArgumentError(`The "${name}" option must be a positive number`);
  }
  if (!Array.isArray(resolved.reconnectBackoff) || resolved.reconnectBackoff.length === 0 || !resolved.reconnectBackoff.every((n) => typeof n === 'number' && n >= 0)) {
    throw new RelayArgumentError('The "reconnectBackoff" option must be a non-empty array of delays in ms');
  }
  if (resolved.id !== undefined && typeof resolved.id !== 'string') throw new RelayArgumentError('The "id" option must be a string');
  return resolved;
}

/** The listen URI with `sb-hc-action=listen` and the id, and the hybrid connection's path. */
function listenAddress(server: string, id: string | undefined): { uri: string; entityPath: string } {
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
  if (id !== undefined && !url.searchParams.has(PARAM_ID)) uri += `&${PARAM_ID}=${encodeURIComponent(id)}`;
  return { uri, entityPath: decodeURIComponent(match[1]) };
}

/** The server's events and their arguments (see the class comment). */
export interface HybridConnectionsWebSocketServerEvents {
  request: [request: HybridConnectionsWebSocketRequest];
  connect: [connection: WebSocketConnection];
  close: [connection: WebSocketConnection, closeReason: number, description: string];
  online: [];
  listening: [];
  connecting: [attempt: number, delayMs: number];
  offline: [lastError: RelayError | undefined];
  error: [error: RelayError];
  warning: [warning: RelayError];
  /** An HTTP request through the relay, as Node's http server would hand it over. */
  httpRequest: [req: IncomingMessage, res: ServerResponse];
}

export class HybridConnectionsWebSocketServer extends EventEmitter<HybridConnectionsWebSocketServerEvents> {
  /** The resolved options. */
  readonly config: ResolvedOptions;
  /** Accepted connections that are open. */
  connections: WebSocketConnection[] = [];
  /** The hybrid connection's path. */
  readonly hybridConnectionPath: string;
  private readonly channel: ListenerControlChannel;
  private readonly requestConfig: RequestConfig;
  private closing: Promise<void> | undefined;
  private closed = false;
  /** Inline HTTP requests waiting for their body (the next binary message on the control channel). */
  private readonly awaitingBody: ((body: Buffer) => void)[] = [];
  private readonly responseChannels: ResponseChannels = {
    sendControl: (json, body) => this.channel.sendJson(json) && (body === undefined || this.channel.sendBinary(body)),
    openRendezvous: (address) => openHttpRendezvous(address, this.requestConfig.clientConfig, this.config.rendezvousTimeout),
    report: (error) => this.report(error),
  };

  constructor(options: HybridConnectionsWebSocketServerOptions) {
    super();
    this.config = resolveOptions(options);
    const tokens = new TokenProvider(this.config.token);
    const { uri, entityPath } = listenAddress(this.config.server, this.config.id);
    this.hybridConnectionPath = entityPath;
    const clientConfig: IClientConfig & Record<string, unknown> = {
      maxReceivedFrameSize: this.config.maxReceivedFrameSize,
      maxReceivedMessageSize: this.config.maxReceivedMessageSize,
      fragmentOutgoingMessages: this.config.fragmentOutgoingMessages,
      fragmentationThreshold: this.config.fragmentationThreshold,
      assembleFragments: this.config.assembleFragments,
      closeTimeout: this.config.closeTimeout,
      disableNagleAlgorithm: this.config.disableNagleAlgorithm,
      // The connection honours these whichever side opened it.
      keepalive: this.config.keepalive,
      keepaliveInterval: this.config.keepaliveInterval,
      dropConnectionOnKeepaliveTimeout: this.config.dropConnectionOnKeepaliveTimeout,
      keepaliveGracePeriod: this.config.keepaliveGracePeriod,
    };
    if (this.config.tlsOptions) clientConfig.tlsOptions = this.config.tlsOptions;
    this.requestConfig = {
      clientConfig,
      ignoreXForwardedFor: this.config.ignoreXForwardedFor,
      rendezvousTimeout: this.config.rendezvousTimeout,
    };
    this.channel = new ListenerControlChannel({
      listenUri: uri,
      tokens,
      keepaliveInterval: this.config.controlChannelKeepaliveInterval,
      keepaliveGracePeriod: this.config.controlChannelKeepaliveGracePeriod,
      connectTimeout: this.config.connectTimeout,
      backoff: this.config.reconnectBackoff,
      ...(this.config.tlsOptions ? { tlsOptions: this.config.tlsOptions } : {}),
    });
    this.channel.on('online', () => {
      this.emit('online');
      this.emit('listening');
    });
    this.channel.on('connecting', (attempt: number, delay: number) => this.emit('connecting', attempt, delay));
    this.channel.on('offline', (error: RelayError | undefined) => this.emit('offline', error));
    this.channel.on('error', (error: RelayError) => this.report(error));
    this.channel.on('warning', (error: RelayError) => this.report(error, 'warning'));
    this.channel.on('accept', (accept: AcceptMessage['accept']) => this.onAccept(accept));
    this.channel.on('request', (request: RequestMessage['request']) => this.onHttpRequest(request));
    this.channel.on('requestBody', (body: Buffer) => this.awaitingBody.shift()?.(body));
    debug('listening on %s', uri.replace(new RegExp(`([?&]${PARAM_TOKEN}=)[^&]*`), '$1***'));
    this.channel.start();
  }

  /** Whether the control channel is open. */
  get isOnline(): boolean {
    return this.channel.isOnline;
  }

  /** The last error the control channel met, if any. */
  get lastError(): RelayError | undefined {
    return this.channel.lastError;
  }

  /** Not supported: a relayed server does not attach to an HTTP server. */
  mount(): never {
    throw new RelayError('ERR_HYCO_NOT_SUPPORTED', 'mount() is not supported by HybridConnectionsWebSocketServer: it listens through the relay, not on an HTTP server');
  }

  /** Not supported: use close(). */
  unmount(): never {
    throw new RelayError('ERR_HYCO_NOT_SUPPORTED', 'unmount() is not supported by HybridConnectionsWebSocketServer: use close()');
  }

  /** Sends `data` to every connection: Buffers as binary, anything else as text. */
  broadcast(data: Buffer | string): void {
    if (Buffer.isBuffer(data)) this.broadcastBytes(data);
    else this.broadcastUTF(data);
  }

  broadcastUTF(utfData: string): void {
    for (const connection of this.connections) connection.sendUTF(utfData);
  }

  broadcastBytes(binaryData: Buffer): void {
    for (const connection of this.connections) connection.sendBytes(binaryData);
  }

  closeAllConnections(): void {
    for (const connection of [...this.connections]) connection.close();
  }

  /** Closes the server (as close()). */
  shutDown(callback?: (error?: Error) => void): Promise<void> {
    return this.close(callback);
  }

  /**
   * Closes the control channel (1000) and every accepted connection, stops
   * every timer and emits `offline`. Resolves when all is closed.
   */
  close(callback?: (error?: Error) => void): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      const open = [...this.connections];
      this.closeAllConnections();
      this.closing = Promise.all([this.channel.close(), ...open.map(whenClosed)]).then(() => undefined);
    }
    if (callback) this.closing.then(() => callback(), callback);
    return this.closing;
  }

  private report(error: RelayError, event: 'error' | 'warning' = 'error'): void {
    // An error nobody listens for must not crash the app.
    if (this.listenerCount(event) > 0) this.emit(event, error);
    else debug('%s (no listener): %s', event, error.message);
  }

  private onAccept(accept: AcceptMessage['accept']): void {
    const request = new HybridConnectionsWebSocketRequest(accept, this.hybridConnectionPath, this.requestConfig);
    try {
      request.readHandshake();
    } catch (err) {
      this.report(err as RelayError);
      request.reject(400, (err as Error).message).catch((e: RelayError) => this.report(e));
      return;
    }
    request.once('requestAccepted', (connection: WebSocketConnection) => this.onConnection(connection));
    if (this.closed) {
      request.reject(503, 'The listener is closing').catch(() => {});
      return;
    }
    if (this.config.autoAcceptConnections) {
      request.accept(request.requestedProtocols[0] ?? null, request.origin).catch((err: RelayError) => this.report(err));
    } else if (this.listenerCount('request') > 0) {
      this.emit('request', request);
    } else {
      request.reject(404, 'No handler for this request').catch((err: RelayError) => this.report(err));
    }
  }

  private onConnection(connection: WebSocketConnection): void {
    if (this.closed) {
      connection.close();
      return;
    }
    this.connections.push(connection);
    connection.once('close', (closeReason: number, description: string) => {
      const index = this.connections.indexOf(connection);
      if (index !== -1) this.connections.splice(index, 1);
      this.emit('close', connection, closeReason, description);
    });
    this.emit('connect', connection);
  }

  /**
   * An HTTP request: small ones arrive whole on the control channel; large
   * or chunked ones wait at a rendezvous, where the request and its body
   * stream in. Without an `httpRequest` handler the answer is 501.
   */
  private onHttpRequest(request: RequestMessage['request']): void {
    if (request.method !== undefined) {
      const start = (body?: Buffer) => {
        const exchange = createExchange(request, this.hybridConnectionPath, this.responseChannels, undefined, body?.length);
        if (body) exchange.push(body);
        exchange.push(null);
        this.dispatchHttp(exchange.req, exchange.res);
      };
      if (!request.body) start();
      // A small body follows as the next binary message: hand the request over with it,
      // or, when nobody handles HTTP, answer (501) at once and just consume it.
      else if (this.listenerCount('httpRequest') > 0) this.awaitingBody.push(start);
      else {
        this.awaitingBody.push(() => undefined);
        start();
      }
      return;
    }
    openHttpRendezvous(request.address, this.requestConfig.clientConfig, this.config.rendezvousTimeout).then(
      (connection) => this.onHttpRendezvous(request.address, connection),
      (err: RelayError) => this.report(err),
    );
  }

  /** Reads a request (JSON, then body fragments) from an HTTP rendezvous. */
  private onHttpRendezvous(address: string, connection: WebSocketConnection): void {
    let json = '';
    let exchange: ReturnType<typeof createExchange> | undefined;
    let paused = false;
    connection.on('error', (err: Error) => debug('HTTP rendezvous error: %s', err.message));
    connection.on('close', () => {
      if (exchange && !exchange.req.complete) exchange.req.destroy(new RelayError('ERR_HYCO_CONNECTION', 'The HTTP rendezvous closed before the request body ended'));
    });
    connection.on('frame', (frame: WebSocketFrame) => {
      if (!exchange) {
        json += frame.binaryPayload.toString('utf8');
        if (!frame.fin) return;
        let request: RequestMessage['request'];
        try {
          const raw = JSON.parse(json) as { request?: { address?: string } };
          if (raw.request && !raw.request.address) raw.request.address = address;
          const parsed = parseServiceMessage(JSON.stringify(raw));
          if (!('request' in parsed)) throw new RelayError('ERR_HYCO_MALFORMED_MESSAGE', 'Malformed control message: expected a request on the HTTP rendezvous');
          request = parsed.request;
        } catch (err) {
          this.report(err instanceof RelayError ? err : new RelayError('ERR_HYCO_MALFORMED_MESSAGE', 'Malformed request on the HTTP rendezvous'));
          connection.close();
          return;
        }
        const current = createExchange(request, this.hybridConnectionPath, this.responseChannels, connection, request.body ? 'stream' : undefined);
        exchange = current;
        current.onRead(() => {
          if (paused) {
            paused = false;
            connection.resume();
          }
        });
        if (!request.body) current.push(null);
        this.dispatchHttp(current.req, current.res);
        return;
      }
      if (exchange.req.complete) return;
      const more = exchange.push(frame.binaryPayload);
      if (frame.fin) exchange.push(null);
      else if (!more) {
        paused = true;
        connection.pause();
      }
    });
  }

  private dispatchHttp(req: IncomingMessage, res: ServerResponse): void {
    if (this.listenerCount('httpRequest') > 0) {
      this.emit('httpRequest', req, res);
      return;
    }
    req.resume();
    res.writeHead(501, 'Not Implemented', { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('This listener does not handle HTTP requests\n');
  }
}

function whenClosed(connection: WebSocketConnection): Promise<void> {
  if (connection.state === 'closed') return Promise.resolve();
  return new Promise((resolve) => connection.once('close', () => resolve()));
}
