/**
 * Read buffers of the hot path, per thread. Every proxied handle reads into caller-owned memory:
 * after each read the handle's read callback returns the buffer its next read should land in.
 *
 * - By default a read lands in LANDING, one buffer shared by every handle of the thread. Reads run
 *   one at a time on the thread, and the relay copies what landed there into the connection's own
 *   buffer before writing it, so LANDING is never referenced by a pending write. An idle connection
 *   therefore pins no read memory at all.
 * - A connection takes its own buffer from a per-thread pool when data arrives, reads straight into
 *   it while reads keep filling it (bulk transfer: no copy), and gives it back as soon as a read
 *   comes up short and nothing is waiting to be written from it.
 */

/** Size of every read buffer: what libuv itself suggests for a stream read. */
export const READ_BUFFER_SIZE = 64 * 1024;
/** Spare buffers a thread keeps for reuse; beyond this a released buffer is left to the GC. */
export const POOL_LIMIT = 512;

/** The shared landing buffer; see the file comment for why sharing it is safe. */
export const LANDING: Buffer = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);

const spare: Buffer[] = [];
let allocated = 0;

/** A buffer for one connection direction, from the pool when one is spare. */
export function takeBuffer(): Buffer {
  const b = spare.pop();
  if (b !== undefined) return b;
  allocated++;
  return Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
}

/** Give a buffer back once no handle reads into it and no write references it. */
export function releaseBuffer(b: Buffer): void {
  if (spare.length < POOL_LIMIT) spare.push(b);
  else allocated--;
}

/** Buffers allocated by this thread that are alive (held by connections or spare), and spare ones. */
export function readBufferCounts(): { allocated: number; spare: number } {
  return { allocated, spare: spare.length };
}
