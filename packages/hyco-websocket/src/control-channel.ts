/**
 * The listener's control channel: one outbound WebSocket to the relay
 * (`sb-hc-action=listen`) that stays up. Reconnects with backoff, renews its
 * token before expiry, keeps itself alive with pings, and turns service
 * messages into typed events.
 *
 * Events: `online`, `connecting` (attempt, delayMs), `offline` (error?),
 * `error` (RelayError), `warning` (RelayError), `accept` (accept message),
 * `request` (request message), `requestBody` (Buffer).
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import createDebug from 'debug';
import { client as WebSocketClient } from 'websocket';
import type { connection as WebSocketConnection, Message } from 'websocket';
import { RelayError, trackingIdFrom } from './errors';
import type { RelayErrorCode } from './errors';
import { AUTH_HEADER } from './protocol/constants';
import { parseServiceMessage } from './protocol/messages';
import { backoffDelay } from './backoff';
import { TokenProvider, renewalDelay } from './token-provider';

const debug = createDebug('hyco-websocket:listener');

export interface ControlChannelOptions {
  /** The listen address (without token). */
  listenUri: string;
  tokens: TokenProvider;
  /** Ping when nothing arrived for this long, ms. */
  keepaliveInterval: number;
  /** Declare the channel dead when nothing answers a ping within this, ms. */
  keepaliveGracePeriod: number;
  /** Give up on a handshake after this long, ms. */
  connectTimeout: number;
  /** Reconnect delays, ms (the last repeats). */
  backoff: readonly number[];
  tlsOptions?: object;
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

export class ListenerControlChannel extends EventEmitter {
  private connection: WebSocketConnection | undefined;
  private pendingClient: InstanceType<typeof WebSocketClient> | undefined;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private stopped = false;
  private warnedExpiry = false;
  private expectBody = 0;
  private closing: Promise<void> | undefined;
  lastError: RelayError | undefined;

  constructor(private readonly options: ControlChannelOptions) {
    super();
  }

  get isOnline(): boolean {
    return this.connection !== undefined && this.connection.connected;
  }

  /** Opens the channel (and keeps it open until close()). */
  start(): void {
    this.schedule(0);
  }

  /** Sends a JSON message on the channel; false when offline. */
  sendJson(message: unknown): boolean {
    if (!this.connection || !this.connection.connected) return false;
    this.connection.sendUTF(JSON.stringify(message));
    return true;
  }

  /** Sends a binary message on the channel; false when offline. */
  sendBinary(data: Buffer): boolean {
    if (!this.connection || !this.connection.connected) return false;
    this.connection.sendBytes(data);
    return true;
  }

  /** Closes the channel (1000) and stops every timer. */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.clearTimers();
    if (this.pendingClient) {
      this.pendingClient.abort();
      this.pendingClient = undefined;
    }
    const connection = this.connection;
    if (connection && connection.connected) {
      const done = new Promise<void>((resolve) => connection.once('close', () => resolve()));
      connection.close(1000, 'Listener closing');
      await done;
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
    for (const timer of [this.reconnectTimer, this.renewTimer, this.connectTimer]) if (timer) clearTimeout(timer);
    this.reconnectTimer = this.renewTimer = this.connectTimer = undefined;
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

  private retry(error: RelayError): void {
    if (this.closed) return;
    this.report(error);
    if (error.statusCode === 404) {
      // The hybrid connection does not exist: retrying will not make it so.
      this.goOffline(error);
      return;
    }
    this.schedule(backoffDelay(this.attempt++, this.options.backoff));
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    let token: string;
    let expiry: number | undefined;
    try {
      ({ token, expiry } = await this.options.tokens.get());
    } catch (err) {
      this.retry(err as RelayError);
      return;
    }
    if (this.closed) return;
    const client = new WebSocketClient({
      keepalive: true,
      keepaliveInterval: this.options.keepaliveInterval,
      dropConnectionOnKeepaliveTimeout: true,
      keepaliveGracePeriod: this.options.keepaliveGracePeriod,
      maxReceivedFrameSize: 0x100000,
      maxReceivedMessageSize: 0x400000,
      ...(this.options.tlsOptions ? { tlsOptions: this.options.tlsOptions } : {}),
    } as ConstructorParameters<typeof WebSocketClient>[0]);
    this.pendingClient = client;
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      this.pendingClient = undefined;
      if (this.connectTimer) clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
      return true;
    };
    client.on('httpResponse', (response: IncomingMessage) => {
      response.resume();
      if (!settle()) return;
      this.retry(statusError(response.statusCode ?? 0, response.statusMessage, 'Opening the control channel'));
    });
    client.on('connectFailed', (err: Error) => {
      if (!settle()) return;
      this.retry(new RelayError('ERR_HYCO_CONNECTION', `Opening the control channel failed: ${err.message}`, { cause: err }));
    });
    client.on('connect', (connection: WebSocketConnection) => {
      if (!settle()) return;
      if (this.closed) {
        connection.close(1000, 'Listener closing');
        return;
      }
      this.onOpen(connection, expiry);
    });
    this.connectTimer = setTimeout(() => {
      if (!settle()) return;
      client.abort();
      this.retry(new RelayError('ERR_HYCO_CONNECTION', `Opening the control channel timed out after ${this.options.connectTimeout} ms`));
    }, this.options.connectTimeout);
    debug('connecting to %s', this.options.listenUri);
    client.connect(this.options.listenUri, undefined, undefined, { [AUTH_HEADER]: token });
  }

  private onOpen(connection: WebSocketConnection, expiry: number | undefined): void {
    this.connection = connection;
    this.attempt = 0;
    this.expectBody = 0;
    debug('online');
    connection.on('message', (message: Message) => this.onMessage(message));
    connection.on('error', (err: Error) => debug('control channel error: %s', err.message));
    connection.on('close', (code: number, description: string) => {
      if (this.connection === connection) this.connection = undefined;
      if (this.renewTimer) clearTimeout(this.renewTimer);
      this.renewTimer = undefined;
      if (this.closed) return;
      const keepalive = code === 1006 && /not responding/i.test(description);
      const error = new RelayError(
        keepalive ? 'ERR_HYCO_KEEPALIVE_TIMEOUT' : 'ERR_HYCO_CONTROL_CHANNEL_CLOSED',
        keepalive ? 'The control channel did not answer a keepalive ping' : `The control channel closed (${code}${description ? `: ${description}` : ''})`,
      );
      this.retry(error);
    });
    this.scheduleRenewal(expiry);
    this.emit('online');
  }

  private onMessage(message: Message): void {
    if (message.type === 'binary') {
      if (this.expectBody > 0) {
        this.expectBody--;
        this.emit('requestBody', message.binaryData);
      } else this.report(new RelayError('ERR_HYCO_MALFORMED_MESSAGE', 'Ignored an unexpected binary frame on the control channel'));
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
    if ('accept' in parsed) this.emit('accept', parsed.accept);
    else {
      if (parsed.request.body) this.expectBody++;
      this.emit('request', parsed.request);
    }
  }

  private scheduleRenewal(expiry: number | undefined): void {
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    if (expiry === undefined || this.closed) return;
    const delay = renewalDelay(expiry);
    this.renewTimer = setTimeout(() => {
      this.renewTimer = undefined;
      if (this.options.tokens.renewable) void this.renew(expiry);
      else if (!this.warnedExpiry) {
        this.warnedExpiry = true;
        this.report(
          new RelayError('ERR_HYCO_INVALID_TOKEN', 'The listener token is about to expire and cannot be renewed: pass a token function to renew it'),
          'warning',
        );
      }
    }, delay);
  }

  private async renew(previousExpiry: number): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    let token: string;
    let expiry: number | undefined;
    try {
      ({ token, expiry } = await this.options.tokens.get());
    } catch (err) {
      this.report(err as RelayError);
      // Try again before the current token runs out.
      if (this.connection === connection && !this.closed) {
        const left = previousExpiry * 1000 - Date.now();
        this.renewTimer = setTimeout(() => void this.renew(previousExpiry), Math.max(100, Math.min(5000, left / 2)));
      }
      return;
    }
    if (this.connection !== connection || !connection.connected || this.closed) return;
    connection.sendUTF(JSON.stringify({ renewToken: { token } }));
    debug('token renewed');
    this.scheduleRenewal(expiry);
  }
}
