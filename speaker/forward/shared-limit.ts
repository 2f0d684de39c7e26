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

/**
 * A speaker-wide limit: the open count and, beside it, the maximum (0: unlimited), which the main
 * thread may change at any time (a cap sized from the descriptor budget moves with each table).
 */
export function newLimitCell(max: number): Int32Array {
  const cell = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  Atomics.store(cell, 1, max);
  return cell;
}

/** Change the maximum of a `newLimitCell`; connections already open stay open. */
export function setLimitMax(cell: Int32Array, max: number): void {
  Atomics.store(cell, 1, max);
}

/** The maximum of a `newLimitCell` now. */
export function limitMax(cell: Int32Array): number {
  return Atomics.load(cell, 1);
}

/** `tryAcquire` on a `newLimitCell` against its own current maximum. */
export function tryAcquireLimit(cell: Int32Array): boolean {
  return tryAcquire(cell, Atomics.load(cell, 1));
}
