/**
 * The relay emulator: Azure Relay Hybrid Connections, service side, on
 * loopback. One HTTP(S) server takes WebSocket upgrades on
 * `/$hc/{path}[/suffix]` (`sb-hc-action` = listen, connect, accept) and
 * answers `GET /` with runtime information.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import { WebSocketServer } from 'ws';
import createDebug from 'debug';
import {
  ACTION_ACCEPT,
  ACTION_CONNECT,
  ACTION_LISTEN,
  ACTION_REQUEST,
  MAX_CONTROL_CHANNEL_BODY,
  MAX_HEADER_BYTES,
  PARAM_ACTION,
  PARAM_ID,
  PARAM_STATUS_CODE,
  PARAM_STATUS_DESCRIPTION,
  isLoopbackHost,
} from 'hyco-websocket/protocol';
import type { AccessRight, AcceptMessage } from 'hyco-websocket/protocol';
import { authorize, requestToken } from './auth';
import type { AuthResult } from './auth';
import { CLOSE_ENTITY_GONE, CLOSE_SERVICE_FAULT, ControlChannel } from './control-channel';
import { FrameRelay } from './frame-relay';
import { upgradeProblem, writeFailure, writeSwitchingProtocols } from './handshake';
import { HybridConnection } from './hybrid-connection';
import { checkHybridConnection, checkPath, resolveOptions } from './options';
import type { HybridConnectionOptions, RelayEmulatorOptions, ResolvedOptions, SharedAccessRule } from './options';
import { PARAM_RENDEZVOUS, RendezvousTable } from './rendezvous';
import type { PendingSender } from './rendezvous';
import { selfSignedCertificate } from './tls';
import { PendingHttpRequest, ResponseReader, fitsControlChannel, readBody, requestMessageFor, sendInline, streamBody } from './http-gateway';
import { newTrackingId, sanitizeReason, statusText } from './tracking';

const debug = createDebug('hyco-relay-emulator:gateway');

/** The largest control message a listener may send, bytes (64 KB body + 32 KB headers). */
const MAX_CONTROL_MESSAGE = 96 * 1024;

/** Request headers of a rendezvous that are about the rendezvous itself, not for the sender. */
const RENDEZVOUS_OWN_HEADERS = new Set([
  'host', 'upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol',
  'sec-websocket-extensions', 'origin', 'authorization', 'servicebusauthorization', 'content-length',
  'transfer-encoding', 'user-agent', 'accept-encoding', 'cookie', 'keep-alive', 'te', 'trailer',
  'proxy-authorization', 'proxy-connection',
]);

/** Sender headers that never reach the listener. */
const SENDER_SECRET_HEADERS = new Set(['servicebusauthorization', 'authorization']);

export interface HybridConnectionStats {
  path: string;
  requiresClientAuthorization: boolean;
  listeners: number;
  pendingSenders: number;
  relayedConnections: number;
}

export interface RelayEmulatorStats {
  hybridConnections: HybridConnectionStats[];
  totals: {
    listenersAccepted: number;
    sendersAccepted: number;
    sendersRejected: number;
    sendersTimedOut: number;
    handshakesRefused: number;
  };
}

/** What the emulator reports through its `activity` event (no secrets, no payloads). */
export interface RelayActivity {
  type:
    | 'listener-online'
    | 'listener-offline'
    | 'sender-accepted'
    | 'sender-rejected'
    | 'sender-timed-out'
    | 'connection-closed'
    | 'refused';
  /** The hybrid connection, when known. */
  path: string;
  /** Tracking id of the listener or connection. */
  id: string;
  /** HTTP status or close code, where one applies. */
  status?: number;
  /** Why, for refusals. */
  detail?: string;
}

/**
 * Events: `activity` (a `RelayActivity`) for every listener and connection
 * that comes and goes and every refused handshake.
 */
export class RelayEmulator extends EventEmitter {
  private readonly server: http.Server | https.Server;
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    clientTracking: false,
    maxPayload: MAX_CONTROL_MESSAGE,
  });
  /** HTTP rendezvous: responses and streamed bodies can be large. */
  private readonly httpWss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: 256 * 1024 * 1024 });
  private readonly entities = new Map<string, HybridConnection>();
  private readonly httpRequests = new Map<string, PendingHttpRequest>();
  private readonly httpBySecret = new Map<string, PendingHttpRequest>();
  /** Ids of HTTP requests answered or timed out lately: a late response to one is dropped, not a protocol error. */
  private readonly recentHttpIds = new Set<string>();
  private readonly sockets = new Set<Duplex>();
  private readonly rendezvous: RendezvousTable;
  private readonly totals = { listenersAccepted: 0, sendersAccepted: 0, sendersRejected: 0, sendersTimedOut: 0, handshakesRefused: 0 };
  private closing: Promise<void> | undefined;
  private boundPort = 0;

  /** Starts an emulator and resolves once it listens. */
  static async start(options: RelayEmulatorOptions = {}): Promise<RelayEmulator> {
    const resolved = resolveOptions(options);
    const tls = resolved.tls === 'self-signed' ? await selfSignedCertificate(resolved.namespace) : resolved.tls;
    const emulator = new RelayEmulator(resolved, tls);
    await emulator.listen();
    return emulator;
  }

  private constructor(
    private readonly options: ResolvedOptions,
    /** The certificate served, when TLS is on (PEM), so clients can trust it. */
    private readonly tlsMaterial: { cert: string | Buffer; key: string | Buffer } | undefined,
  ) {
    super();
    for (const hc of options.hybridConnections) this.addEntity(hc);
    this.rendezvous = new RendezvousTable(options.rendezvousTimeoutMs, (sender) => this.onRendezvousTimeout(sender));
    const serverOptions = {
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: options.handshakeTimeoutMs,
      requestTimeout: options.handshakeTimeoutMs + 10_000,
      // Node enforces the timeouts at this interval.
      connectionsCheckingInterval: Math.max(100, Math.min(5000, Math.floor(options.handshakeTimeoutMs / 4))),
    };
    this.server = tlsMaterial
      ? https.createServer({ ...serverOptions, cert: tlsMaterial.cert, key: tlsMaterial.key })
      : http.createServer(serverOptions);
    this.server.on(tlsMaterial ? 'secureConnection' : 'connection', (socket: Socket) => this.track(socket));
    this.server.on('request', (req, res) => this.onHttpRequest(req, res));
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      this.totals.handshakesRefused++;
      if (err.code === 'HPE_HEADER_OVERFLOW') writeFailure(socket, 431, 'Request header fields too large (limit 32 KB)');
      else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') writeFailure(socket, 408, 'Request timeout: the request headers did not arrive in time');
      else writeFailure(socket, 400, 'Bad request: malformed HTTP');
    });
  }

  /** The port the emulator listens on. */
  get port(): number {
    return this.boundPort;
  }

  /** `ws://127.0.0.1:PORT` (or `wss://` with TLS): the namespace argument for the URI helpers. */
  get endpoint(): string {
    return `${this.tlsMaterial ? 'wss' : 'ws'}://${this.displayHost()}:${this.boundPort}`;
  }

  /** The TLS certificate (PEM) when TLS is on. */
  get certificate(): string | undefined {
    return this.tlsMaterial ? String(this.tlsMaterial.cert) : undefined;
  }

  /** The namespace-wide rules (with keys). */
  get rules(): SharedAccessRule[] {
    return this.options.rules.map((r) => ({ ...r, rights: [...r.rights] }));
  }

  /**
   * A connection string for a namespace-wide rule (default: the first).
   * Without TLS it carries `UseDevelopmentEmulator=true` (plain `ws://`).
   */
  connectionString(ruleName?: string): string {
    const rule = ruleName === undefined ? this.options.rules[0] : this.options.rules.find((r) => r.name === ruleName);
    if (!rule) throw new TypeError(`No namespace rule named "${String(ruleName)}"`);
    const base = `Endpoint=sb://${this.displayHost()}:${this.boundPort}/;SharedAccessKeyName=${rule.name};SharedAccessKey=${rule.key}`;
    return this.tlsMaterial ? base : `${base};UseDevelopmentEmulator=true`;
  }

  /** Creates a hybrid connection. Throws if the path is taken or invalid. */
  createHybridConnection(path: string, opts: Omit<HybridConnectionOptions, 'path'> = {}): HybridConnectionStats {
    const entity = this.addEntity(checkHybridConnection({ ...opts, path }));
    return this.entityStats(entity);
  }

  /** Deletes a hybrid connection: its listeners are closed with 1001. Returns whether it existed. */
  deleteHybridConnection(path: string): boolean {
    const key = checkPath(path).toLowerCase();
    const entity = this.entities.get(key);
    if (!entity) return false;
    this.entities.delete(key);
    for (const listener of entity.listeners) listener.close(CLOSE_ENTITY_GONE, 'The hybrid connection was deleted');
    return true;
  }

  /**
   * Fault injection: drops the control channels of `path` (all paths when
   * omitted): `close` sends close `code` (default 1011), `destroy` cuts the
   * socket abruptly, `stall` stops reading (pings go unanswered, as on a dead
   * network path). Returns how many were affected.
   */
  dropControlChannels(path?: string, mode: 'close' | 'destroy' | 'stall' = 'close', code = CLOSE_SERVICE_FAULT): number {
    let count = 0;
    for (const entity of this.entities.values()) {
      if (path !== undefined && entity.path.toLowerCase() !== path.toLowerCase()) continue;
      for (const listener of [...entity.listeners]) {
        if (mode === 'destroy') listener.drop();
        else if (mode === 'stall') {
          listener.stall();
          entity.listeners.delete(listener);
        } else listener.close(code, 'Fault injected by the emulator');
        count++;
      }
    }
    return count;
  }

  /** Runtime information: each hybrid connection with its listeners and connections. */
  stats(): RelayEmulatorStats {
    return {
      hybridConnections: [...this.entities.values()].map((e) => this.entityStats(e)),
      totals: { ...this.totals },
    };
  }

  /** Ends everything: listeners and relayed connections with 1001, waiting senders with 503. */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const sender of this.rendezvous.drain()) writeFailure(sender.socket, 503, 'The relay is shutting down');
    for (const pending of [...this.httpRequests.values()]) pending.finish(503, 'The relay is shutting down');
    this.httpWss.close();
    for (const entity of this.entities.values()) {
      for (const listener of entity.listeners) listener.close(CLOSE_ENTITY_GONE, 'The relay is shutting down');
      for (const relay of entity.relays) relay.shutdown();
    }
    this.wss.close();
    // Whatever is still open after a grace period is cut.
    const socketsClosed = Promise.all(
      [...this.sockets].map((s) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())))),
    );
    const force = setTimeout(() => {
      for (const socket of this.sockets) socket.destroy();
    }, 1000);
    this.server.closeIdleConnections?.();
    await socketsClosed;
    clearTimeout(force);
    await serverClosed;
    debug('closed');
  }

  private async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
    if (!isLoopbackHost(this.options.host)) {
      process.emitWarning(
        `hyco-relay-emulator is listening on ${this.options.host}, which is not a loopback address: other machines can reach it`,
        { code: 'HYCO_EMULATOR_NOT_LOOPBACK' },
      );
    }
    this.server.on('error', (err) => debug('server error: %s', err.message));
    debug('listening on %s', this.endpoint);
  }

  private displayHost(): string {
    const h = this.options.host;
    if (h === '0.0.0.0') return '127.0.0.1';
    if (h === '::' || h === '[::]') return '[::1]';
    return h.includes(':') && !h.startsWith('[') ? `[${h}]` : h;
  }

  private track(socket: Duplex): void {
    this.sockets.add(socket);
    socket.on('error', (err) => debug('socket error: %s', err.message));
    socket.once('close', () => this.sockets.delete(socket));
  }

  private addEntity(options: HybridConnectionOptions): HybridConnection {
    const key = options.path.toLowerCase();
    if (this.entities.has(key)) {
      const err = new Error(`Hybrid connection "${options.path}" already exists`) as Error & { code: string };
      err.code = 'ERR_HYCO_ENTITY_EXISTS';
      throw err;
    }
    const entity = new HybridConnection(options.path, options.requiresClientAuthorization !== false, options.rules ?? []);
    this.entities.set(key, entity);
    return entity;
  }

  private entityStats(entity: HybridConnection): HybridConnectionStats {
    return {
      path: entity.path,
      requiresClientAuthorization: entity.requiresClientAuthorization,
      listeners: entity.listeners.size,
      pendingSenders: entity.pendingSenders,
      relayedConnections: entity.relays.size,
    };
  }

  /** The entity whose path is the longest segment-boundary prefix of `path`, and the rest. */
  private resolveEntity(path: string): { entity: HybridConnection; suffix: string } | undefined {
    const segments = path.split('/');
    for (let n = segments.length; n > 0; n--) {
      let candidate: string;
      try {
        candidate = decodeURIComponent(segments.slice(0, n).join('/')).toLowerCase();
      } catch {
        return undefined;
      }
      const entity = this.entities.get(candidate);
      if (entity) return { entity, suffix: n < segments.length ? `/${segments.slice(n).join('/')}` : '' };
    }
    return undefined;
  }

  private report(activity: RelayActivity): void {
    if (this.listenerCount('activity') > 0) this.emit('activity', activity);
  }

  /** Counts, logs and reports a refused request (WebSocket handshake or HTTP). */
  private noteRefusal(status: number, what: string, trackingId: string, path: string): void {
    this.totals.handshakesRefused++;
    debug('refused %d: %s (%s)', status, what, trackingId);
    this.report({ type: 'refused', path, id: trackingId, status, detail: what });
  }

  private refuse(socket: Duplex, status: number, what: string, trackingId: string, host: string, path: string): void {
    this.noteRefusal(status, what, trackingId, path);
    writeFailure(socket, status, statusText(what, trackingId, host, path));
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => debug('upgrade socket error: %s', err.message));
    const host = req.headers.host ?? `${this.displayHost()}:${this.boundPort}`;
    const hostname = hostOnly(host);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://emulator.invalid');
    } catch {
      this.refuse(socket, 400, 'BadRequest: the request target is not a valid URL', newTrackingId(), hostname, '');
      return;
    }
    const query = url.searchParams;
    const trackingId = query.get(PARAM_ID) || newTrackingId();
    const match = /^\/\$hc\/(.+)$/i.exec(url.pathname);
    if (!match) {
      this.refuse(socket, 404, 'NotFound: WebSocket addresses are /$hc/{hybrid connection}', trackingId, hostname, url.pathname);
      return;
    }
    const rawPath = match[1].replace(/\/+$/, '');
    if (this.options.namespace && hostname !== this.options.namespace) {
      this.refuse(socket, 404, `NamespaceNotFound: this relay answers as ${this.options.namespace}`, trackingId, hostname, rawPath);
      return;
    }
    const action = query.get(PARAM_ACTION);
    switch (action) {
      case ACTION_LISTEN:
        this.onListen(req, socket, head, { host, hostname, rawPath, query, trackingId });
        return;
      case ACTION_CONNECT:
        this.onConnect(req, socket, head, { host, hostname, rawPath, query, trackingId, url });
        return;
      case ACTION_ACCEPT:
        this.onRendezvous(req, socket, head, { hostname, rawPath, query, trackingId });
        return;
      case ACTION_REQUEST:
        this.onHttpRendezvous(req, socket, head, { hostname, rawPath, query, trackingId });
        return;
      default:
        this.refuse(
          socket,
          400,
          action ? `BadRequest: unknown sb-hc-action "${action.slice(0, 32)}"` : 'BadRequest: sb-hc-action is missing',
          trackingId,
          hostname,
          rawPath,
        );
    }
  }

  private check(req: http.IncomingMessage, query: URLSearchParams, entity: HybridConnection, hostname: string, right: AccessRight): AuthResult {
    return authorize(requestToken(req, query), this.authTarget(entity, hostname), right);
  }

  private authTarget(entity: HybridConnection, hostname: string): { entityUri: string; rules: SharedAccessRule[] } {
    return { entityUri: `http://${hostname}/${entity.path}`, rules: [...entity.rules, ...this.options.rules] };
  }

  private onListen(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    ctx: { host: string; hostname: string; rawPath: string; query: URLSearchParams; trackingId: string },
  ): void {
    const { hostname, rawPath, query, trackingId } = ctx;
    let resolved = this.resolveEntity(rawPath);
    if ((!resolved || resolved.suffix) && this.options.autoCreate) {
      try {
        resolved = { entity: this.addEntity({ path: checkPath(decodeURIComponent(rawPath)), requiresClientAuthorization: true }), suffix: '' };
        debug('auto-created hybrid connection %s', resolved.entity.path);
      } catch {
        resolved = undefined;
      }
    }
    if (!resolved || resolved.suffix) {
      this.refuse(socket, 404, `EntityNotFound: no hybrid connection "${rawPath.slice(0, 100)}"`, trackingId, hostname, rawPath);
      return;
    }
    const { entity } = resolved;
    const auth = this.check(req, query, entity, hostname, 'Listen');
    if (!auth.ok) {
      this.refuse(socket, auth.status, auth.reason, trackingId, hostname, entity.path);
      return;
    }
    if (entity.listeners.size >= this.options.maxListenersPerHybridConnection) {
      this.refuse(
        socket,
        403,
        `QuotaExceeded: hybrid connection "${entity.path}" already has ${entity.listeners.size} listeners (the limit is ${this.options.maxListenersPerHybridConnection})`,
        trackingId,
        hostname,
        entity.path,
      );
      return;
    }
    const problem = upgradeProblem(req);
    if (problem) {
      this.refuse(socket, 400, `BadRequest: ${problem}`, trackingId, hostname, entity.path);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const responses = new ResponseReader((id) => this.lookupHttp(id));
      const channel = new ControlChannel(ws, entity, ctx.host, trackingId, auth.expiry, {
        authorizeRenewal: (token) => authorize(token, this.authTarget(entity, hostname), 'Listen'),
        onData: (_channel, data, isBinary) => responses.take(data, isBinary) === true,
        idleTimeoutMs: this.options.idleTimeoutMs,
        onClose: (c) => {
          if (entity.listeners.delete(c)) this.report({ type: 'listener-offline', path: entity.path, id: trackingId });
        },
      });
      if (this.closing || this.entities.get(entity.path.toLowerCase()) !== entity) {
        channel.close(CLOSE_ENTITY_GONE, 'The hybrid connection is gone');
        return;
      }
      entity.listeners.add(channel);
      this.totals.listenersAccepted++;
      debug('listener %s online on %s (%d)', trackingId, entity.path, entity.listeners.size);
      this.report({ type: 'listener-online', path: entity.path, id: trackingId });
    });
  }

  private onConnect(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    ctx: { host: string; hostname: string; rawPath: string; query: URLSearchParams; trackingId: string; url: URL },
  ): void {
    const { hostname, rawPath, query, trackingId } = ctx;
    const resolved = this.resolveEntity(rawPath);
    if (!resolved) {
      this.refuse(socket, 404, `EntityNotFound: no hybrid connection for "${rawPath.slice(0, 100)}"`, trackingId, hostname, rawPath);
      return;
    }
    const { entity, suffix } = resolved;
    if (entity.requiresClientAuthorization) {
      const auth = this.check(req, query, entity, hostname, 'Send');
      if (!auth.ok) {
        this.refuse(socket, auth.status, auth.reason, trackingId, hostname, entity.path);
        return;
      }
    }
    const problem = upgradeProblem(req);
    if (problem) {
      this.refuse(socket, 400, `BadRequest: ${problem}`, trackingId, hostname, entity.path);
      return;
    }
    const listener = entity.pickListener();
    if (!listener) {
      this.refuse(socket, 404, `EndpointNotFound: there is no listener online for "${entity.path}"`, trackingId, hostname, entity.path);
      return;
    }
    const sender = this.rendezvous.add(entity, trackingId, req, socket, head);
    const message: AcceptMessage = {
      accept: {
        address: this.rendezvousAddress(listener, entity, suffix, query, sender),
        id: trackingId,
        connectHeaders: connectHeaders(req),
        remoteEndpoint: { address: req.socket.remoteAddress ?? '', port: req.socket.remotePort ?? 0 },
      },
    };
    debug('sender %s for %s offered to listener %s', trackingId, entity.path, listener.trackingId);
    listener.sendAccept(message);
  }

  /** The accept address: the listener's own scheme and host, the sender's path and query (less sb-hc-*). */
  private rendezvousAddress(
    listener: ControlChannel,
    entity: HybridConnection,
    suffix: string,
    senderQuery: URLSearchParams,
    sender: PendingSender,
  ): string {
    const query = new URLSearchParams();
    for (const [name, value] of senderQuery) if (!name.toLowerCase().startsWith('sb-hc-')) query.append(name, value);
    query.append(PARAM_ACTION, ACTION_ACCEPT);
    query.append(PARAM_ID, sender.id);
    query.append(PARAM_RENDEZVOUS, sender.secret);
    const scheme = this.tlsMaterial ? 'wss' : 'ws';
    return `${scheme}://${listener.host}/$hc/${encodeURI(entity.path)}${suffix}?${query.toString()}`;
  }

  private onRendezvous(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    ctx: { hostname: string; rawPath: string; query: URLSearchParams; trackingId: string },
  ): void {
    const { hostname, rawPath, query, trackingId } = ctx;
    const secret = query.get(PARAM_RENDEZVOUS);
    const statusParam = query.get(PARAM_STATUS_CODE) ?? query.get('statusCode');
    if (statusParam !== null) {
      const status = Number(statusParam);
      if (!/^\d{3}$/.test(statusParam) || status < 200 || status > 599) {
        this.refuse(socket, 400, 'BadRequest: sb-hc-statusCode must be an HTTP status from 200 to 599', trackingId, hostname, rawPath);
        return;
      }
      const sender = this.rendezvous.take(secret);
      if (!sender) {
        this.refuse(socket, 403, 'RendezvousFailed: the address is invalid, used or expired', trackingId, hostname, rawPath);
        return;
      }
      const description = query.get(PARAM_STATUS_DESCRIPTION) ?? query.get('statusDescription') ?? http.STATUS_CODES[status] ?? 'Rejected';
      this.totals.sendersRejected++;
      debug('listener rejected sender %s with %d', sender.id, status);
      writeFailure(sender.socket, status, sanitizeReason(description));
      this.report({ type: 'sender-rejected', path: sender.entity.path, id: sender.id, status });
      writeFailure(socket, 410, 'Gone: the sender was rejected');
      return;
    }
    if (!this.rendezvous.has(secret)) {
      this.refuse(socket, 403, 'RendezvousFailed: the address is invalid, used or expired', trackingId, hostname, rawPath);
      return;
    }
    const problem = upgradeProblem(req);
    if (problem) {
      this.refuse(socket, 400, `BadRequest: ${problem}`, trackingId, hostname, rawPath);
      return;
    }
    const sender = this.rendezvous.take(secret);
    if (!sender) {
      this.refuse(socket, 403, 'RendezvousFailed: the sender has gone', trackingId, hostname, rawPath);
      return;
    }
    const negotiated: [string, string][] = [];
    const protocol = req.headers['sec-websocket-protocol'];
    const extensions = req.headers['sec-websocket-extensions'];
    if (typeof protocol === 'string' && protocol) negotiated.push(['Sec-WebSocket-Protocol', protocol]);
    if (typeof extensions === 'string' && extensions) negotiated.push(['Sec-WebSocket-Extensions', extensions]);
    socket.pause();
    sender.detach();
    writeSwitchingProtocols(socket, req, negotiated);
    writeSwitchingProtocols(sender.socket, sender.req, [...negotiated, ...extraResponseHeaders(req)]);
    const entity = sender.entity;
    const relay = new FrameRelay(sender.socket, socket, {
      onClosed: (r) => {
        entity.relays.delete(r);
        debug('relayed connection %s closed', sender.id);
        this.report({ type: 'connection-closed', path: entity.path, id: sender.id });
      },
    });
    entity.relays.add(relay);
    this.totals.sendersAccepted++;
    debug('relayed connection %s joined on %s', sender.id, entity.path);
    this.report({ type: 'sender-accepted', path: entity.path, id: sender.id });
    relay.start(sender.head, head);
  }

  private onRendezvousTimeout(sender: PendingSender): void {
    this.totals.sendersTimedOut++;
    this.report({ type: 'sender-timed-out', path: sender.entity.path, id: sender.id, status: 504 });
    writeFailure(
      sender.socket,
      504,
      statusText('GatewayTimeout: the listener did not accept the connection in time', sender.id, hostOnly(sender.req.headers.host ?? ''), sender.entity.path),
    );
  }

  private onHttpRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/' || path === '/$status')) {
      const body = JSON.stringify(
        {
          service: 'hyco-relay-emulator',
          endpoint: this.endpoint,
          ...this.stats(),
        },
        null,
        2,
      );
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end(body);
      return;
    }
    const trackingId = newTrackingId();
    const hostname = hostOnly(req.headers.host ?? '');
    if (/^\/\$hc\//i.test(path)) {
      res.writeHead(400, statusText('BadRequest: /$hc/ addresses take WebSocket upgrades only', trackingId, hostname, path));
      res.end();
      req.resume();
      return;
    }
    void this.onHttpGateway(req, res, trackingId, hostname);
  }

  /** An HTTP sender: deliver the request to one listener and relay its answer. */
  private async onHttpGateway(req: http.IncomingMessage, res: http.ServerResponse, trackingId: string, hostname: string): Promise<void> {
    const fail = (status: number, what: string, path: string) => {
      this.noteRefusal(status, what, trackingId, path);
      res.writeHead(status, statusText(what, trackingId, hostname, path), { 'Content-Type': 'text/plain; charset=utf-8', Via: '1.1 hyco-relay-emulator' });
      res.end(`${what}\n`);
      req.resume();
    };
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://emulator.invalid');
    } catch {
      fail(400, 'BadRequest: the request target is not a valid URL', '');
      return;
    }
    if (this.options.namespace && hostname !== this.options.namespace) {
      fail(404, `NamespaceNotFound: this relay answers as ${this.options.namespace}`, url.pathname);
      return;
    }
    const rawPath = url.pathname.replace(/^\/+/, '').replace(/\/+$/, '');
    const resolved = rawPath ? this.resolveEntity(rawPath) : undefined;
    if (!resolved) {
      fail(404, `EntityNotFound: no hybrid connection for "${rawPath.slice(0, 100)}"`, rawPath);
      return;
    }
    const { entity } = resolved;
    if (entity.requiresClientAuthorization) {
      const auth = this.check(req, url.searchParams, entity, hostname, 'Send');
      if (!auth.ok) {
        fail(auth.status, auth.reason, entity.path);
        return;
      }
    }
    const listener = entity.pickListener();
    if (!listener) {
      fail(502, `BadGateway: there is no listener online for "${entity.path}"`, entity.path);
      return;
    }
    const pending = new PendingHttpRequest(entity, req, res, requestMessageFor(req, url, hostname), (p) => this.forgetHttp(p));
    this.httpRequests.set(pending.id, pending);
    this.httpBySecret.set(pending.secret, pending);
    pending.timer = setTimeout(
      () => pending.finish(504, statusText('GatewayTimeout: the listener did not answer in time', pending.id, hostname, entity.path)),
      this.options.httpResponseTimeoutMs,
    );
    res.on('close', () => pending.finish());
    const scheme = this.tlsMaterial ? 'wss' : 'ws';
    const address = `${scheme}://${listener.host}/$hc/${encodeURI(entity.path)}?sb-hc-action=request&sb-hc-id=${pending.id}&${PARAM_RENDEZVOUS}=${pending.secret}`;
    pending.address = address;
    debug('HTTP %s %s for %s (%s)', pending.message.method, pending.message.requestTarget, entity.path, pending.id);
    if (fitsControlChannel(req)) {
      let body: Buffer;
      try {
        body = await readBody(req, MAX_CONTROL_CHANNEL_BODY);
      } catch {
        pending.finish(400, 'BadRequest: the request body did not match its length');
        return;
      }
      if (pending.done) return;
      if (listener.isOpen) sendInline(listener, address, pending, body);
      else pending.finish(502, 'BadGateway: the listener went away');
    } else {
      // Too large (or of unknown length) for the control channel: the listener takes it up over a rendezvous.
      listener.sendJson({ request: { address, id: pending.id } });
    }
  }

  /** The listener's rendezvous for an HTTP request (sb-hc-action=request). */
  private onHttpRendezvous(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    ctx: { hostname: string; rawPath: string; query: URLSearchParams; trackingId: string },
  ): void {
    const pending = this.httpBySecret.get(ctx.query.get(PARAM_RENDEZVOUS) ?? '');
    if (!pending || pending.done) {
      this.refuse(socket, 403, 'RendezvousFailed: the address is invalid, used or expired', ctx.trackingId, ctx.hostname, ctx.rawPath);
      return;
    }
    const problem = upgradeProblem(req);
    if (problem) {
      this.refuse(socket, 400, `BadRequest: ${problem}`, ctx.trackingId, ctx.hostname, ctx.rawPath);
      return;
    }
    this.httpBySecret.delete(pending.secret);
    this.httpWss.handleUpgrade(req, socket, head, (ws) => {
      const responses = new ResponseReader((id) => (id === pending.id ? pending : undefined));
      ws.on('message', (data, isBinary) => {
        if (responses.take(data, isBinary) !== true) ws.close(1008, 'Expected a response to this request');
      });
      ws.on('error', (err) => debug('HTTP rendezvous error: %s', err.message));
      ws.on('close', () => {
        if (!pending.done) pending.finish(502, 'BadGateway: the listener closed the rendezvous without answering');
      });
      pending.res.on('close', () => ws.terminate());
      if (!pending.delivered) {
        pending.delivered = true;
        const hasBody = Boolean(pending.req.headers['transfer-encoding']) || Number(pending.req.headers['content-length'] ?? 0) > 0;
        ws.send(JSON.stringify({ request: { address: pending.address, id: pending.id, ...pending.message, body: hasBody } }));
        if (hasBody) streamBody(pending.req, ws);
      }
    });
  }

  private lookupHttp(id: string): PendingHttpRequest | undefined | 'gone' {
    return this.httpRequests.get(id) ?? (this.recentHttpIds.has(id) ? 'gone' : undefined);
  }

  private forgetHttp(pending: PendingHttpRequest): void {
    this.httpRequests.delete(pending.id);
    this.httpBySecret.delete(pending.secret);
    this.recentHttpIds.add(pending.id);
    if (this.recentHttpIds.size > 10_000) this.recentHttpIds.delete(this.recentHttpIds.values().next().value as string);
  }
}

function hostOnly(host: string): string {
  const bracket = /^\[([^\]]+)\]/.exec(host);
  if (bracket) return `[${bracket[1].toLowerCase()}]`;
  return host.replace(/:\d+$/, '').toLowerCase();
}

/** The sender's handshake headers for the listener: all of them but its authorization. */
function connectHeaders(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    if (SENDER_SECRET_HEADERS.has(name.toLowerCase())) continue;
    const existing = Object.keys(out).find((k) => k.toLowerCase() === name.toLowerCase());
    if (existing) out[existing] += `${name.toLowerCase() === 'cookie' ? '; ' : ', '}${raw[i + 1]}`;
    else out[name] = raw[i + 1];
  }
  return out;
}

/** Headers the listener sent on its rendezvous for the sender's 101 (e.g. Set-Cookie). */
function extraResponseHeaders(req: http.IncomingMessage): [string, string][] {
  const out: [string, string][] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    const lower = name.toLowerCase();
    if (RENDEZVOUS_OWN_HEADERS.has(lower) || lower.startsWith('sec-websocket-') || /^\d+$/.test(name)) continue;
    out.push([name, raw[i + 1]]);
  }
  return out;
}

