/**
 * The listener's control channel: one outbound WebSocket to the relay
 * (`sb-hc-action=listen`) that stays up. Reconnects with backoff, renews its
 * token before expiry, keeps itself alive, and turns service messages into
 * typed events.
 *
 * Each open connection is its own `ChannelConnection`: an inline HTTP
 * request and the body that follows it are paired on the connection they
 * came on, and answers go back on that connection only. A connection that
 * drops takes what was pending on it along; nothing is ever handed to
 * another request.
 *
 * Keepalive (PROTOCOL.md, "Keepalive"): `ping` sends a WebSocket ping when
 * the channel has been idle for the interval and reopens the channel when
 * nothing arrives within the grace period; `pong` sends unsolicited pongs
 * (a one-way heartbeat, never answered: a dead path shows up through TCP
 * keepalive on the socket and write errors); `auto` pings, but if the relay
 * closes the channel shortly after a ping with no other cause (twice in a
 * row, or once with a policy close) it switches to pongs for the life of
 * the listener and warns once (`ERR_HYCO_PING_REFUSED`).
 *
 * Events: `online`, `connecting` (attempt, delayMs), `offline` (error?),
 * `error` (RelayError), `warning` (RelayError), `accept` (accept message,
 * connection), `request` (request message, body | undefined, connection).
 */
import { EventEmitter } from 'node:events';
import type { ConnectionOptions } from 'node:tls';
import createDebug from 'debug';
import type { connection as WebSocketConnection, IClientConfig, Message } from 'websocket';
import { dial } from './dial';
import type { ConnectionCache, Dial } from './dial';
import { RelayError, trackingIdFrom } from './errors';
import type { RelayErrorCode } from './errors';
import { AUTH_HEADER } from './protocol/constants';
import type { AcceptMessage, RequestMessage } from './protocol/messages';
import { parseServiceMessage } from './protocol/messages';
import { withoutToken } from './protocol/uri';
import { backoffDelay } from './backoff';
import { setLongTimeout } from './timers';
import type { LongTimer } from './timers';
import type { ProxyOption } from './proxy';
import { EARLY_RENEWAL_THRESHOLD_MS, TokenProvider, isExpired, renewalDelay } from './token-provider';
import type { ProvidedToken } from './token-provider';

const debug = createDebug('hyco-websocket:listener');

/** How the control channel is kept alive. */
export type ControlChannelKeepalive = 'auto' | 'ping' | 'pong';

export interface ControlChannelOptions {
  /** The listen address (without token). */
  listenUri: string;
  tokens: TokenProvider;
  keepalive: ControlChannelKeepalive;
  /** Send a keepalive when nothing has crossed the channel for this long, ms. */
  keepaliveInterval: number;
  /** (ping) Declare the channel dead when nothing answers a ping within this, ms. */
  keepaliveGracePeriod: number;
  /** Give up on a handshake (and on a token call) after this long, ms. */
  connectTimeout: number;
  /** Reconnect delays, ms (the last repeats). */
  backoff: readonly number[];
  tlsOptions?: ConnectionOptions;
  /** The proxy to reach the relay through (the `proxy` option). */
  proxy: ProxyOption;
  /** Name lookups, TLS context and sessions, shared with the rendezvous. */
  cache?: ConnectionCache;
  /**
   * Whether an inline request must wait for its body before it is handed
   * over; when not (nobody handles HTTP), it is handed over at once, to be
   * answered, and its body is discarded when it comes.
   */
  needsBody(): boolean;
}

const STATUS_CODES: Record<number, RelayErrorCode> = {
  400: 'ERR_HYCO_BAD_REQUEST',
  401: 'ERR_HYCO_UNAUTHORIZED',
  403: 'ERR_HYCO_FORBIDDEN',
  404: 'ERR_HYCO_NOT_FOUND',
};

/** A RelayError for a failed handshake answered with `status`. */
export function statusError(status: number, statusText: string | undefined, what: string, code?: RelayErrorCode): RelayError {
  code ??= STATUS_CODES[status] ?? (status >= 500 ? 'ERR_HYCO_SERVICE' : 'ERR_HYCO_HANDSHAKE');
  const text = statusText ? `: ${statusText}` : '';
  const options: { statusCode: number; trackingId?: string } = { statusCode: status };
  const trackingId = trackingIdFrom(statusText);
  if (trackingId) options.trackingId = trackingId;
  return new RelayError(code, `${what} failed with status ${status}${text}`, options);
}

/**
 * The most that may wait unsent on a control channel, bytes. A relay that
 * stops reading while it keeps sending requests would otherwise make every
 * inline answer pile up in memory; past this the channel is dropped (and
 * reopened), and what was queued is lost with it.
 */
export const MAX_CONTROL_BACKLOG = 4 * 1024 * 1024;

/** One open control-channel connection: where a request came from, and where its inline answer goes. */
export class ChannelConnection extends EventEmitter<{ close: []; overflow: [] }> {
  private closed = false;
  /** Whether writes are held until the end of this pass of the event loop (see batchWrites). */
  private corked = false;

  constructor(private readonly connection: WebSocketConnection) {
    super();
    // Every HTTP request in flight on this connection watches its close, and stops when it ends: no fixed bound.
    this.setMaxListeners(0);
    connection.once('close', () => {
      this.closed = true;
      this.emit('close');
    });
  }

  /** Whether this connection is still open. */
  get isOpen(): boolean {
    return !this.closed && this.connection.connected;
  }

  /** Sends a JSON message on this connection; false when it is gone. */
  sendJson(message: unknown): boolean {
    if (!this.isOpen || this.overflowing()) return false;
    this.connection.sendUTF(JSON.stringify(message));
    return true;
  }

  /** Sends a binary message on this connection; false when it is gone. */
  sendBinary(data: Buffer): boolean {
    if (!this.isOpen || this.overflowing()) return false;
    this.connection.sendBytes(data);
    return true;
  }

  /** Sends a JSON message and its binary body (when there is one) in one write; false when the connection is gone. */
  sendJsonWithBody(message: unknown, body: Buffer | undefined): boolean {
    if (!this.isOpen || this.overflowing()) return false;
    this.batchWrites();
    this.connection.sendUTF(JSON.stringify(message));
    if (body === undefined) return true;
    if (!this.isOpen || this.overflowing()) return false;
    this.connection.sendBytes(body);
    return true;
  }

  /**
   * Holds this turn's responses (every request read in one pass of the event loop is answered in it,
   * when its handler answers at once) and lets them leave together, in one write, once the pass ends.
   */
  private batchWrites(): void {
    if (this.corked) return;
    const socket = this.connection.socket as unknown as { cork?(): void; uncork?(): void; destroyed?: boolean };
    if (typeof socket.cork !== 'function' || socket.destroyed) return;
    socket.cork();
    this.corked = true;
    setImmediate(() => {
      this.corked = false;
      socket.uncork?.();
    });
  }

  /** Whether the relay has stopped reading (over MAX_CONTROL_BACKLOG queued): then the connection is dropped. */
  private overflowing(): boolean {
    const queued = (this.connection.socket as unknown as { writableLength?: number }).writableLength ?? 0;
    if (queued <= MAX_CONTROL_BACKLOG) return false;
    this.emit('overflow');
    this.connection.drop(1011, 'The relay is not reading', true);
    return true;
  }
}

/** What one connection of the channel keeps track of. */
interface ConnectionState {
  /** The token the channel holds now. */
  token: string;
  /** The token's expiry (Unix seconds), when known. */
  tokenExpiry: number | undefined;
  /** When a renewToken was last sent, ms. */
  renewedAt: number;
  /** When the last keepalive ping was sent, ms; 0 before any. */
  pingAt: number;
  /** Something arrived after that ping. */
  pingAnswered: boolean;
  /** We dropped this connection ourselves (keepalive timeout). */
  expectedClose: boolean;
}

/** How long close() waits for the relay to answer its close frame before cutting the socket, ms. */
const CLOSE_WAIT_MS = 3000;

/**
 * Resolves once `connection` has closed; if it has not within `ms` (the
 * peer stopped reading, so it never sees our close or FIN), its socket is
 * destroyed and it closes then.
 */
export function closedWithin(connection: WebSocketConnection, ms: number): Promise<void> {
  if (connection.state === 'closed') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      (connection.socket as unknown as { destroy(): void }).destroy();
    }, ms);
    connection.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** How soon after a ping a close counts as the relay refusing it, ms (at most the grace period). */
const PING_REFUSAL_WINDOW_MS = 5000;

/** The control-channel events and their arguments. */
export interface ControlChannelEvents {
  online: [];
  connecting: [attempt: number, delayMs: number];
  offline: [error: RelayError | undefined];
  error: [error: RelayError];
  warning: [warning: RelayError];
  accept: [accept: AcceptMessage['accept'], from: ChannelConnection];
  request: [request: RequestMessage['request'], body: Buffer | undefined, from: ChannelConnection];
}

export class ListenerControlChannel extends EventEmitter<ControlChannelEvents> {
  private connection: WebSocketConnection | undefined;
  private current: ChannelConnection | undefined;
  private pendingAttempt: Dial | undefined;
  /** The repeating failure last reported (a proxy's, an expired token): the same one again is not reported on every attempt. */
  private repeatReported: string | undefined;
  /** Consecutive renewals the token source asked for with a refresh time already past. */
  private earlyRenewals = 0;
  /** Consecutive renewals that failed or gave nothing new (backs off the next try). */
  private failedRenewals = 0;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private renewTimer: LongTimer | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private stopped = false;
  private warnedExpiry = false;
  private closing: Promise<void> | undefined;
  /** Ends what the channel waits for (a token call) when it closes. */
  private readonly stopping = new AbortController();
  /** The keepalive in force: `auto` becomes `pong` for good once the relay refuses pings. */
  private mode: ControlChannelKeepalive;
  /** Consecutive connections the relay closed shortly after a ping. */
  private closesAfterPing = 0;
  lastError: RelayError | undefined;

  constructor(private readonly options: ControlChannelOptions) {
    super();
    this.mode = options.keepalive;
  }

  get isOnline(): boolean {
    return this.connection !== undefined && this.connection.connected;
  }

  /** The keepalive in force (`auto` until the relay refuses pings, then `pong`). */
  get keepaliveMode(): ControlChannelKeepalive {
    return this.mode;
  }

  /** Opens the channel (and keeps it open until close()). */
  start(): void {
    this.schedule(0);
  }

  /** Sends a JSON message on the current connection; false when offline. */
  sendJson(message: unknown): boolean {
    return this.current?.sendJson(message) ?? false;
  }

  /** Closes the channel (1000) and stops every timer. */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.clearTimers();
    this.stopping.abort(new RelayError('ERR_HYCO_CLOSED', 'The listener is closing'));
    if (this.pendingAttempt) {
      this.pendingAttempt.abort();
      this.pendingAttempt = undefined;
    }
    const connection = this.connection;
    if (connection && connection.connected) {
      connection.close(1000, 'Listener closing');
      // A relay that no longer reads (a dead path) never answers the close: cut it then.
      await closedWithin(connection, CLOSE_WAIT_MS);
    }
    this.connection = undefined;
    this.goOffline(undefined);
  }

  private goOffline(error: RelayError | undefined): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    this.emit('offline', error);
  }

  private clearTimers(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.renewTimer?.clear();
    this.renewTimer = undefined;
    this.stopKeepalive();
  }

  private report(error: RelayError, event: 'error' | 'warning' = 'error'): void {
    if (event === 'error') this.lastError = error;
    debug('%s: %s', event, error.message);
    if (this.listenerCount(event) > 0) this.emit(event, error);
  }

  private schedule(delay: number): void {
    if (this.closed) return;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.attempt > 0 || delay > 0) this.emit('connecting', this.attempt, delay);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delay);
  }

  /** Reports `error` unless it repeats the failure reported last (`key`), as a proxy or an expired token does on every attempt. */
  private reportOnce(error: RelayError, key: string | undefined): void {
    if (key !== undefined && key === this.repeatReported) {
      this.lastError = error;
      debug('still failing: %s', error.message);
    } else this.report(error);
    this.repeatReported = key;
  }

  private retry(error: RelayError): void {
    if (this.closed) return;
    const viaProxy = error.code === 'ERR_HYCO_PROXY' || error.code === 'ERR_HYCO_PROXY_AUTH';
    const key = viaProxy
      ? `${error.code}:${error.statusCode ?? ''}:${(error.cause as NodeJS.ErrnoException | undefined)?.code ?? ''}`
      : error.code === 'ERR_HYCO_INVALID_TOKEN'
        ? error.message
        : undefined;
    this.reportOnce(error, key);
    if (error.statusCode === 404 && !viaProxy) {
      // The hybrid connection does not exist: retrying will not make it so.
      this.goOffline(error);
      return;
    }
    this.schedule(backoffDelay(this.attempt++, this.options.backoff));
  }

  private async connect(): Promise<void> {
    try {
      await this.tryConnect();
    } catch (err) {
      // Whatever throws on the way (a bad value meeting Node's checks) is an error event and a retry, never a crash.
      this.retry(err instanceof RelayError ? err : new RelayError('ERR_HYCO_CONNECTION', `Opening the control channel failed: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
    }
  }

  private async tryConnect(): Promise<void> {
    if (this.closed) return;
    let provided: ProvidedToken;
    try {
      provided = await this.options.tokens.get(this.options.connectTimeout, this.stopping.signal);
    } catch (err) {
      this.retry(err as RelayError);
      return;
    }
    if (this.closed) return;
    if (isExpired(provided.expiry)) {
      this.retry(new RelayError('ERR_HYCO_INVALID_TOKEN', `The ${this.options.tokens.kind === 'token' ? '"token" option holds a token that' : 'token source gave a token that'} has already expired`));
      return;
    }
    const token = provided.token;
    const attempt = dial(this.options.listenUri, {
      clientConfig: {
        // The keepalive is this channel's own (see the file comment).
        keepalive: false,
        maxReceivedFrameSize: 0x100000,
        maxReceivedMessageSize: 0x400000,
        ...(this.options.tlsOptions ? { tlsOptions: this.options.tlsOptions } : {}),
      } as IClientConfig,
      proxy: this.options.proxy,
      ...(this.options.cache ? { cache: this.options.cache } : {}),
      headers: { [AUTH_HEADER]: token },
      timeoutMs: this.options.connectTimeout,
    });
    this.pendingAttempt = attempt;
    debug('connecting to %s', withoutToken(this.options.listenUri));
    const outcome = await attempt.result;
    if (this.pendingAttempt === attempt) this.pendingAttempt = undefined;
    switch (outcome.kind) {
      case 'connect':
        if (this.closed) {
          outcome.connection.close(1000, 'Listener closing');
          return;
        }
        this.repeatReported = undefined;
        this.onOpen(outcome.connection, provided);
        return;
      case 'status':
        this.retry(statusError(outcome.status, outcome.statusText, 'Opening the control channel'));
        return;
      case 'proxy':
        this.retry(outcome.error);
        return;
      case 'failed':
        this.retry(new RelayError('ERR_HYCO_CONNECTION', `Opening the control channel failed: ${outcome.error.message}`, { cause: outcome.error }));
        return;
      case 'timeout':
        this.retry(new RelayError('ERR_HYCO_CONNECTION', `Opening the control channel timed out after ${this.options.connectTimeout} ms`));
        return;
      case 'aborted':
        return;
    }
  }

  private onOpen(connection: WebSocketConnection, provided: ProvidedToken): void {
    this.connection = connection;
    const channel = new ChannelConnection(connection);
    this.current = channel;
    channel.once('overflow', () => {
      state.expectedClose = true;
      this.report(new RelayError('ERR_HYCO_CONNECTION', `The relay stopped reading the control channel (over ${MAX_CONTROL_BACKLOG} bytes queued); reopening it`));
    });
    this.attempt = 0;
    debug('online (keepalive: %s)', this.mode);
    /** An inline HTTP request waiting for its body (the next binary message on this connection), or 'discard'. */
    let awaitingBody: RequestMessage['request'] | 'discard' | undefined;
    const state: ConnectionState = { token: provided.token, tokenExpiry: provided.expiry, renewedAt: 0, pingAt: 0, pingAnswered: false, expectedClose: false };
    connection.on('message', (message: Message) => {
      if (message.type === 'binary') {
        const request = awaitingBody;
        awaitingBody = undefined;
        if (request === undefined) this.report(new RelayError('ERR_HYCO_MALFORMED_MESSAGE', 'Ignored an unexpected binary frame on the control channel'));
        else if (request !== 'discard') this.emit('request', request, message.binaryData, channel);
        return;
      }
      let parsed;
      try {
        parsed = parseServiceMessage(message.utf8Data);
      } catch (err) {
        // Reported and ignored: the channel stays up for well-formed messages.
        this.report(err as RelayError);
        return;
      }
      if (awaitingBody) {
        if (awaitingBody !== 'discard') {
          this.report(new RelayError('ERR_HYCO_MALFORMED_MESSAGE', 'An HTTP request\'s body did not follow it on the control channel; the request was dropped'));
        }
        awaitingBody = undefined;
      }
      if ('accept' in parsed) this.emit('accept', parsed.accept, channel);
      else if (parsed.request.body === true && parsed.request.method !== undefined) {
        if (this.options.needsBody()) awaitingBody = parsed.request;
        else {
          // Nobody handles HTTP: answered at once; its body is discarded when it comes.
          awaitingBody = 'discard';
          this.emit('request', parsed.request, undefined, channel);
        }
      } else this.emit('request', parsed.request, undefined, channel);
    });
    connection.on('error', (err: Error) => debug('control channel error: %s', err.message));
    connection.on('close', (code: number, description: string) => {
      if (this.connection === connection) this.connection = undefined;
      if (this.current === channel) this.current = undefined;
      awaitingBody = undefined;
      this.renewTimer?.clear();
      this.renewTimer = undefined;
      this.stopKeepalive();
      if (this.closed) return;
      if (state.expectedClose) {
        // Our own keepalive gave up on this connection; the error was reported then.
        this.schedule(backoffDelay(this.attempt++, this.options.backoff));
        return;
      }
      this.noteClose(code, description, state);
      this.retry(new RelayError('ERR_HYCO_CONTROL_CHANNEL_CLOSED', `The control channel closed (${code}${description ? `: ${description}` : ''})`));
    });
    this.startKeepalive(connection, state);
    this.scheduleRenewal(provided, state);
    this.emit('online');
  }

  /**
   * `auto`: did the relay just refuse our ping? A close shortly after a ping
   * (within the grace period) with no other cause counts; a policy close
   * (1008) while our token is valid and no renewal is pending counts double.
   */
  private noteClose(code: number, description: string, state: ConnectionState): void {
    if (this.mode !== 'auto') return;
    const now = Date.now();
    const afterPing = state.pingAt > 0 && now - state.pingAt <= Math.min(PING_REFUSAL_WINDOW_MS, this.options.keepaliveGracePeriod);
    const tokenValid = state.tokenExpiry === undefined || state.tokenExpiry * 1000 > now;
    const renewalPending = state.renewedAt >= state.pingAt && state.renewedAt > 0;
    const otherCause = code === 1001 || code === 1000 || !tokenValid || renewalPending || /token/i.test(description);
    if (!afterPing || otherCause) {
      this.closesAfterPing = 0;
      return;
    }
    this.closesAfterPing += code === 1008 ? 2 : 1;
    if (this.closesAfterPing < 2) return;
    this.mode = 'pong';
    debug('the relay closes the control channel after pings: keeping it alive with pongs from now on');
    this.report(
      new RelayError('ERR_HYCO_PING_REFUSED', `The relay closed the control channel right after a keepalive ping (${code}); the listener keeps it alive with unsolicited pongs from now on`),
      'warning',
    );
  }

  private startKeepalive(connection: WebSocketConnection, state: ConnectionState): void {
    this.stopKeepalive();
    const { keepaliveInterval: interval, keepaliveGracePeriod: grace } = this.options;
    const socket = connection.socket as unknown as { on(e: 'data', fn: () => void): void; setKeepAlive?(on: boolean, delay: number): void };
    // TCP keepalive detects a dead path when nothing else does (pongs are never answered).
    socket.setKeepAlive?.(true, Math.min(interval, 0x7fffffff));
    let lastActivity = Date.now();
    socket.on('data', () => {
      lastActivity = Date.now();
      if (this.graceTimer && this.connection === connection) {
        clearTimeout(this.graceTimer);
        this.graceTimer = undefined;
        state.pingAnswered = true;
      }
    });
    const check = () => {
      this.keepaliveTimer = undefined;
      if (this.connection !== connection || !connection.connected) return;
      const idle = Date.now() - lastActivity;
      if (idle < interval) {
        this.keepaliveTimer = setTimeout(check, interval - idle);
        return;
      }
      if (this.mode === 'pong') {
        connection.pong(Buffer.alloc(0));
        lastActivity = Date.now();
      } else if (!this.graceTimer) {
        // The last ping was answered and the channel lived on to this one: pings are fine on this path.
        if (state.pingAt > 0 && state.pingAnswered) this.closesAfterPing = 0;
        state.pingAt = Date.now();
        state.pingAnswered = false;
        connection.ping(Buffer.alloc(0));
        this.graceTimer = setTimeout(() => {
          this.graceTimer = undefined;
          if (this.connection !== connection || this.closed) return;
          state.expectedClose = true;
          this.report(new RelayError('ERR_HYCO_KEEPALIVE_TIMEOUT', `The control channel did not answer a keepalive ping within ${grace} ms`));
          connection.drop(1006, 'Keepalive timeout', true);
        }, grace);
      }
      this.keepaliveTimer = setTimeout(check, interval);
    };
    this.keepaliveTimer = setTimeout(check, interval);
  }

  private stopKeepalive(): void {
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.keepaliveTimer = this.graceTimer = undefined;
  }

  private scheduleRenewal(provided: ProvidedToken, state: ConnectionState): void {
    this.renewTimer?.clear();
    this.renewTimer = undefined;
    const expiry = provided.expiry;
    if (expiry === undefined || this.closed) return;
    const now = Date.now();
    // A source that keeps asking to be called again at once is called less and less often.
    this.earlyRenewals = provided.refreshAt !== undefined && provided.refreshAt - now < EARLY_RENEWAL_THRESHOLD_MS ? this.earlyRenewals + 1 : 0;
    this.renewTimer = setLongTimeout(() => {
      this.renewTimer = undefined;
      if (this.options.tokens.renewable) void this.renew(expiry, state);
      else this.warnExpiry('pass a token function or a credential to renew it');
    }, renewalDelay(expiry, now, provided.refreshAt, Math.max(0, this.earlyRenewals - 1)));
  }

  private warnExpiry(advice: string): void {
    if (this.warnedExpiry) return;
    this.warnedExpiry = true;
    this.report(new RelayError('ERR_HYCO_INVALID_TOKEN', `The listener token is about to expire and cannot be renewed: ${advice}`), 'warning');
  }

  private async renew(previousExpiry: number, state: ConnectionState): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    /** Tries again before the current token runs out, backing off while the source keeps failing. */
    const again = () => {
      if (this.connection !== connection || this.closed) return;
      const left = previousExpiry * 1000 - Date.now();
      // Halving the time left bounds the tries before expiry; after it, the backoff alone paces them.
      const backoff = Math.min(5000 * 2 ** Math.min(this.failedRenewals++, 4), 60_000);
      this.renewTimer = setLongTimeout(() => void this.renew(previousExpiry, state), left > 0 ? Math.max(100, Math.min(backoff, left / 2)) : backoff);
    };
    let provided: ProvidedToken;
    try {
      provided = await this.options.tokens.get(this.options.connectTimeout, this.stopping.signal);
    } catch (err) {
      if (this.closed) return;
      this.report(err as RelayError);
      again();
      return;
    }
    if (this.connection !== connection || !connection.connected || this.closed) return;
    if (isExpired(provided.expiry)) {
      // Sent, the relay would close the channel (1008): keep the current token and ask again later.
      this.reportOnce(new RelayError('ERR_HYCO_INVALID_TOKEN', 'The token source gave a token that has already expired; the listener keeps its current token and asks again later'), 'renewal-expired');
      again();
      return;
    }
    if (provided.token === state.token) {
      // The same token again (an AzureSASCredential nobody updated, a cache not yet refreshed): ask again
      // later; warn once when it is about to run out.
      if (previousExpiry * 1000 - Date.now() < 10_000) {
        this.warnExpiry(this.options.tokens.kind === 'SASCredential' ? 'call update() on the AzureSASCredential with a new signature' : 'the token source keeps giving the same token');
      }
      again();
      return;
    }
    connection.sendUTF(JSON.stringify({ renewToken: { token: provided.token } }));
    this.failedRenewals = 0;
    if (this.repeatReported === 'renewal-expired') this.repeatReported = undefined;
    state.renewedAt = Date.now();
    state.token = provided.token;
    state.tokenExpiry = provided.expiry;
    debug('token renewed');
    this.scheduleRenewal(provided, state);
  }
}
