/**
 * One relayed HTTP request as the inspector keeps it: what the sender
 * asked (headers and query redacted), what the listener answered, timing,
 * sizes, which listener served it, how it ended, and (with capture on)
 * the first bytes of each body.
 */
import type { ExchangeObserver, ExchangeOutcome } from '../http-exchange';
import { printable } from '../tracking';
import type { CaptureBudget } from './body-capture';
import { CapturedBody } from './body-capture';
import { pairsOf, redactHeaderRecord } from './redaction';

/** How a recorded request ended. `refused`: the relay answered it without a listener (no listener online, a bad token, no such hybrid connection). */
export type RequestOutcome = 'in-progress' | ExchangeOutcome | 'refused';

/** A captured body, as served: base64 of the bytes kept. */
export interface BodyView {
  /** The body's size in bytes, as counted. */
  size: number;
  /** The bytes kept, base64 (absent with capture off). */
  base64?: string;
  /** Some bytes were not kept (over the per-body bound, or dropped to make room). */
  truncated?: boolean;
}

/** A recorded request as `GET /$requests` serves it. */
export interface HttpRequestRecord {
  /** The inspector's id (for `/$requests/{id}` and its replay). */
  id: string;
  /** The tracking id of the request (`sb-hc-id`, or the relay's). */
  trackingId: string;
  /** The id the listener saw the request by (absent when none was sent to a listener). */
  requestId?: string;
  hybridConnection: string;
  /** When it arrived (ISO 8601, with the date). */
  startedAt: string;
  method: string;
  /** The path as sent (without the query). */
  path: string;
  /** The query as sent, without `?`, credentials redacted ('' when none). */
  query: string;
  /** `http(s)://host/path?query`, credentials redacted. */
  url: string;
  httpVersion: string;
  requestHeaders: [string, string][];
  requestBody: BodyView;
  /** The status the sender got (0 while none has been sent, or none was: a cut before the head). */
  status: number;
  statusText: string;
  responseHeaders: [string, string][];
  responseBody: BodyView;
  /** Milliseconds until the response head went out (absent until then). */
  ttfbMs?: number;
  /** Milliseconds from arrival to the end (while in progress: so far). */
  durationMs: number;
  outcome: RequestOutcome;
  /** Why it failed, was cut or refused. */
  why?: string;
  /** The tracking id of the listener that served it. */
  listenerId?: string;
  /** The address of the sender. */
  clientAddress: string;
  /** The id of the record this one replays. */
  replayOf?: string;
}

/** Inputs of a new record (its headers already redacted). */
export interface RecordStart {
  id: string;
  trackingId: string;
  requestId?: string;
  hybridConnection: string;
  method: string;
  /** The path and query as sent, redacted. */
  target: string;
  url: string;
  httpVersion: string;
  /** Flat: name, value, name, value... (redacted). */
  requestHeaders: string[];
  clientAddress: string;
  listenerId?: string;
  replayOf?: string;
  /** The replay marker the request carried, when it is one of the inspector's replays. */
  replayNonce?: string;
}

/** What a record tells its keeper as it changes. */
export interface RecordEvents {
  /** The response status is known (answered or failed): counted by status. */
  status(status: number): void;
  /** Body bytes each way, counted. */
  bytes(toListener: number, toSender: number): void;
  /** The record changed (for live views) or ended. */
  changed(record: HttpRecord, ended: boolean): void;
}

export class HttpRecord implements ExchangeObserver {
  readonly started = Date.now();
  private readonly startedHr = performance.now();
  status = 0;
  statusText = '';
  /** Flat: name, value, name, value... (redacted). */
  responseHeaders: string[] = [];
  ttfbMs: number | undefined;
  durationMs: number | undefined;
  outcome: RequestOutcome = 'in-progress';
  why: string | undefined;
  /** Body sizes, bytes (counted whether or not bodies are captured). */
  requestSize = 0;
  responseSize = 0;
  /** The captured bodies, with capture on only (no object per request otherwise). */
  readonly reqBody: CapturedBody | undefined;
  readonly resBody: CapturedBody | undefined;

  constructor(
    readonly start: RecordStart,
    budget: CaptureBudget | undefined,
    private readonly events: RecordEvents,
  ) {
    if (budget) {
      this.reqBody = new CapturedBody(budget);
      this.resBody = new CapturedBody(budget);
    }
  }

  get id(): string {
    return this.start.id;
  }

  get finished(): boolean {
    return this.outcome !== 'in-progress';
  }

  requestBody(chunk: Buffer): void {
    this.requestSize += chunk.length;
    this.reqBody?.add(chunk);
    this.events.bytes(chunk.length, 0);
  }

  responded(status: number, headers: Record<string, string | string[]>): void {
    this.status = status;
    this.ttfbMs = elapsed(this.startedHr);
    this.responseHeaders = redactHeaderRecord(headers);
    this.events.status(status);
    this.events.changed(this, false);
  }

  responseBody(chunk: Buffer): void {
    this.responseSize += chunk.length;
    this.resBody?.add(chunk);
    this.events.bytes(0, chunk.length);
  }

  ended(outcome: Exclude<RequestOutcome, 'in-progress'>, status: number | undefined, why: string | undefined): void {
    if (this.finished) return;
    if (status !== undefined && this.status === 0) {
      this.status = status;
      this.statusText = (why ?? '').slice(0, 200);
      this.events.status(status);
    }
    this.outcome = outcome;
    if (why !== undefined) this.why = why.slice(0, 500);
    this.durationMs = elapsed(this.startedHr);
    this.events.changed(this, true);
  }

  view(): HttpRequestRecord {
    const s = this.start;
    const out: HttpRequestRecord = {
      id: s.id,
      trackingId: printable(s.trackingId),
      ...(s.requestId ? { requestId: s.requestId } : {}),
      hybridConnection: printable(s.hybridConnection),
      startedAt: new Date(this.started).toISOString(),
      method: s.method,
      path: s.target.split('?')[0],
      query: s.target.includes('?') ? s.target.slice(s.target.indexOf('?') + 1) : '',
      url: s.url,
      httpVersion: s.httpVersion,
      requestHeaders: pairsOf(s.requestHeaders),
      requestBody: bodyView(this.requestSize, this.reqBody),
      status: this.status,
      statusText: this.statusText,
      responseHeaders: pairsOf(this.responseHeaders),
      responseBody: bodyView(this.responseSize, this.resBody),
      outcome: this.outcome,
      clientAddress: s.clientAddress,
      durationMs: this.durationMs ?? elapsed(this.startedHr),
    };
    if (this.ttfbMs !== undefined) out.ttfbMs = this.ttfbMs;
    if (this.why !== undefined) out.why = this.why;
    if (s.listenerId) out.listenerId = s.listenerId;
    if (s.replayOf) out.replayOf = s.replayOf;
    return out;
  }
}

/** Milliseconds since `since` (a performance.now()), to 0.01 ms. */
function elapsed(since: number): number {
  return Math.round((performance.now() - since) * 100) / 100;
}

function bodyView(size: number, body: CapturedBody | undefined): BodyView {
  const view: BodyView = { size };
  if (!body) return view;
  view.base64 = body.bytes().toString('base64');
  if (body.truncated) view.truncated = true;
  return view;
}
