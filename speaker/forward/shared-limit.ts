/**
 * A connection limit shared by every worker thread of a speaker: the count lives in a
 * SharedArrayBuffer and is changed with atomics, so `maxConnections` means per speaker however many
 * workers accept, at the cost of one atomic add per accepted connection.
 */

/** A fresh shared counter cell, to be handed to every worker. */
export function newCounterCell(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
}

/** Take one unit of `cell` if that keeps it at or under `max` (0: unlimited). */
export function tryAcquire(cell: Int32Array, max: number): boolean {
  const after = Atomics.add(cell, 0, 1) + 1;
  if (max > 0 && after > max) {
    Atomics.sub(cell, 0, 1);
    return false;
  }
  return true;
}

/** Give back one unit taken by `tryAcquire`. */
export function release(cell: Int32Array): void {
  Atomics.sub(cell, 0, 1);
}

/** The current count. */
export function current(cell: Int32Array): number {
  return Atomics.load(cell, 0);
}
