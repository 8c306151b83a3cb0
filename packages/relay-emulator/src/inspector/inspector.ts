/**
 * The inspector: what went through the relay. It records HTTP requests
 * (redacted, with bodies when asked), relayed WebSocket connections and
 * listener history in rings, counts for `/metrics`, and replays recorded
 * requests. The relay tells it what happens through a few hooks; with
 * recording off only counting is left on the hot path.
 */
import type { IncomingMessage } from 'node:http';
import type { RelayActivity } from '../activity';
import type { FrameRelay } from '../frame-relay';
import type { ExchangeObserver, ExchangeOutcome, HttpExchange } from '../http-exchange';
import type { RequestTarget } from '../request-target';
import { printable } from '../tracking';
import { ConnectionLog } from './connections';
import type { HttpRecord, RecordEvents, RecordStart } from './http-record';
import { ListenerHistory } from './listener-history';
import { Metrics } from './metrics';
import type { ResolvedInspectorOptions } from './options';
import { redactRawHeaders, redactTarget } from './redaction';
import { REPLAY_HEADER, ReplayError, Replayer } from './replay';
import type { ReplayRoute } from './replay';
import { RequestLog } from './request-log';

/** What the inspector reads from the emulator. */
export interface InspectorSources {
  /** Listeners online per hybrid connection. */
  listeners(): { path: string; listeners: number }[];
  /** Relayed connections joined since start. */
  connectionsTotal(): number;
  /** Senders that timed out waiting for a listener. */
  rendezvousTimeouts(): number;
  /** `http` or `https`: the scheme recorded URLs carry. */
  scheme: 'http' | 'https';
  /** Where replays go. */
  route: ReplayRoute;
}

export class Inspector {
  readonly requests: RequestLog;
  readonly connections: ConnectionLog;
  readonly listeners: ListenerHistory;
  readonly metrics: Metrics;
  private readonly replayer: Replayer;
  /** Bumped whenever a record is added or changes (live views re-read on a change). */
  version = 0;
  /** Called when a record is added or changes. */
  onChange: (() => void) | undefined;
  private readonly httpBytes = { toListener: 0, toSender: 0 };
  /** With recording off: counts, keeps nothing (one object for every exchange). */
  private readonly counting: ExchangeObserver;
  private readonly events: RecordEvents;

  constructor(
    readonly options: ResolvedInspectorOptions,
    private readonly sources: InspectorSources,
  ) {
    this.connections = new ConnectionLog(options);
    this.listeners = new ListenerHistory(options.ringSize);
    this.metrics = new Metrics({
      listeners: () => sources.listeners(),
      openConnections: () => this.connections.openCount,
      connectionsTotal: () => sources.connectionsTotal(),
      rendezvousTimeouts: () => sources.rendezvousTimeouts(),
      bytes: () => {
        const ws = this.connections.bytes();
        return { toListener: ws.toListener + this.httpBytes.toListener, toSender: ws.toSender + this.httpBytes.toSender };
      },
    });
    const bytes = this.httpBytes;
    const metrics = this.metrics;
    this.events = {
      status: (status) => metrics.httpStatus(status),
      bytes: (toListener, toSender) => {
        bytes.toListener += toListener;
        bytes.toSender += toSender;
      },
      changed: () => {
        this.version++;
        this.onChange?.();
      },
    };
    this.requests = new RequestLog(options, this.events);
    this.replayer = new Replayer(sources.route);
    this.counting = {
      requestBody: (chunk) => {
        bytes.toListener += chunk.length;
      },
      responded: (status) => metrics.httpStatus(status),
      responseBody: (chunk) => {
        bytes.toSender += chunk.length;
      },
      ended: (outcome: ExchangeOutcome, status) => {
        if (outcome === 'failed' && status !== undefined) metrics.httpStatus(status);
      },
    };
  }

  get recording(): boolean {
    return this.options.record;
  }

  /** A request is on its way to listener `listenerId`: its observer (a record, or a counter with recording off). */
  recordExchange(exchange: HttpExchange, target: RequestTarget, listenerId: string): ExchangeObserver {
    if (!this.options.record) return this.counting;
    const start = this.describe(exchange.req, target, exchange.entity.path);
    start.requestId = exchange.id;
    start.listenerId = listenerId;
    return this.requests.add(start);
  }

  /** A request the relay answered itself (no listener, no hybrid connection, a bad token). */
  recordRefusal(req: IncomingMessage, target: RequestTarget, path: string, status: number, why: string): void {
    if (!this.options.record) {
      this.metrics.httpStatus(status);
      return;
    }
    this.requests.add(this.describe(req, target, path)).ended('refused', status, why);
  }

  private describe(req: IncomingMessage, target: RequestTarget, hybridConnection: string): RecordStart {
    const path = redactTarget(req.url ?? '/');
    const start: RecordStart = {
      id: '',
      trackingId: target.trackingId,
      hybridConnection,
      method: req.method ?? 'GET',
      target: path,
      url: `${this.sources.scheme}://${target.host}${path}`,
      httpVersion: req.httpVersion,
      requestHeaders: redactRawHeaders(req.rawHeaders),
      clientAddress: req.socket.remoteAddress ?? '',
    };
    const marker = req.headers[REPLAY_HEADER];
    if (marker !== undefined) {
      const replay = this.replayer.claim(marker);
      if (replay) {
        start.replayOf = replay.replayOf;
        start.replayNonce = replay.nonce;
      }
    }
    return start;
  }

  connectionOpened(relay: FrameRelay): void {
    this.connections.opened(relay);
    this.changed();
  }

  connectionClosed(relay: FrameRelay): void {
    this.connections.closedRelay(relay);
    this.changed();
  }

  /** The emulator's activity: listener history and refusals. */
  activity(activity: RelayActivity): void {
    if (activity.type === 'refused' && activity.status !== undefined) this.metrics.refused(activity.status);
    if (this.options.record) this.listeners.note(activity);
  }

  /** Replays record `id`; resolves with the replay's record. */
  async replay(id: string): Promise<HttpRecord> {
    const original = this.requests.get(id);
    if (!original) throw new ReplayError('ERR_HYCO_REPLAY_NOT_FOUND', 404, `No recorded request ${printable(id, 40)} (it may have left the ring)`);
    const nonce = await this.replayer.send(original);
    const record = this.requests.findByNonce(nonce);
    if (!record) throw new ReplayError('ERR_HYCO_REPLAY_FAILED', 502, 'The replay was sent, but the relay did not take it');
    return record;
  }

  close(): void {
    this.replayer.close();
    this.metrics.close();
  }

  private changed(): void {
    this.version++;
    this.onChange?.();
  }
}
