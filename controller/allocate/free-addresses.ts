/**
 * Finds the lowest free address of one family in one pool without enumerating the pool: a cursor
 * sweeps the sorted ranges once, and addresses freed behind it wait in a min-heap. Each address is
 * passed by the cursor at most once per pool version, so allocating n Services costs O(n log n) however
 * big the pool is (a /64 is never walked), and an exhausted pool answers in O(1).
 */
import { type IpRange, isBuggyIPv4 } from '../../shared/ip.ts';

/** A binary min-heap of bigints. */
class BigIntHeap {
  private readonly items: bigint[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): bigint | undefined {
    return this.items[0];
  }

  push(v: bigint): void {
    const a = this.items;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((a[parent] as bigint) <= v) break;
      a[i] = a[parent] as bigint;
      i = parent;
    }
    a[i] = v;
  }

  pop(): bigint | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const child = r < a.length && (a[r] as bigint) < (a[l] as bigint) ? r : l;
      if ((a[child] as bigint) >= last) break;
      a[i] = a[child] as bigint;
      i = child;
    }
    a[i] = last;
    return top;
  }
}

/** Lowest-free-address finder for one family of one pool. */
export class FreeAddresses {
  private readonly ranges: readonly IpRange[];
  private readonly avoidBuggy: boolean;
  private readonly isUsed: (value: bigint) => boolean;
  private rangeIndex = 0;
  /** Every address below the cursor is used, skipped as buggy, or waiting in `holes`. */
  private cursor: bigint;
  private readonly holes = new BigIntHeap();

  /**
   * `ranges` must be disjoint, sorted and of one family; `isUsed` answers from the allocator's own
   * state, so this finder never holds a second copy of who uses what.
   */
  constructor(ranges: readonly IpRange[], avoidBuggy: boolean, isUsed: (value: bigint) => boolean) {
    this.ranges = ranges;
    this.avoidBuggy = avoidBuggy && ranges[0]?.family === 4;
    this.isUsed = isUsed;
    this.cursor = ranges[0]?.first ?? 0n;
  }

  /** The lowest free address, or null when none is left. Does not take it. */
  lowest(): bigint | null {
    // Holes are all below the cursor, so a live hole is always the answer when there is one.
    while (this.holes.size > 0) {
      const h = this.holes.peek() as bigint;
      if (!this.isUsed(h)) return h;
      this.holes.pop();
    }
    while (this.rangeIndex < this.ranges.length) {
      const r = this.ranges[this.rangeIndex] as IpRange;
      if (this.cursor > r.last) {
        this.rangeIndex++;
        const next = this.ranges[this.rangeIndex];
        if (next) this.cursor = next.first;
        continue;
      }
      if ((this.avoidBuggy && isBuggyIPv4(this.cursor)) || this.isUsed(this.cursor)) {
        this.cursor++;
        continue;
      }
      return this.cursor;
    }
    return null;
  }

  /** Tell the finder that `value`, an address of this pool and family, has become free. */
  released(value: bigint): void {
    if (this.avoidBuggy && isBuggyIPv4(value)) return;
    // Addresses at or past the cursor will be found by the sweep; only those behind it need a hole.
    if (this.rangeIndex >= this.ranges.length || value < this.cursor) this.holes.push(value);
  }
}
