/**
 * One HTTP request through the relay, service side: the sender's request
 * and response, from the moment a listener is chosen until the response
 * ends. The listener's response is checked before any of it reaches the
 * HTTP client (an interim 1xx status or a header HTTP cannot carry: 502),
 * its body is passed on as it arrives, and a body that is cut (its channel
 * died, or fewer bytes came than its Content-Length said) aborts the
 * client's connection: a cut response is never ended as if complete.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import type { ResponseMessage } from 'hyco-websocket/protocol';
import { checkResponseHeaders, viaEntry } from './headers';
import { safeDebug, sanitizeReason } from './tracking';

const debug = safeDebug('hyco-relay-emulator:http');

/** The request message fields, without the address (added per channel). */
export interface RequestFields {
  method: string;
  requestTarget: string;
  requestHeaders: Record<string, string>;
  remoteEndpoint: { address: string; port: number };
}

/**
 * A hybrid connection as the files below it (the HTTP exchange, the
 * control channel) know it: by its path. The `HybridConnection` itself
 * sits above them (it holds control channels), so they never import it.
 */
export interface EntityRef {
  readonly path: string;
}

/** Who is serving an exchange: told when it fails or its client leaves. */
export interface ExchangeOwner {
  /** The exchange has ended (answered, failed or abandoned). */
  release(exchange: HttpExchange): void;
}

/** How an exchange ended: its response complete, failed by the relay (a status sent), cut after its head, or left by its client. */
export type ExchangeOutcome = 'complete' | 'failed' | 'aborted' | 'client-gone';

/** Who watches an exchange (the inspector): told of its body bytes, its answer and its end. Calls are cheap and never throw. */
export interface ExchangeObserver {
  /** Request body bytes on their way to the listener. */
  requestBody(chunk: Buffer): void;
  /** The response head went to the client. */
  responded(status: number, headers: Record<string, string | string[]>): void;
  /** Response body bytes on their way to the client. */
  responseBody(chunk: Buffer): void;
  /** The exchange has ended; `status` when the relay answered it, `why` for a failure or a cut. */
  ended(outcome: ExchangeOutcome, status: number | undefined, why: string | undefined): void;
}

/** A request on its way to a listener and back. */
export class HttpExchange {
  /** The inspector's record of this exchange, when recording is on. */
  observer: ExchangeObserver | undefined;
  readonly id = randomUUID();
  /** The secret of the exchange's rendezvous address. */
  readonly secret = newSecret();
  /** The rendezvous address handed to the listener. */
  address = '';
  /** Whether the request message (and body) has gone to the listener. */
  delivered = false;
  /** A rendezvous has taken this exchange over. */
  rendezvousAttached = false;
  /** Called when the HTTP client goes away before the response ends. */
  onClientGone: (() => void) | undefined;
  private state: 'waiting' | 'answered' | 'done' = 'waiting';
  private expectedLength: number | undefined;
  private written = 0;
  /** One timer per exchange, for the answer and then each silence of the body (refreshed, never re-created). */
  private timer: NodeJS.Timeout | undefined;
  /** The deadline's status text, made only when the deadline passes. */
  private deadlineText: string | (() => string) = '';
  private readonly owners = new Set<ExchangeOwner>();

  constructor(
    readonly entity: EntityRef,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly message: RequestFields,
    /** The host name the sender addressed: the relay names itself so in `Via`. */
    private readonly relayHost: string,
    private readonly onDone: (exchange: HttpExchange) => void,
  ) {
    res.on('close', () => {
      if (this.state === 'done') return;
      debug('HTTP client of %s left before the response ended', this.id);
      this.settle('client-gone', undefined, 'the HTTP client went away before the response ended');
      this.onClientGone?.();
    });
  }

  get done(): boolean {
    return this.state === 'done';
  }

  /** Whether the response head has gone to the client. */
  get answered(): boolean {
    return this.state !== 'waiting';
  }

  /**
   * Fails the exchange with 504 after `ms` unless it has been answered (its
   * head written) by then; once answered, the same time bounds each silence
   * of the body (a listener that sends a head and then nothing more is cut),
   * never the body's whole length.
   */
  deadline(ms: number, text: string | (() => string)): void {
    this.deadlineText = text;
    this.timer = setTimeout(() => this.deadlinePassed(), ms);
  }

  private deadlinePassed(): void {
    const text = typeof this.deadlineText === 'string' ? this.deadlineText : this.deadlineText();
    this.fail(504, this.state === 'answered' ? `${text} (the response body stopped)` : text);
  }

  /** Restarts the deadline as the body's idle bound. */
  private stillGoing(): void {
    this.timer?.refresh();
  }

  /** Registers something to release when the exchange ends (a control channel, a rendezvous). */
  ownedBy(owner: ExchangeOwner): void {
    this.owners.add(owner);
  }

  /**
   * Writes the listener's response head to the client. Returns a problem
   * (and answers the client 502) when the response cannot be given to an
   * HTTP client: an interim status, or a header HTTP cannot carry.
   */
  respond(response: ResponseMessage['response']): string | undefined {
    if (this.state !== 'waiting') return undefined;
    let problem: string | undefined;
    const checked = checkResponseHeaders(response.responseHeaders, this.relayHost);
    if (response.statusCode < 200) problem = `the status ${response.statusCode} is interim (1xx), not a final response`;
    else if (typeof checked === 'string') problem = checked;
    if (problem !== undefined || typeof checked === 'string') {
      this.fail(502, `BadGateway: the listener's response could not be delivered: ${problem}`);
      return problem;
    }
    const bodiless = this.req.method === 'HEAD' || response.statusCode === 204 || response.statusCode === 304;
    this.expectedLength = bodiless ? undefined : checked.contentLength;
    try {
      this.res.writeHead(response.statusCode, sanitizeReason(response.statusDescription ?? ''), checked.headers);
    } catch (err) {
      problem = `the response head could not be written (${(err as Error).message})`;
      this.fail(502, `BadGateway: the listener's response could not be delivered: ${problem}`);
      return problem;
    }
    this.state = 'answered';
    this.observer?.responded(response.statusCode, checked.headers);
    // The deadline is for the answer (PROTOCOL.md: every request answered within 60 s), not for the whole
    // body: a long download or an event stream goes on while bytes keep coming.
    this.stillGoing();
    // A response that cannot have a body (HEAD, 204, 304) is complete now; a body sent anyway is dropped.
    if (!response.body || bodiless) {
      this.end();
      return undefined;
    }
    // The status and headers go out in this turn, not with the first body bytes (a stream may take its
    // time); corked until the turn ends, so that a body that follows at once (inline, or in the same read)
    // leaves with them in one write.
    const socket = this.res.socket;
    if (socket && !socket.destroyed) {
      socket.cork();
      process.nextTick(uncork, socket);
    }
    this.res.flushHeaders();
    return undefined;
  }

  /** Body bytes of the response, passed on as they come; false when the client is not keeping up. */
  write(chunk: Buffer): boolean {
    if (this.state !== 'answered' || chunk.length === 0) return true;
    this.stillGoing();
    this.written += chunk.length;
    if (this.expectedLength !== undefined && this.written > this.expectedLength) {
      this.abort('the listener sent more body than its Content-Length');
      return true;
    }
    this.observer?.responseBody(chunk);
    return this.res.write(chunk);
  }

  /** The response body is complete. A body shorter than its Content-Length is a cut body. */
  end(): void {
    if (this.state !== 'answered') return;
    if (this.expectedLength !== undefined && this.written !== this.expectedLength) {
      this.abort(`the body ended after ${this.written} of ${this.expectedLength} bytes`);
      return;
    }
    this.settle('complete', undefined, undefined);
    this.res.end();
  }

  /**
   * Ends the exchange with `status` when no response has begun; once one
   * has, the client's connection is aborted (a cut response never looks
   * complete).
   */
  fail(status: number, text: string): void {
    if (this.state === 'done') return;
    if (this.state === 'answered') {
      this.abort(text);
      return;
    }
    this.settle('failed', status, text);
    this.res.writeHead(status, sanitizeReason(text), { 'Content-Type': 'text/plain; charset=utf-8', Via: viaEntry(this.relayHost) });
    this.res.end(`${text}\n`);
  }

  /** Aborts: 502 before a response began, else the client's connection is cut. */
  abort(why: string): void {
    if (this.state === 'done') return;
    if (this.state === 'waiting') {
      this.fail(502, `BadGateway: ${why}`);
      return;
    }
    debug('HTTP response %s cut: %s', this.id, why);
    this.settle('aborted', undefined, why);
    // What was written before the cut (the head at least) leaves first, as it would have uncorked: the
    // client sees a response cut short, not a connection closed before any answer.
    const socket = this.res.socket;
    if (socket && !socket.destroyed) while (socket.writableCorked > 0) socket.uncork();
    this.res.destroy();
  }

  private settle(outcome: ExchangeOutcome, status: number | undefined, why: string | undefined): void {
    this.state = 'done';
    this.observer?.ended(outcome, status, why);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // The rest of a request body nobody will read.
    this.req.resume();
    for (const owner of this.owners) owner.release(this);
    this.owners.clear();
    this.onDone(this);
  }
}

function uncork(socket: { uncork(): void }): void {
  socket.uncork();
}

/** Random bytes drawn in batches for rendezvous secrets (one system call per batch, not per exchange). */
const SECRET_BYTES = 16;
const SECRET_BATCH = 256;
let secretPool = Buffer.alloc(0);
let secretAt = 0;

/** A new rendezvous secret: 16 random bytes, hex. */
function newSecret(): string {
  if (secretAt + SECRET_BYTES > secretPool.length) {
    secretPool = randomBytes(SECRET_BYTES * SECRET_BATCH);
    secretAt = 0;
  }
  const secret = secretPool.toString('hex', secretAt, secretAt + SECRET_BYTES);
  secretAt += SECRET_BYTES;
  return secret;
}

/** Ids of exchanges that ended lately are remembered this long: a late answer to one is dropped quietly. */
const RECENT_IDS = 10_000;

/** Every open HTTP exchange, by id and by rendezvous secret. */
export class HttpExchanges {
  private readonly byId = new Map<string, HttpExchange>();
  private readonly bySecret = new Map<string, HttpExchange>();
  private readonly recent = new Set<string>();
  /** The same ids in the order they ended, a ring: the oldest is found without walking the set (O(1) per exchange). */
  private readonly recentOrder: (string | undefined)[] = new Array<string | undefined>(RECENT_IDS);
  private recentAt = 0;

  add(exchange: HttpExchange): void {
    this.byId.set(exchange.id, exchange);
    this.bySecret.set(exchange.secret, exchange);
  }

  /** Takes the exchange a rendezvous secret opens (single use). */
  takeBySecret(secret: string | null): HttpExchange | undefined {
    if (!secret) return undefined;
    const exchange = this.bySecret.get(secret);
    if (!exchange || exchange.done) return undefined;
    this.bySecret.delete(secret);
    return exchange;
  }

  /** Whether `id` belonged to an exchange that has ended lately. */
  endedLately(id: string): boolean {
    return this.recent.has(id);
  }

  forget(exchange: HttpExchange): void {
    this.byId.delete(exchange.id);
    this.bySecret.delete(exchange.secret);
    if (this.recent.has(exchange.id)) return;
    const oldest = this.recentOrder[this.recentAt];
    if (oldest !== undefined) this.recent.delete(oldest);
    this.recentOrder[this.recentAt] = exchange.id;
    this.recentAt = (this.recentAt + 1) % RECENT_IDS;
    this.recent.add(exchange.id);
  }

  all(): HttpExchange[] {
    return [...this.byId.values()];
  }
}
