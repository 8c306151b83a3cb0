/**
 * Body capture: the first bytes of request and response bodies, each body
 * up to its own bound, all of them together up to a total; to make room,
 * the oldest bodies are dropped (their records say so).
 */

/** One body as it is kept: its first bytes and its size as counted. */
export class CapturedBody {
  private chunks: Buffer[] = [];
  /** Bytes kept. */
  kept = 0;
  /** Bytes seen (the whole body's size so far). */
  size = 0;
  /** Some bytes were not kept: over the per-body bound, or dropped to make room. */
  truncated = false;
  /** Dropped whole to make room for newer bodies. */
  dropped = false;

  constructor(private readonly budget: CaptureBudget) {}

  /** Counts `chunk`, and keeps what fits. */
  add(chunk: Buffer): void {
    this.size += chunk.length;
    const budget = this.budget;
    if (this.dropped) {
      this.truncated = true;
      return;
    }
    const room = budget.maxBodyBytes - this.kept;
    if (room <= 0 || chunk.length === 0) {
      if (chunk.length > 0) this.truncated = true;
      return;
    }
    const take = Math.min(room, chunk.length);
    if (take < chunk.length) this.truncated = true;
    // A copy: the chunk belongs to a socket and must not be held.
    this.chunks.push(Buffer.from(chunk.subarray(0, take)));
    this.kept += take;
    budget.took(this, take);
  }

  bytes(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** Gives its bytes back (dropped to make room, or its record left the ring). */
  release(): number {
    const freed = this.kept;
    this.chunks = [];
    this.kept = 0;
    return freed;
  }

  drop(): number {
    this.dropped = true;
    this.truncated = this.truncated || this.size > 0;
    return this.release();
  }
}

/** The total bound on captured bytes. */
export class CaptureBudget {
  private used = 0;
  /** Bodies holding bytes, oldest first. */
  private readonly holders = new Set<CapturedBody>();

  constructor(
    readonly maxBodyBytes: number,
    private readonly maxTotal: number,
  ) {}

  get usedBytes(): number {
    return this.used;
  }

  took(body: CapturedBody, bytes: number): void {
    this.holders.add(body);
    this.used += bytes;
    for (const oldest of this.holders) {
      if (this.used <= this.maxTotal) break;
      this.holders.delete(oldest);
      this.used -= oldest.drop();
    }
  }

  /** A body whose record left the ring gives its bytes back. */
  forget(body: CapturedBody): void {
    const held = this.holders.delete(body);
    const freed = body.drop();
    if (held) this.used -= freed;
  }
}
