/**
 * A listener's control channel, service side: sends `accept` (and later
 * `request`) messages, takes `renewToken`, closes with 1008 when the token
 * expires, 1001 when the entity goes or the relay stops.
 */
import type { WebSocket, RawData } from 'ws';
import createDebug from 'debug';
import type { AcceptMessage, ListenerMessage } from 'hyco-websocket/protocol';
import { parseListenerMessage } from 'hyco-websocket/protocol';
import type { AuthResult } from './auth';
import type { HybridConnection } from './hybrid-connection';

const debug = createDebug('hyco-relay-emulator:control');

/** Close codes the service uses on control channels. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_ENTITY_GONE = 1001;
export const CLOSE_UNSUPPORTED_DATA = 1003;
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_SERVICE_FAULT = 1011;

/** Longest a Node timer may wait, ms. */
const MAX_TIMER_MS = 0x7fffffff;

export interface ControlChannelOptions {
  /** Checks a renewed token for Listen on this entity. */
  authorizeRenewal: (token: string) => AuthResult;
  /** Cut the channel when nothing arrives for this long, ms; 0 = never. */
  idleTimeoutMs: number;
  /** Sees every message first (HTTP responses and their bodies); true when it took it. */
  onData?: (channel: ControlChannel, data: RawData, isBinary: boolean) => boolean;
  onClose: (channel: ControlChannel) => void;
}

export class ControlChannel {
  private expiryTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly ws: WebSocket,
    readonly entity: HybridConnection,
    /** `host[:port]` the listener reached the relay with. */
    readonly host: string,
    readonly trackingId: string,
    tokenExpiry: number | undefined,
    private readonly options: ControlChannelOptions,
  ) {
    this.armExpiry(tokenExpiry);
    this.touch();
    ws.on('message', (data, isBinary) => this.onData(data, isBinary));
    ws.on('ping', () => this.touch());
    ws.on('pong', () => this.touch());
    ws.on('error', (err) => debug('control channel %s error: %s', trackingId, err.message));
    ws.on('close', (code) => {
      debug('control channel %s on %s closed (%d)', trackingId, entity.path, code);
      this.cleanup();
    });
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === this.ws.OPEN;
  }

  /** Sends an accept message for a waiting sender. */
  sendAccept(message: AcceptMessage): void {
    this.ws.send(JSON.stringify(message));
  }

  /** Sends any JSON control message. */
  sendJson(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  /** Closes the channel with a code and reason, as the service. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    this.ws.close(code, reason.slice(0, 123));
    // A listener that never answers the close loses its socket.
    const timer = setTimeout(() => this.ws.terminate(), 2000);
    this.ws.once('close', () => clearTimeout(timer));
  }

  /**
   * Stops reading from the listener, as a dead network path would: its pings
   * go unanswered and nothing it sends arrives. The socket stays open.
   */
  stall(): void {
    this.clearTimers();
    (this.ws as unknown as { _socket?: { pause(): void } })._socket?.pause();
  }

  /** Drops the TCP connection abruptly, as a network fault would. */
  drop(): void {
    this.closed = true;
    this.clearTimers();
    this.ws.terminate();
  }

  private onData(data: RawData, isBinary: boolean): void {
    this.touch();
    if (this.options.onData?.(this, data, isBinary)) return;
    if (isBinary) {
      this.close(CLOSE_UNSUPPORTED_DATA, 'Binary frames are not expected on the control channel');
      return;
    }
    let message: ListenerMessage;
    try {
      message = parseListenerMessage(rawText(data));
    } catch (err) {
      this.close(CLOSE_POLICY_VIOLATION, (err as Error).message);
      return;
    }
    if ('renewToken' in message) {
      const result = this.options.authorizeRenewal(message.renewToken.token);
      if (!result.ok) {
        this.close(CLOSE_POLICY_VIOLATION, `renewToken refused: ${result.reason}`);
        return;
      }
      debug('control channel %s renewed its token', this.trackingId);
      this.armExpiry(result.expiry);
      return;
    }
    this.close(CLOSE_POLICY_VIOLATION, `Unexpected response: no request ${message.response.requestId.slice(0, 40)} is pending`);
  }

  private armExpiry(expiry: number | undefined): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    if (expiry === undefined) return;
    const delay = expiry * 1000 - Date.now();
    if (delay <= 0) {
      this.close(CLOSE_POLICY_VIOLATION, 'The token has expired');
      return;
    }
    this.expiryTimer = setTimeout(() => this.armExpiry(expiry), Math.min(delay, MAX_TIMER_MS));
  }

  private touch(): void {
    if (this.options.idleTimeoutMs <= 0 || this.closed) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(() => {
        debug('control channel %s idle for %d ms: cut', this.trackingId, this.options.idleTimeoutMs);
        this.drop();
      }, this.options.idleTimeoutMs);
    }
  }

  private clearTimers(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.expiryTimer = this.idleTimer = undefined;
  }

  private cleanup(): void {
    this.closed = true;
    this.clearTimers();
    this.options.onClose(this);
  }
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
