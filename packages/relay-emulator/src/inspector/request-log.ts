/**
 * The request log: the last N recorded HTTP requests (a ring), newest
 * first, with their captured bodies under one total bound.
 */
import { CaptureBudget } from './body-capture';
import { HttpRecord } from './http-record';
import type { HttpRequestRecord, RecordEvents, RecordStart } from './http-record';
import type { ResolvedInspectorOptions } from './options';
import { Ring } from './ring';

/** What `GET /$requests` can be filtered by. */
export interface RequestFilter {
  /** The hybrid connection (exact, case-insensitive). */
  hybridConnection?: string;
  /** A status (`502`), a class (`5xx`), or an outcome (`aborted`, `in-progress`...). */
  status?: string;
  /** At most this many (newest first). */
  limit?: number;
}

export class RequestLog {
  private readonly ring: Ring<HttpRecord>;
  private readonly budget: CaptureBudget | undefined;
  private seq = 0;

  constructor(
    options: ResolvedInspectorOptions,
    private readonly events: RecordEvents,
  ) {
    this.ring = new Ring(options.ringSize);
    this.budget = options.captureBodies ? new CaptureBudget(options.maxBodyBytes, options.maxCapturedBytes) : undefined;
  }

  get size(): number {
    return this.ring.size;
  }

  /** Bytes of bodies kept now. */
  get capturedBytes(): number {
    return this.budget?.usedBytes ?? 0;
  }

  /** Starts a record (it is in the log at once, in progress). */
  add(start: RecordStart): HttpRecord {
    start.id = (++this.seq).toString(36);
    const record = new HttpRecord(start, this.budget, this.events);
    const dropped = this.ring.push(record);
    if (dropped?.reqBody && this.budget) this.budget.forget(dropped.reqBody);
    if (dropped?.resBody && this.budget) this.budget.forget(dropped.resBody);
    this.events.changed(record, false);
    return record;
  }

  get(id: string): HttpRecord | undefined {
    return this.ring.find((r) => r.id === id);
  }

  /** Records with a replay marker. */
  findByNonce(nonce: string): HttpRecord | undefined {
    return this.ring.find((r) => r.start.replayNonce === nonce);
  }

  list(filter: RequestFilter = {}): HttpRequestRecord[] {
    const out: HttpRequestRecord[] = [];
    const hc = filter.hybridConnection?.toLowerCase();
    const status = filter.status?.toLowerCase();
    const limit = filter.limit ?? Infinity;
    for (const record of this.ring.newestFirst()) {
      if (out.length >= limit) break;
      if (hc && record.start.hybridConnection.toLowerCase() !== hc) continue;
      if (status && !matchesStatus(record, status)) continue;
      out.push(record.view());
    }
    return out;
  }
}

function matchesStatus(record: HttpRecord, status: string): boolean {
  if (/^\d{3}$/.test(status)) return record.status === Number(status);
  if (/^\dxx$/.test(status)) return Math.floor(record.status / 100) === Number(status[0]);
  return record.outcome === status;
}
