/**
 * A listener's control channel, service side: sends `accept` and `request`
 * messages, takes `renewToken` and inline HTTP responses, closes with 1008
 * when the token expires, 1001 when the entity goes or the relay stops.
 * HTTP exchanges waiting on this listener fail at once (502, or an aborted
 * response) when the channel goes.
 */
import type { WebSocket, RawData } from 'ws';
import type { AcceptMessage, ListenerMessage } from 'hyco-websocket/protocol';
import { parseListenerMessage } from 'hyco-websocket/protocol';
import type { AuthResult } from './auth';
import { CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR, CLOSE_POLICY_VIOLATION } from './frames';
import type { EntityRef, ExchangeOwner, HttpExchange } from './http-exchange';
import { closeReason, safeDebug } from './tracking';

const debug = safeDebug('hyco-relay-emulator:control');

/** Close codes the service uses on control channels. */
export const CLOSE_ENTITY_GONE = CLOSE_GOING_AWAY;
export const CLOSE_UNSUPPORTED_DATA = 1003;
export const CLOSE_SERVICE_FAULT = CLOSE_INTERNAL_ERROR;
export { CLOSE_POLICY_VIOLATION };

/** Longest a Node timer may wait, ms. */
const MAX_TIMER_MS = 0x7fffffff;

export interface ControlChannelOptions {
  /** Checks a renewed token for Listen on this entity. */
  authorizeRenewal: (token: string) => Promise<AuthResult>;
  /** Cut the channel when nothing arrives for this long, ms; 0 = never. */
  idleTimeoutMs: number;
  /** `close`: a ping from the listener closes the channel (1008); `answer`: it gets a pong. */
  listenerPings: 'answer' | 'close';
  /** Whether an HTTP request id that is not this channel's ended lately (a late answer, dropped quietly). */
  endedLately: (requestId: string) => boolean;
  /** The listener sent a response the relay could not deliver (the channel stays open). */
  onListenerError: (channel: ControlChannel, detail: string) => void;
  onClose: (channel: ControlChannel) => void;
}

export class ControlChannel implements ExchangeOwner {
  /** HTTP exchanges sent to this listener and not yet ended, by id. */
  private readonly exchanges = new Map<string, HttpExchange>();
  private expiryTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Whether writes to the listener are held until the end of this pass of the event loop (see batchWrites). */
  private corked = false;
  /** Why the channel ended, once it has: who ended it, the close code (none when the network cut it) and the reason. */
  ending: { by: 'relay' | 'listener' | 'network'; code: number | undefined; reason: string } | undefined;
  /** The inline response whose body (the next binary message) is awaited; 'drop' for one nobody awaits. */
  private bodyFor: HttpExchange | 'drop' | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly entity: EntityRef,
    /** `host[:port]` the listener reached the relay with (checked). */
    readonly host: string,
    readonly trackingId: string,
    tokenExpiry: number | undefined,
    private readonly options: ControlChannelOptions,
  ) {
    this.armExpiry(tokenExpiry);
    this.touch();
    ws.on('message', (data, isBinary) => {
      try {
        this.onData(data, isBinary);
      } catch (err) {
        // Unexpected: this listener's channel ends, nothing else does.
        debug('control channel %s failed: %s', trackingId, (err as Error)?.message ?? String(err));
        this.close(CLOSE_SERVICE_FAULT, 'The relay failed to handle a message');
      }
    });
    ws.on('ping', () => {
      if (options.listenerPings === 'close') {
        debug('control channel %s sent a ping: closed (listenerPings: close)', trackingId);
        this.close(CLOSE_POLICY_VIOLATION, 'Pings are not accepted on the control channel');
        return;
      }
      this.touch();
    });
    ws.on('pong', () => this.touch());
    ws.on('error', (err) => debug('control channel %s error: %s', trackingId, err.message));
    ws.on('close', (code, reason) => {
      this.ending ??= { by: code === 1006 ? 'network' : 'listener', code: code === 1006 ? undefined : code, reason: code === 1006 ? 'the connection ended without a close frame' : reason.toString('utf8').slice(0, 123) };
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

  /** Sends an HTTP exchange's request (inline with its body, or address-only) and waits for its answer here. */
  sendRequest(exchange: HttpExchange, message: unknown, body?: Buffer): void {
    this.exchanges.set(exchange.id, exchange);
    exchange.ownedBy(this);
    this.batchWrites();
    this.ws.send(JSON.stringify(message));
    if (body && body.length > 0) this.ws.send(body, { binary: true });
  }

  /**
   * Holds this turn's writes to the listener (requests from many senders, read in one pass of the event
   * loop) and lets them leave together, in one write, once the pass ends.
   */
  private batchWrites(): void {
    if (this.corked) return;
    const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void; destroyed?: boolean } })._socket;
    if (!socket || socket.destroyed) return;
    socket.cork();
    this.corked = true;
    setImmediate(() => {
      this.corked = false;
      socket.uncork();
    });
  }

  /** An exchange this channel was waiting on has ended. */
  release(exchange: HttpExchange): void {
    this.exchanges.delete(exchange.id);
    if (this.bodyFor === exchange) this.bodyFor = 'drop';
  }

  /** Closes the channel with a code and reason, as the service. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.ending ??= { by: 'relay', code, reason };
    this.clearTimers();
    this.ws.close(code, closeReason(reason));
    // A listener that never answers the close loses its socket.
    const timer = setTimeout(() => this.ws.terminate(), 2000);
    this.ws.once('close', () => clearTimeout(timer));
    this.failExchanges();
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
  drop(why = 'the connection was cut'): void {
    this.ending ??= { by: 'network', code: undefined, reason: why };
    this.closed = true;
    this.clearTimers();
    this.ws.terminate();
    this.failExchanges();
  }

  private onData(data: RawData, isBinary: boolean): void {
    this.touch();
    const buffer = toBuffer(data);
    if (isBinary) {
      const target = this.bodyFor;
      this.bodyFor = undefined;
      if (target === undefined) {
        this.close(CLOSE_UNSUPPORTED_DATA, 'Binary frames are not expected on the control channel');
        return;
      }
      if (target !== 'drop') {
        target.write(buffer);
        target.end();
      }
      return;
    }
    let message: ListenerMessage;
    try {
      message = parseListenerMessage(buffer.toString('utf8'));
    } catch (err) {
      this.close(CLOSE_POLICY_VIOLATION, (err as Error).message);
      return;
    }
    if ('renewToken' in message) {
      this.renew(message.renewToken.token);
      return;
    }
    const response = message.response;
    const exchange = this.exchanges.get(response.requestId);
    if (!exchange) {
      if (this.options.endedLately(response.requestId)) {
        // A late answer to a request that timed out or whose client left: dropped.
        this.bodyFor = response.body === true ? 'drop' : undefined;
        return;
      }
      this.close(CLOSE_POLICY_VIOLATION, `Unexpected response: no request ${response.requestId} is pending`);
      return;
    }
    const problem = exchange.respond(response);
    if (problem !== undefined) this.options.onListenerError(this, problem);
    this.bodyFor = response.body === true ? (problem === undefined ? exchange : 'drop') : undefined;
  }

  private renew(token: string): void {
    this.options.authorizeRenewal(token).then(
      (result) => {
        if (this.closed) return;
        if (!result.ok) {
          this.close(CLOSE_POLICY_VIOLATION, `renewToken refused: ${result.reason}`);
          return;
        }
        debug('control channel %s renewed its token', this.trackingId);
        this.armExpiry(result.expiry);
      },
      (err: Error) => {
        debug('renewal check failed: %s', err.message);
        this.close(CLOSE_SERVICE_FAULT, 'The relay failed to check the token');
      },
    );
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
        this.drop(`idle for ${this.options.idleTimeoutMs} ms: cut`);
      }, this.options.idleTimeoutMs);
    }
  }

  private clearTimers(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.expiryTimer = this.idleTimer = undefined;
  }

  /** Exchanges waiting on this listener fail now, not at their deadline. */
  private failExchanges(): void {
    for (const exchange of [...this.exchanges.values()]) {
      // One a rendezvous has taken over goes on there.
      if (!exchange.rendezvousAttached) exchange.abort('the listener\'s control channel closed');
    }
    this.exchanges.clear();
  }

  private cleanup(): void {
    this.closed = true;
    this.clearTimers();
    this.failExchanges();
    this.options.onClose(this);
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
