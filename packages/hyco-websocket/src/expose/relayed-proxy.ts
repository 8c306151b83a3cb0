/**
 * RelayedProxy: a relayed server that forwards everything it is sent to an
 * origin, a local HTTP and WebSocket server. HTTP requests sent to
 * `https://{namespace}/{path}/...` reach the origin as requests for
 * `/...` (after its base path); WebSockets sent to
 * `wss://{namespace}/$hc/{path}/...` reach it as WebSockets.
 *
 * Events: `online` when the control channel opens, `connecting` (attempt,
 * delayMs) when it retries, `offline` (lastError) when it gives up or is
 * closed, `error` and `warning` (RelayError; never a crash when nobody
 * listens), and `exchange` (ProxyExchange) for each request or connection
 * once it has ended.
 *
 * The relay's own deadlines apply to a slow origin: the service answers an
 * HTTP sender 504 when no response has come within 60 s, and a WebSocket
 * sender must be accepted within the rendezvous address's life (about 30 s).
 */
import { EventEmitter } from 'node:events';
import type { SecureContextOptions } from 'node:tls';
import createDebug from 'debug';
import { RelayArgumentError } from '../errors';
import type { RelayError } from '../errors';
import { connectionStringTarget } from '../identity';
import { createRelayListenUri } from '../protocol/uri';
import { HybridConnectionsWebSocketServer } from '../server';
import type { HybridConnectionsWebSocketServerOptions } from '../server-options';
import { MAX_TIMER_MS } from '../timers';
import type { ProxyExchange } from './exchange';
import type { ForwardedFor } from './forwarded-headers';
import { proxyHttp } from './http-proxy';
import { Origin } from './origin';
import { proxyWebSocket } from './websocket-proxy';

const debug = createDebug('hyco-websocket:expose');

/** Frames are passed on one by one, never assembled: this bounds each one (a browser sends a message as one frame). */
const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;
/** The relay gives an HTTP response 60 s; waiting for an origin longer serves nobody. */
const DEFAULT_ORIGIN_TIMEOUT = 60_000;

/** Options of the relayed server that a proxy sets itself. */
type FixedServerOptions = 'autoAcceptConnections' | 'assembleFragments' | 'fragmentOutgoingMessages' | 'fragmentationThreshold' | 'maxReceivedMessageSize' | 'ignoreXForwardedFor';

/**
 * Options of `relayedProxy`: those of `relayedServer` (the listen address,
 * token or credential, proxy, tlsOptions, keepalive, reconnect...) and the
 * origin's. Times are in milliseconds.
 */
export interface RelayedProxyOptions extends Omit<HybridConnectionsWebSocketServerOptions, FixedServerOptions> {
  /**
   * The origin: an `http://` or `https://` URL, optionally with a base path
   * (`http://127.0.0.1:3000`, `https://localhost:8443/app`). A request for
   * `/{hybrid connection}/x?y` goes to `{base path}/x?y`; WebSockets go to
   * the same address with `ws://` or `wss://`. Required.
   */
  origin: string;
  /** (https origins) CA certificates (PEM) to trust for the origin instead of Node's bundled ones. */
  originCa?: SecureContextOptions['ca'];
  /** (https origins) Accept any certificate from the origin (self-signed development servers). Default false. */
  insecureOrigin?: boolean;
  /**
   * Give up on the origin when it has not answered a request (its response
   * head) or a WebSocket upgrade within this long: 504. Default 60000 (the
   * relay's own HTTP deadline).
   */
  originTimeout?: number;
  /** Largest WebSocket frame accepted from either side, bytes (frames pass one by one, messages are not limited). Default 16 MiB. */
  maxReceivedFrameSize?: number;
}

/** The proxy's events and their arguments (see the class comment). */
export interface RelayedProxyEvents {
  online: [];
  connecting: [attempt: number, delayMs: number];
  offline: [lastError: RelayError | undefined];
  error: [error: RelayError];
  warning: [warning: RelayError];
  exchange: [exchange: ProxyExchange];
}

function checkOptions(options: RelayedProxyOptions): void {
  if (typeof options !== 'object' || options === null) throw new RelayArgumentError('The options argument must be an object');
  const { originCa, originTimeout } = options;
  const isCa = (value: unknown) => typeof value === 'string' || Buffer.isBuffer(value);
  if (originCa !== undefined && !isCa(originCa) && !(Array.isArray(originCa) && originCa.every(isCa))) {
    throw new RelayArgumentError('The "originCa" option must be PEM text, a Buffer, or an array of them');
  }
  if (originTimeout !== undefined && (typeof originTimeout !== 'number' || !Number.isFinite(originTimeout) || originTimeout <= 0 || originTimeout > MAX_TIMER_MS)) {
    throw new RelayArgumentError(`The "originTimeout" option must be a positive number of ms, at most ${MAX_TIMER_MS}`);
  }
}

/** The public addresses of the hybrid connection a listen URI names, and how senders reach it. */
function publicAddresses(server: string, entityPath: string): { httpUrl: string; webSocketUrl: string; forwarded: Omit<ForwardedFor, 'address'> } {
  const url = new URL(server);
  const secure = url.protocol === 'wss:';
  // The path as the listen URI spells it (already encoded), after `/$hc/`.
  const rawPath = url.pathname.replace(/^\/\$hc\//i, '').replace(/\/+$/, '');
  return {
    httpUrl: `${secure ? 'https' : 'http'}://${url.host}/${rawPath}/`,
    webSocketUrl: `${secure ? 'wss' : 'ws'}://${url.host}/$hc/${rawPath}`,
    forwarded: { proto: secure ? 'https' : 'http', host: url.host, prefix: `/${rawPath || encodeURIComponent(entityPath)}` },
  };
}

export class RelayedProxy extends EventEmitter<RelayedProxyEvents> {
  /** The origin, normalised (`http://127.0.0.1:3000`). */
  readonly origin: string;
  /** The hybrid connection's path. */
  readonly hybridConnectionPath: string;
  /** The tracking id the control channel opens with (`sb-hc-id`). */
  readonly listenerId: string;
  /** Where HTTP senders go: `https://{namespace}/{path}/` (`http://` for an emulator without TLS). */
  readonly httpUrl: string;
  /** Where WebSocket senders go: `wss://{namespace}/$hc/{path}` (`ws://` for an emulator without TLS). */
  readonly webSocketUrl: string;
  private readonly server: HybridConnectionsWebSocketServer;
  private readonly target: Origin;
  /** What is under way, each with how to stop it for close(). */
  private readonly active = new Set<() => void | Promise<void>>();
  private closing: Promise<void> | undefined;

  constructor(options: RelayedProxyOptions) {
    super();
    checkOptions(options);
    const { origin, originCa, insecureOrigin, originTimeout, ...serverOptions } = options;
    this.target = new Origin(origin, { ...(originCa === undefined ? {} : { ca: originCa }), ...(insecureOrigin === undefined ? {} : { insecure: insecureOrigin }) });
    this.origin = this.target.href;
    const maxFrame = serverOptions.maxReceivedFrameSize ?? DEFAULT_MAX_FRAME;
    try {
      this.server = new HybridConnectionsWebSocketServer({
        ...serverOptions,
        maxReceivedFrameSize: maxFrame,
        autoAcceptConnections: false,
        // Frames pass one by one: never assembled, never split again.
        assembleFragments: false,
        fragmentOutgoingMessages: false,
        // X-Forwarded-For is passed on to the origin; the sender's own address is the relay's word for it.
        ignoreXForwardedFor: true,
      });
    } catch (err) {
      this.target.close();
      throw err;
    }
    this.hybridConnectionPath = this.server.hybridConnectionPath;
    this.listenerId = this.server.listenerId;
    const addresses = publicAddresses(options.server, this.hybridConnectionPath);
    this.httpUrl = addresses.httpUrl;
    this.webSocketUrl = addresses.webSocketUrl;
    const timeoutMs = originTimeout ?? DEFAULT_ORIGIN_TIMEOUT;
    const done = (exchange: ProxyExchange) => this.emit('exchange', exchange);
    const track = (stop: () => void | Promise<void>) => {
      this.active.add(stop);
      return () => void this.active.delete(stop);
    };
    const httpContext = { origin: this.target, forwarded: addresses.forwarded, timeoutMs, done, track };
    const webSocketContext = {
      ...httpContext,
      clientConfig: {
        maxReceivedFrameSize: maxFrame,
        assembleFragments: false,
        fragmentOutgoingMessages: false,
        closeTimeout: this.server.config.closeTimeout,
        disableNagleAlgorithm: this.server.config.disableNagleAlgorithm,
      },
    };
    this.server.on('httpRequest', (req, res) => proxyHttp(req, res, httpContext));
    this.server.on('request', (request) => proxyWebSocket(request, webSocketContext));
    this.server.on('online', () => this.emit('online'));
    this.server.on('connecting', (attempt, delayMs) => this.emit('connecting', attempt, delayMs));
    this.server.on('offline', (lastError) => this.emit('offline', lastError));
    this.server.on('error', (error) => this.report('error', error));
    this.server.on('warning', (warning) => this.report('warning', warning));
    debug('exposing %s on %s', this.origin, this.httpUrl);
  }

  /**
   * A proxy from a connection string, as `relayedServer.fromConnectionString`
   * builds a server: the listen address from `Endpoint` and `EntityPath` (or
   * `options.path`), tokens from what the string holds unless
   * `options.token` or `options.credential` is given.
   */
  static fromConnectionString(connectionString: string, options: Omit<RelayedProxyOptions, 'server'> & { path?: string }): RelayedProxy {
    if (typeof options !== 'object' || options === null) throw new RelayArgumentError('The options argument must be an object with "origin"');
    const target = connectionStringTarget(connectionString, options);
    const rest = { ...options };
    delete rest.path;
    return new RelayedProxy({ ...rest, server: createRelayListenUri(target.address, target.path), ...(target.token === undefined ? {} : { token: target.token }) });
  }

  /** Whether the control channel is open. */
  get isOnline(): boolean {
    return this.server.isOnline;
  }

  /** The last error the control channel met, if any. */
  get lastError(): RelayError | undefined {
    return this.server.lastError;
  }

  /**
   * Closes the proxy: WebSockets are closed on both sides (1001), upgrades
   * still waiting for the origin are answered 503, HTTP requests under way
   * are aborted (their senders' responses cut, their origin requests
   * dropped), then the control channel closes and the connections kept open
   * to the origin are closed. Resolves when all is closed: after that,
   * nothing of this proxy runs.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const stops = [...this.active].map((stop) => stop());
      await Promise.all([...stops, this.server.close()]);
      this.target.close();
    })();
    return this.closing;
  }

  private report(event: 'error' | 'warning', error: RelayError): void {
    // An error nobody listens for must not crash the app.
    if (this.listenerCount(event) > 0) this.emit(event, error);
    else debug('%s (no listener): %s', event, error.message);
  }
}

/** Starts a relayed proxy: every request and WebSocket sent to the hybrid connection goes to `options.origin`. */
export function relayedProxy(options: RelayedProxyOptions): RelayedProxy {
  return new RelayedProxy(options);
}
