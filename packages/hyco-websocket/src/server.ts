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
import type { connection as WebSocketConnection, IClientConfig } from 'websocket';
import { RelayError, readOptions } from './errors';
import { connectionStringTarget } from './identity';
import { createRelayListenUri, withoutToken } from './protocol/uri';
import type { AcceptMessage, RequestMessage } from './protocol/messages';
import { createExchange } from './http-exchange';
import type { ExchangeRoute, HttpExchange } from './http-exchange';
import { openHttpRendezvous, readRendezvousRequest } from './http-rendezvous';
import { ListenerControlChannel } from './control-channel';
import { closedWithin } from './control-channel';
import type { ChannelConnection, ControlChannelKeepalive } from './control-channel';
import { ConnectionCache } from './dial';
import { HybridConnectionsWebSocketRequest } from './request';
import type { RequestConfig } from './request';
import { listenAddress, resolveOptions } from './server-options';
import type { HybridConnectionsWebSocketServerOptions, ResolvedOptions } from './server-options';
import { TokenProvider } from './token-provider';

export type { HybridConnectionsWebSocketServerOptions } from './server-options';

const debug = createDebug('hyco-websocket:server');

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
  /**
   * The tracking id the control channel opens with (`sb-hc-id`): the `id`
   * option, or one made up (a UUID). Senders can be routed to this
   * listener with it (`allowedListeners`).
   */
  readonly listenerId: string;
  private readonly channel: ListenerControlChannel;
  private readonly requestConfig: RequestConfig;
  private closing: Promise<void> | undefined;
  private closed = false;
  /** Senders handed to the application and not yet settled (accept or reject under way included). */
  private readonly requests = new Set<HybridConnectionsWebSocketRequest>();
  /** HTTP exchanges under way. */
  private readonly exchanges = new Set<HttpExchange>();
  /** HTTP rendezvous open and waiting for their request message (ended by close()). */
  private readonly waitingRendezvous = new Set<WebSocketConnection>();

  constructor(options: HybridConnectionsWebSocketServerOptions) {
    super();
    this.config = resolveOptions(readOptions(options));
    const { uri, entityPath, listenerId } = listenAddress(this.config.server, this.config.id);
    this.listenerId = listenerId;
    const tokens = new TokenProvider(this.config.token, uri);
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
      proxy: this.config.proxy,
      cache: new ConnectionCache(this.config.tlsOptions),
    };
    this.channel = new ListenerControlChannel({
      listenUri: uri,
      tokens,
      keepalive: this.config.controlChannelKeepalive,
      keepaliveInterval: this.config.controlChannelKeepaliveInterval,
      keepaliveGracePeriod: this.config.controlChannelKeepaliveGracePeriod,
      connectTimeout: this.config.connectTimeout,
      backoff: this.config.reconnectBackoff,
      needsBody: () => this.listenerCount('httpRequest') > 0,
      proxy: this.config.proxy,
      cache: this.requestConfig.cache,
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
    this.channel.on('accept', (accept) => this.onAccept(accept));
    this.channel.on('request', (request, body, from) => this.onHttpRequest(request, body, from));
    debug('listening on %s', withoutToken(uri));
    this.channel.start();
  }

  /**
   * A relayed server from a connection string, as the Azure SDKs build
   * clients: the listen URI from `Endpoint` and `EntityPath` (or
   * `options.path`), tokens from what the string holds (its key: SAS tokens
   * minted and renewed; `SharedAccessSignature`: fixed;
   * `Authentication=Managed Identity`: a `ManagedIdentityCredential` from
   * `@azure/identity`, which must then be installed). `options.token` or
   * `options.credential` overrides that.
   */
  static fromConnectionString(
    connectionString: string,
    options: Partial<Omit<HybridConnectionsWebSocketServerOptions, 'server'>> & { path?: string } = {},
  ): HybridConnectionsWebSocketServer {
    const read = readOptions(options);
    const target = connectionStringTarget(connectionString, read);
    const rest = { ...read };
    delete rest.path;
    return new HybridConnectionsWebSocketServer({ ...rest, server: createRelayListenUri(target.address, target.path), ...(target.token === undefined ? {} : { token: target.token }) });
  }

  /** Whether the control channel is open. */
  get isOnline(): boolean {
    return this.channel.isOnline;
  }

  /** The keepalive in force on the control channel (`auto` turns into `pong` if the relay refuses pings). */
  get controlChannelKeepalive(): ControlChannelKeepalive {
    return this.channel.keepaliveMode;
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
   * Closes the server: settles what is under way first (senders the
   * application has not answered, and accepts still opening, get 503;
   * HTTP exchanges are aborted, their req and res closing as for a vanished
   * client), then closes every accepted connection and the control channel
   * (1000), stops every timer and emits `offline`. Resolves when all is
   * closed: after that, nothing of this server runs.
   */
  close(callback?: (error?: Error) => void): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.closing = this.shutdown();
    }
    if (callback) this.closing.then(() => callback(), callback);
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const settling = [...this.requests].map((request) => request.settleForClose());
    for (const exchange of this.exchanges) exchange.abort('the listener is closing');
    for (const connection of this.waitingRendezvous) connection.drop(1001, 'Listener closing', true);
    this.waitingRendezvous.clear();
    await Promise.all([...settling, ...[...this.exchanges].map((e) => e.ended)]);
    const open = [...this.connections];
    this.closeAllConnections();
    // A peer that stopped reading never completes the closing handshake: its socket is cut after closeTimeout.
    await Promise.all([this.channel.close(), ...open.map((c) => closedWithin(c, this.config.closeTimeout + 1000))]);
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
    // Tracked until settled, so that close() can answer it.
    this.requests.add(request);
    const settled = () => this.requests.delete(request);
    request.once('requestAccepted', settled);
    request.once('requestRejected', settled);
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
   * An HTTP request: small ones arrive whole on the control channel (with
   * their body, paired there); large or chunked ones wait at a rendezvous,
   * where the request and its body stream in. Without an `httpRequest`
   * handler the answer is 501.
   */
  private onHttpRequest(request: RequestMessage['request'], body: Buffer | undefined, from: ChannelConnection): void {
    if (this.closed) return;
    if (request.method !== undefined) {
      const exchange = this.track(createExchange(request, this.hybridConnectionPath, this.routeFor(request, from), undefined, body?.length));
      // Its answer goes back on the connection it came on: when that goes first, the exchange ends.
      const lost = () => exchange.controlChannelClosed();
      from.once('close', lost);
      void exchange.ended.then(() => from.off('close', lost));
      if (body) exchange.push(body);
      exchange.push(null);
      this.dispatchHttp(exchange.req, exchange.res);
      return;
    }
    openHttpRendezvous(request.address, this.requestConfig.clientConfig, this.config.rendezvousTimeout, this.requestConfig).then(
      (connection) => {
        if (this.closed) {
          connection.drop();
          return;
        }
        this.waitingRendezvous.add(connection);
        connection.once('close', () => this.waitingRendezvous.delete(connection));
        readRendezvousRequest(
          connection,
          request.address,
          (message) => {
            this.waitingRendezvous.delete(connection);
            const exchange = this.track(createExchange(message, this.hybridConnectionPath, this.routeFor(message, from), connection, message.body ? 'stream' : undefined));
            this.dispatchHttp(exchange.req, exchange.res);
            return {
              push: (chunk) => exchange.push(chunk),
              onRead: (fn) => exchange.onRead(fn),
              cut: (error) => exchange.req.destroy(error),
            };
          },
          (err) => this.report(err),
          this.config.rendezvousTimeout,
        );
      },
      (err: RelayError) => this.report(err),
    );
  }

  /** Where an exchange's answer goes: inline on the connection it came on, or a rendezvous. */
  private routeFor(request: RequestMessage['request'], from: ChannelConnection): ExchangeRoute {
    return {
      sendInline: (json, body) => from.sendJsonWithBody(json, body),
      openRendezvous: () => openHttpRendezvous(request.address, this.requestConfig.clientConfig, this.config.rendezvousTimeout, this.requestConfig),
      report: (error) => this.report(error),
    };
  }

  private track(exchange: HttpExchange): HttpExchange {
    this.exchanges.add(exchange);
    void exchange.ended.then(() => this.exchanges.delete(exchange));
    return exchange;
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
