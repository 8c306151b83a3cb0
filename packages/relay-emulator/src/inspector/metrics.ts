/**
 * `/metrics`: the emulator in the Prometheus text format (prom-client, on
 * a registry of its own: nothing global is touched). Gauges and totals are
 * read from the emulator's state when scraped; the relay's hot path only
 * adds to counters it already keeps.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Registry } from 'prom-client';

/** What the metrics are read from at each scrape. */
export interface MetricSources {
  /** Listeners online per hybrid connection. */
  listeners(): { path: string; listeners: number }[];
  /** Relayed WebSocket connections open now. */
  openConnections(): number;
  /** Relayed WebSocket connections joined since start. */
  connectionsTotal(): number;
  /** Senders no listener accepted in time (504). */
  rendezvousTimeouts(): number;
  /** Payload bytes relayed each way so far (WebSocket connections and HTTP bodies). */
  bytes(): { toListener: number; toSender: number };
}

const PREFIX = 'hyco_emulator_';

export class Metrics {
  readonly registry = new Registry();
  /** HTTP requests by status: counted here (one Map update), read into the counter when scraped. */
  private readonly byStatus = new Map<number, number>();
  private readonly refusals: Counter<'status'>;
  private readonly loop: IntervalHistogram;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    this.loop = monitorEventLoopDelay({ resolution: 20 });
    this.loop.enable();
    const loop = this.loop;
    new Gauge({
      name: `${PREFIX}listeners_online`,
      help: 'Listeners online (control channels open), per hybrid connection',
      labelNames: ['hybrid_connection'],
      registers,
      collect() {
        this.reset();
        for (const hc of sources.listeners()) this.set({ hybrid_connection: hc.path }, hc.listeners);
      },
    });
    new Gauge({
      name: `${PREFIX}relayed_connections_open`,
      help: 'Relayed WebSocket connections open now',
      registers,
      collect() {
        this.set(sources.openConnections());
      },
    });
    new Counter({
      name: `${PREFIX}relayed_connections_total`,
      help: 'Relayed WebSocket connections joined since the emulator started',
      registers,
      collect() {
        this.reset();
        this.inc(sources.connectionsTotal());
      },
    });
    const byStatus = this.byStatus;
    new Counter({
      name: `${PREFIX}http_requests_total`,
      help: 'Relayed HTTP requests, by the status their sender got',
      labelNames: ['status'],
      registers,
      collect() {
        this.reset();
        for (const [status, count] of byStatus) this.inc({ status: String(status) }, count);
      },
    });
    new Counter({
      name: `${PREFIX}relayed_bytes_total`,
      help: 'Payload bytes relayed (WebSocket messages and HTTP bodies), by direction',
      labelNames: ['direction'],
      registers,
      collect() {
        const bytes = sources.bytes();
        this.reset();
        this.inc({ direction: 'to_listener' }, bytes.toListener);
        this.inc({ direction: 'to_sender' }, bytes.toSender);
      },
    });
    this.refusals = new Counter({
      name: `${PREFIX}refusals_total`,
      help: 'Requests and handshakes the relay refused, by status',
      labelNames: ['status'],
      registers,
    });
    new Counter({
      name: `${PREFIX}rendezvous_timeouts_total`,
      help: 'Senders no listener accepted within the rendezvous timeout (504)',
      registers,
      collect() {
        this.reset();
        this.inc(sources.rendezvousTimeouts());
      },
    });
    new Gauge({
      name: `${PREFIX}event_loop_lag_seconds`,
      help: 'Event loop delay since the last scrape, seconds (mean, p99 and max)',
      labelNames: ['stat'],
      registers,
      collect() {
        const s = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
        this.set({ stat: 'mean' }, loop.count > 0 ? s(loop.mean) : 0);
        this.set({ stat: 'p99' }, loop.count > 0 ? s(loop.percentile(99)) : 0);
        this.set({ stat: 'max' }, loop.count > 0 ? s(loop.max) : 0);
        loop.reset();
      },
    });
  }

  /** An HTTP request's sender got `status`. */
  httpStatus(status: number): void {
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
  }

  /** The relay refused something with `status`. */
  refused(status: number): void {
    this.refusals.inc({ status: String(status) });
  }

  /** The text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.loop.disable();
    this.registry.clear();
  }
}
