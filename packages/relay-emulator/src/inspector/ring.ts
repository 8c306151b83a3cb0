/** A ring: the last `capacity` items, oldest dropped first. */
export class Ring<T> {
  private readonly items: (T | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Adds `item`; returns the one it pushed out, if any. */
  push(item: T): T | undefined {
    const dropped = this.count === this.capacity ? this.items[this.next] : undefined;
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    return dropped;
  }

  /** Newest first. */
  newestFirst(): T[] {
    const out: T[] = [];
    for (let i = 1; i <= this.count; i++) out.push(this.items[(this.next - i + this.capacity) % this.capacity] as T);
    return out;
  }

  find(match: (item: T) => boolean): T | undefined {
    for (let i = 1; i <= this.count; i++) {
      const item = this.items[(this.next - i + this.capacity) % this.capacity] as T;
      if (match(item)) return item;
    }
    return undefined;
  }
}
