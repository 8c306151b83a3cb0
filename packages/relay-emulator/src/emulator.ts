/**
 * The relay emulator: Azure Relay Hybrid Connections, service side, on
 * loopback. One HTTP(S) server takes WebSocket upgrades on
 * `/$hc/{path}[/suffix]` and plain HTTP requests; each protocol action
 * lives in a file named for it (listen, connect, accept, http-request,
 * http-rendezvous). This class composes them and owns start and close.
 *
 * Every handler of client input is guarded: an unexpected exception ends
 * that one client's exchange with the protocol's answer (500, or a cut
 * socket once a 101 has gone out) and a debug line, and nothing else.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import { WebSocketServer } from 'ws';
import { ACTION_ACCEPT, ACTION_CONNECT, ACTION_LISTEN, ACTION_REQUEST, MAX_HEADER_BYTES, PARAM_ACTION, createRelayToken, isLoopbackHost } from 'hyco-websocket/protocol';
import { handleAccept, rendezvousTimedOut } from './accept';
import { handleConnect } from './connect';
import { RelayContext } from './context';
import type { RelayActivity } from './activity';
import { CLOSE_ENTITY_GONE, CLOSE_SERVICE_FAULT } from './control-channel';
import { isAnswered, writeFailure } from './handshake';
import { viaEntry } from './headers';
import { HttpExchanges } from './http-exchange';
import { handleHttpRendezvous } from './http-rendezvous';
import { handleHttpRequest } from './http-request';
import { handleListen } from './listen';
import { Namespace } from './namespace';
import type { HybridConnectionStats, RelayEmulatorStats } from './stats';
import { Dashboard, isDashboardPath, snapshot, wantsPage } from './dashboard';
import { EntraAuthority, RELAY_AUDIENCE, RELAY_SCOPE } from './entra';
import type { RoleAssignment } from './entra';
import { MANAGED_IDENTITY_PATH, handleManagedIdentity, handleOAuth, isOAuthPath } from './oauth';
import { argumentError, checkHybridConnection, checkPath, checkRoleAssignments, resolveOptions } from './options';
import type { HybridConnectionOptions, RelayEmulatorOptions, ResolvedOptions, SharedAccessRule } from './options';
import { RendezvousTable } from './rendezvous';
import { handleRuntimeInformation, isRuntimeInformationRequest } from './runtime-info';
import { isProblem, parseTarget } from './request-target';
import type { RequestTarget } from './request-target';
import { caDirectory, certificateHostNames, developmentCaCertificate, selfSignedCertificate } from './tls';
import type { TlsMaterial } from './tls';
import { endpointNotFound } from './reason-phrases';
import { newTrackingId, printable, safeDebug, statusText } from './tracking';
import { HEALTH_PATH, RESERVED_HEALTH_PATH, answerHealth } from './health';
import type { EmulatorState } from './health';
import { FAVICON_PATHS, answerFavicon } from './favicon';
import { handleManagement, isManagementMethod } from './management';
import type { HybridConnection } from './hybrid-connection';
import { Inspector, answerInspector, isInspectorRequest } from './inspector';

export type { RelayActivity } from './activity';
export type { HybridConnectionStats, RelayEmulatorStats } from './stats';
export type { EmulatorState } from './health';

/** What `connectionString` takes: a namespace rule's name, and the hybrid connection to name (`EntityPath`). */
export interface ConnectionStringOptions {
  /** The namespace rule whose key it carries. Default: the first. */
  rule?: string;
  /** The hybrid connection, as `EntityPath`. Default: none. */
  entityPath?: string;
}

const debug = safeDebug('hyco-relay-emulator:gateway');

/** The largest control message a listener may send, bytes (64 KB body + 32 KB headers). */
const MAX_CONTROL_MESSAGE = 96 * 1024;

/** What createTokenCredential takes. */
export interface CreateTokenCredentialOptions {
  /** The principal's object id (`oid` in its tokens). */
  principal: string;
  /** Roles to assign it: `[{ role, scope? }]`. */
  roles?: { role: string; scope?: string }[];
  /** Each token's life, seconds. Default 3600. */
  lifetimeSeconds?: number;
}

/** A TokenCredential (the Azure SDK's interface) of an emulator principal. */
export interface EmulatorTokenCredential {
  readonly principal: string;
  getToken(scopes: string | string[]): Promise<{ token: string; expiresOnTimestamp: number; tokenType: string }>;
}

/** The emulator's events and their arguments. */
export interface RelayEmulatorEvents {
  /** A listener or connection came or went, or a handshake was refused. */
  activity: [activity: RelayActivity];
}

/**
 * Events: `activity` (a `RelayActivity`) for every listener and connection
 * that comes and goes and every refused handshake.
 */
export class RelayEmulator extends EventEmitter<RelayEmulatorEvents> {
  private readonly server: http.Server | https.Server;
  /** Control channels: JSON messages and inline bodies, bounded in size, never in fragments. */
  private readonly wss: WebSocketServer;
  private readonly namespace = new Namespace();
  private readonly ctx: RelayContext;
  private readonly sockets = new Set<Duplex>();
  private closing: Promise<void> | undefined;
  private boundPort = 0;
  /** Starting until everything is in place, then ready; stopping from close() until every connection has ended. */
  private lifecycle: EmulatorState = 'starting';
  /** The identity provider, made once the socket is bound (nothing is served before). */
  private entraAuthority: EntraAuthority | undefined;
  private readonly dashboard: Dashboard;
  /** What went through the relay: records, exports, replay, metrics. */
  private readonly inspector: Inspector;
  /** The managed identity endpoint's secret (IDENTITY_HEADER). */
  private readonly identityHeader = randomBytes(24).toString('base64url');

  /** Starts an emulator and resolves once it listens. */
  static async start(options: RelayEmulatorOptions = {}): Promise<RelayEmulator> {
    const resolved = resolveOptions(options);
    const hostNames = certificateHostNames([resolved.namespace, resolved.host]);
    let tls: TlsMaterial | undefined;
    if (resolved.tls === 'self-signed') tls = await selfSignedCertificate(hostNames);
    else if (resolved.tls === 'development-ca') tls = await developmentCaCertificate(caDirectory(resolved.caDirectory), hostNames);
    else tls = resolved.tls;
    const emulator = new RelayEmulator(resolved, tls);
    // Bound first: until the rest is in place, every request (the health check included) gets 503, not a refused connection.
    await emulator.listen();
    try {
      emulator.entraAuthority = await EntraAuthority.create(resolved.roleAssignments, resolved.entraTokens);
    } catch (err) {
      await emulator.close();
      throw err;
    }
    emulator.lifecycle = 'ready';
    debug('ready on %s', emulator.endpoint);
    if (resolved.entraTokens === 'unverified') {
      process.emitWarning(
        'hyco-relay-emulator takes Microsoft Entra ID tokens without checking their signature (entraTokens: "unverified"): for local development on loopback only, never as a security boundary',
        { code: 'HYCO_EMULATOR_UNVERIFIED_TOKENS' },
      );
    }
    return emulator;
  }

  private constructor(
    private readonly options: ResolvedOptions,
    /** The certificate served, when TLS is on (PEM), so clients can trust it; with the development CA, the CA's too. */
    private readonly tlsMaterial: TlsMaterial | undefined,
  ) {
    super();
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      clientTracking: false,
      maxPayload: MAX_CONTROL_MESSAGE,
      maxFragments: 0,
      // With listenerPings 'close' a ping gets no pong: the channel closes.
      autoPong: options.listenerPings === 'answer',
    });
    for (const hc of options.hybridConnections) this.namespace.add(hc);
    const rendezvous = new RendezvousTable(options.rendezvousTimeoutMs, (sender) => rendezvousTimedOut(this.ctx, sender));
    this.ctx = new RelayContext(options, this.namespace, rendezvous, new HttpExchanges(), tlsMaterial ? 'wss' : 'ws', () => this.entra, (activity) => {
      this.inspector.activity(activity);
      if (this.listenerCount('activity') > 0) this.emit('activity', activity);
    });
    this.inspector = new Inspector(options.inspector, {
      listeners: () => this.namespace.all().map((e) => ({ path: e.path, listeners: e.listeners.size })),
      connectionsTotal: () => this.namespace.totals.sendersAccepted,
      rendezvousTimeouts: () => this.namespace.totals.sendersTimedOut,
      scheme: tlsMaterial ? 'https' : 'http',
      route: {
        origin: () => ({
          protocol: tlsMaterial ? 'https:' : 'http:',
          host: this.displayHost().replace(/^\[|\]$/g, ''),
          port: this.boundPort,
          ...(tlsMaterial ? { ca: tlsMaterial.ca?.certificate ?? String(tlsMaterial.cert) } : {}),
        }),
        token: (hostname, path) => {
          const entity = this.namespace.get(path);
          if (!entity?.requiresClientAuthorization) return undefined;
          const rule = [...entity.rules, ...this.options.rules].find((r) => r.rights.includes('Send') || r.rights.includes('Manage'));
          return rule ? createRelayToken(`http://${hostname}/${entity.path}`, rule.name, rule.key, 300) : undefined;
        },
      },
    });
    this.ctx.inspector = this.inspector;
    this.dashboard = new Dashboard(
      () => snapshot(this.endpoint, this.stats(), this.namespace.relays, this.ctx.recent, { recording: this.inspector.recording, captureBodies: this.inspector.options.captureBodies, version: this.inspector.version }),
      [options.host, options.namespace],
    );
    this.ctx.onActivity = () => this.dashboard.notify();
    this.inspector.onChange = () => this.dashboard.notify();
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
    // Every TCP connection from its first byte (under TLS, also while its handshake is under way), so that close() can end it.
    this.server.on('connection', (socket: Socket) => this.track(socket));
    if (tlsMaterial) {
      this.server.on('secureConnection', (socket: TLSSocket) => {
        this.namespace.totals.tlsHandshakes++;
        if (socket.isSessionReused()) this.namespace.totals.tlsSessionsResumed++;
        this.track(socket);
      });
    }
    this.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.guardHttp(req, res));
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.guardUpgrade(req, socket, head));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      this.namespace.totals.handshakesRefused++;
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
    return `${this.ctx.scheme}://${this.displayHost()}:${this.boundPort}`;
  }

  /** The TLS certificate (PEM) when TLS is on (with the development CA: the server's certificate, then the CA's). */
  get certificate(): string | undefined {
    return this.tlsMaterial ? String(this.tlsMaterial.cert) : undefined;
  }

  /** With `tls: 'development-ca'`: the CA certificate's file, the one clients trust (`NODE_EXTRA_CA_CERTS`, the system store, a Java trust store). */
  get caCertificatePath(): string | undefined {
    return this.tlsMaterial?.ca?.path;
  }

  /** With `tls: 'development-ca'`: the CA certificate (PEM). */
  get caCertificate(): string | undefined {
    return this.tlsMaterial?.ca?.certificate;
  }

  /** Where the emulator is in its life: `starting`, `ready`, `stopping` or `closed` (what `GET /health` reports). */
  get state(): EmulatorState {
    return this.lifecycle;
  }

  /** `http(s)://host:port/health`: the readiness check. */
  get healthUrl(): string {
    return `${this.ctx.scheme === 'wss' ? 'https' : 'http'}://${this.displayHost()}:${this.boundPort}${HEALTH_PATH}`;
  }

  /** `http(s)://host:port/`: the dashboard. */
  get dashboardUrl(): string {
    return `${this.ctx.scheme === 'wss' ? 'https' : 'http'}://${this.displayHost()}:${this.boundPort}/`;
  }

  /** Whether the default rule with the well-known development key (`DEVELOPMENT_KEY`) is in force. */
  get usesDevelopmentKey(): boolean {
    return this.options.developmentKey;
  }

  private get entra(): EntraAuthority {
    if (!this.entraAuthority) {
      const err = new Error('The relay emulator has not finished starting') as Error & { code: string };
      err.code = 'ERR_HYCO_EMULATOR_STARTING';
      throw err;
    }
    return this.entraAuthority;
  }

  /** The namespace-wide rules (with keys). */
  get rules(): SharedAccessRule[] {
    return this.options.rules.map((r) => ({ ...r, rights: [...r.rights] }));
  }

  /**
   * A connection string for a namespace-wide rule (by name, or
   * `{ rule?, entityPath? }`; default: the first rule, no `EntityPath`).
   * Without TLS it carries `UseDevelopmentEmulator=true` (plain `ws://`).
   */
  connectionString(ruleOrOptions?: string | ConnectionStringOptions): string {
    const opts: ConnectionStringOptions = typeof ruleOrOptions === 'object' && ruleOrOptions !== null ? ruleOrOptions : { rule: ruleOrOptions };
    const ruleName = opts.rule;
    const rule = ruleName === undefined ? this.options.rules[0] : this.options.rules.find((r) => r.name === ruleName);
    if (!rule) throw argumentError(`No namespace rule named "${printable(String(ruleName), 64)}"`);
    const base = `Endpoint=sb://${this.displayHost()}:${this.boundPort}/;SharedAccessKeyName=${rule.name};SharedAccessKey=${rule.key}`;
    const withEmulator = this.tlsMaterial ? base : `${base};UseDevelopmentEmulator=true`;
    return opts.entityPath === undefined ? withEmulator : `${withEmulator};EntityPath=${checkPath(opts.entityPath)}`;
  }

  /** The tenant id of the emulator's identity provider (the `tid` of its tokens). */
  get tenantId(): string {
    return this.entra.tenantId;
  }

  /**
   * The environment that points `ManagedIdentityCredential` (and
   * `DefaultAzureCredential`) at this emulator's managed identity endpoint:
   * `{ IDENTITY_ENDPOINT, IDENTITY_HEADER }` (as App Service sets them).
   * Undefined without the `managedIdentity` option.
   */
  get managedIdentityEnvironment(): { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string } | undefined {
    if (!this.options.managedIdentity) return undefined;
    const scheme = this.ctx.scheme === 'wss' ? 'https' : 'http';
    return { IDENTITY_ENDPOINT: `${scheme}://${this.displayHost()}:${this.boundPort}${MANAGED_IDENTITY_PATH}`, IDENTITY_HEADER: this.identityHeader };
  }

  /** The role assignments in force (including those added by createTokenCredential). */
  get roleAssignments(): RoleAssignment[] {
    return this.entra.assignments.map((a) => ({ ...a }));
  }

  /**
   * A `TokenCredential` (the Azure SDK's interface) for `principal`, whose
   * tokens this emulator signs and checks as the service checks Entra ID
   * tokens: code written for `DefaultAzureCredential` runs against the
   * emulator unchanged. `roles` (`[{ role, scope? }]`, role names as Azure
   * spells them, `scope` a hybrid connection path or, when omitted, the
   * whole namespace) are assigned to the principal; `lifetimeSeconds`
   * (default 3600) is each token's life.
   */
  createTokenCredential(options: CreateTokenCredentialOptions): EmulatorTokenCredential {
    if (typeof options !== 'object' || options === null || typeof options.principal !== 'string' || !options.principal) {
      throw argumentError('createTokenCredential needs { principal } (an object id)');
    }
    const { principal } = options;
    const lifetime = options.lifetimeSeconds ?? 3600;
    if (typeof lifetime !== 'number' || !Number.isFinite(lifetime) || lifetime <= 0) throw argumentError('createTokenCredential: lifetimeSeconds must be a positive number');
    const added = checkRoleAssignments((options.roles ?? []).map((r) => ({ ...r, principal })));
    this.entra.assignments.push(...added);
    const entra = this.entra;
    return {
      principal,
      async getToken(scopes: string | string[]) {
        // As Entra ID does: a token for the resource of the scope asked for (only the relay's is any use here).
        const scope = (Array.isArray(scopes) ? scopes[0] : scopes) ?? RELAY_SCOPE;
        const audience = scope.replace(/\/\.default$/, '');
        const { token, expiry } = await entra.sign(principal, lifetime, {}, audience === `${RELAY_AUDIENCE}/` ? RELAY_AUDIENCE : audience);
        return { token, expiresOnTimestamp: expiry * 1000, tokenType: 'Bearer' };
      },
    };
  }

  /** Creates a hybrid connection (shown on the dashboard at once). Throws if the path is taken or invalid. */
  createHybridConnection(path: string, opts: Omit<HybridConnectionOptions, 'path'> = {}): HybridConnectionStats {
    return this.namespace.entityStats(this.addEntity(path, opts, newTrackingId()));
  }

  private addEntity(path: string, opts: Omit<HybridConnectionOptions, 'path'>, trackingId: string): HybridConnection {
    const entity = this.namespace.add(checkHybridConnection({ ...opts, path }));
    this.ctx.report({ type: 'hybrid-connection-created', path: entity.path, id: trackingId });
    return entity;
  }

  /**
   * Deletes a hybrid connection, as the service does when an entity goes:
   * its listeners and relayed connections are closed with 1001, waiting
   * senders get 404 and its HTTP requests fail. Returns whether it existed.
   */
  deleteHybridConnection(path: string): boolean {
    return this.removeEntity(path, newTrackingId());
  }

  private removeEntity(path: string, trackingId: string): boolean {
    const entity = this.namespace.remove(checkPath(path));
    if (!entity) return false;
    this.ctx.report({ type: 'hybrid-connection-deleted', path: entity.path, id: trackingId });
    for (const listener of [...entity.listeners]) listener.close(CLOSE_ENTITY_GONE, 'The hybrid connection was deleted');
    for (const relay of [...entity.relays]) relay.shutdown(CLOSE_ENTITY_GONE, 'The hybrid connection was deleted');
    for (const sender of this.ctx.rendezvous.drain(entity)) {
      writeFailure(sender.socket, 404, statusText(endpointNotFound('EntityNotFound', `the hybrid connection "${entity.path}" was deleted`), sender.id, sender.hostname, entity.path));
    }
    for (const exchange of this.ctx.http.all()) {
      if (exchange.entity === entity) exchange.fail(404, endpointNotFound('EntityNotFound', `the hybrid connection "${entity.path}" was deleted`));
    }
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
    for (const entity of this.namespace.all()) {
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
    return this.namespace.stats();
  }

  /** Ends everything: listeners and relayed connections with 1001, waiting senders with 503. */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // The socket stays open until every connection has ended: meanwhile everything, the health check included, gets 503.
    this.lifecycle = 'stopping';
    this.ctx.closing = true;
    this.dashboard.close();
    this.inspector.close();
    for (const sender of this.ctx.rendezvous.drain()) writeFailure(sender.socket, 503, 'The relay is shutting down');
    for (const exchange of this.ctx.http.all()) exchange.fail(503, 'ServiceUnavailable: the relay is shutting down');
    for (const entity of this.namespace.all()) {
      for (const listener of [...entity.listeners]) listener.close(CLOSE_ENTITY_GONE, 'The relay is shutting down');
    }
    // Every relayed connection, whatever became of its hybrid connection.
    for (const relay of [...this.namespace.relays]) relay.shutdown();
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
    const serverClosed = this.server.listening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
    // Whoever came during the drain (and was answered 503, or is still in its TLS handshake) goes now.
    for (const socket of this.sockets) socket.destroy();
    this.server.closeAllConnections();
    await serverClosed;
    this.lifecycle = 'closed';
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
      const key = this.options.developmentKey ? ', and it takes the well-known development key: anyone who reaches it can use it (give rules, or randomKey)' : '';
      process.emitWarning(
        `hyco-relay-emulator is listening on ${this.options.host}, which is not a loopback address: other machines can reach it${key}`,
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

  /** Where a request is going, or undefined when it was answered (refused) here. */
  private target(req: http.IncomingMessage, prefix: RegExp | undefined, refuse: (status: number, what: string, t: { trackingId: string; hostname: string; rawPath: string }) => void): RequestTarget | undefined {
    const target = parseTarget(req, prefix, `${this.displayHost()}:${this.boundPort}`);
    if (isProblem(target)) {
      refuse(target.status, target.what, target);
      return undefined;
    }
    if (this.options.namespace && target.hostname !== this.options.namespace) {
      refuse(404, endpointNotFound('NamespaceNotFound', `this relay answers as ${this.options.namespace}, not ${target.hostname} ("${target.rawPath.slice(0, 200)}")`), target);
      return undefined;
    }
    return target;
  }

  private guardUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const failed = (err: unknown) => {
      debug('handling an upgrade failed: %s', (err as Error)?.stack ?? String(err));
      if (socket.destroyed) return;
      if (isAnswered(socket)) socket.destroy();
      else writeFailure(socket, 500, 'InternalServerError: the relay failed to handle this request');
    };
    try {
      this.onUpgrade(req, socket, head)?.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> | undefined {
    if (this.lifecycle !== 'ready') {
      writeFailure(socket, 503, this.lifecycle === 'starting' ? 'ServiceUnavailable: the relay is starting' : 'ServiceUnavailable: the relay is shutting down');
      return undefined;
    }
    const target = this.target(req, /^\$hc\//i, (status, what, t) => this.ctx.refuse(socket, status, what, t, t.rawPath));
    if (!target) return undefined;
    // No action at all is a sender, as the service has it; an empty or unknown one is refused.
    const action = target.query.get(PARAM_ACTION) ?? ACTION_CONNECT;
    switch (action) {
      case ACTION_LISTEN:
        return handleListen(this.ctx, this.wss, req, socket, head, target);
      case ACTION_CONNECT:
        return handleConnect(this.ctx, req, socket, head, target);
      case ACTION_ACCEPT:
        handleAccept(this.ctx, req, socket, head, target);
        return undefined;
      case ACTION_REQUEST:
        handleHttpRendezvous(this.ctx, req, socket, head, target, (exchange, detail) =>
          this.ctx.report({ type: 'listener-error', path: exchange.entity.path, id: exchange.id, detail }),
        );
        return undefined;
      default:
        this.ctx.refuse(
          socket,
          400,
          `BadRequest: unknown sb-hc-action "${action.slice(0, 32)}"`,
          target,
          target.rawPath,
        );
        return undefined;
    }
  }

  private guardHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    const failed = (err: unknown) => {
      debug('handling an HTTP request failed: %s', (err as Error)?.stack ?? String(err));
      if (res.headersSent) res.destroy();
      else {
        res.writeHead(500, 'Internal Server Error', { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('InternalServerError: the relay failed to handle this request\n');
      }
      req.resume();
    };
    try {
      this.onHttpRequest(req, res)?.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  private onHttpRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> | undefined {
    const path = (req.url ?? '/').split('?')[0];
    // The health check and the icon answer any Host; a hybrid connection of that name (only /health and the icons can be one) takes its own path.
    if (path === RESERVED_HEALTH_PATH || (path === HEALTH_PATH && !this.namespace.get('health'))) return void answerHealth(req, res, this.lifecycle);
    if (this.lifecycle !== 'ready') {
      req.resume();
      res.writeHead(503, 'Service Unavailable', { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close', 'Retry-After': '1' });
      res.end(this.lifecycle === 'starting' ? 'ServiceUnavailable: the relay is starting\n' : 'ServiceUnavailable: the relay is shutting down\n');
      return undefined;
    }
    // The inspector's API (a hybrid connection named "metrics" takes its own path, as with /health).
    if (isInspectorRequest(req.method, path) && !(path === '/metrics' && this.namespace.get('metrics'))) {
      if (!this.dashboard.answersHost(req)) return void this.dashboard.refuseHost(req, res);
      return answerInspector(this.inspector, req, res, path);
    }
    if ((req.method === 'GET' || req.method === 'HEAD') && FAVICON_PATHS.has(path) && !this.namespace.get(path.slice(1))) return void answerFavicon(req, res, path);
    if (req.method === 'GET' && isDashboardPath(path)) {
      // The emulator's own pages: the dashboard for browsers, runtime information as JSON; for its own host names only (DNS rebinding).
      if (!this.dashboard.answersHost(req)) return void this.dashboard.refuseHost(req, res);
      if (path === '/' && wantsPage(req)) return void this.dashboard.page(res);
      if (path === '/$dashboard.js') return void this.dashboard.script(res);
      if (path === '/$events') return void this.dashboard.events(req, res);
      if (path === '/' || path === '/$status') {
        const body = JSON.stringify({ service: 'hyco-relay-emulator', endpoint: this.endpoint, ...this.stats() }, null, 2);
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
        res.end(body);
        return undefined;
      }
    }
    const refuse = (status: number, what: string, t: { trackingId: string; hostname: string; rawPath: string }, where = t.rawPath) => {
      this.ctx.noteRefusal(status, what, t.trackingId, where);
      res.writeHead(status, statusText(what, t.trackingId, t.hostname, where), { 'Content-Type': 'text/plain; charset=utf-8', Via: viaEntry(t.hostname || this.displayHost()) });
      res.end(`${what}\n`);
      req.resume();
    };
    const target = this.target(req, undefined, refuse);
    if (!target) return undefined;
    // The emulator's identity provider: OAuth endpoints under its tenant id.
    if (isOAuthPath(target.pathname, this.entra.tenantId)) {
      return handleOAuth(req, res, target.pathname, `${this.ctx.scheme === 'wss' ? 'https' : 'http'}://${target.host}`, this.entra, this.options.applications);
    }
    if (target.pathname === MANAGED_IDENTITY_PATH) {
      return handleManagedIdentity(req, res, target.query, this.identityHeader, this.entra, this.options.managedIdentity);
    }
    if (/^\$hc(\/|$)/i.test(target.rawPath)) {
      refuse(400, 'BadRequest: /$hc/ addresses take WebSocket upgrades only', target, target.rawPath);
      return undefined;
    }
    // Addressed to the service itself (the .NET client's runtime information), not to a listener.
    if (isRuntimeInformationRequest(req)) {
      if (isManagementMethod(req.method)) {
        return handleManagement(this.ctx, req, res, target, {
          create: (p, settings, trackingId) => this.addEntity(p, settings, trackingId),
          remove: (p, trackingId) => this.removeEntity(p, trackingId),
        });
      }
      return handleRuntimeInformation(this.ctx, req, res, target);
    }
    return handleHttpRequest(this.ctx, req, res, target);
  }
}
