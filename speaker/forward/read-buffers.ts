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
 * - A direction whose reads keep filling its own buffer is a stream: it moves up to a bulk buffer,
 *   four times larger, which quarters the system calls per byte (the copies in the kernel are what
 *   is left). Bulk buffers are a bounded per-thread resource; when they are all in use a stream
 *   carries on with a normal one.
 */

/** Size of LANDING and of a connection's own buffer: what libuv itself suggests for a stream read. */
export const READ_BUFFER_SIZE = 64 * 1024;
/** Size of a bulk buffer. Measured: 256 KiB costs about 0.8 of the CPU per GB of 64 KiB reads. */
export const BULK_BUFFER_SIZE = 256 * 1024;
/** Spare normal buffers a thread keeps for reuse; beyond this a released buffer is left to the GC. */
export const POOL_LIMIT = 512;
/** Bulk buffers a thread may have at once (16 MiB): more streams than this use normal buffers. */
export const BULK_LIMIT = 64;

/** The shared landing buffer; see the file comment for why sharing it is safe. */
export const LANDING: Buffer = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);

const spare: Buffer[] = [];
const spareBulk: Buffer[] = [];
let allocated = 0;
let allocatedBulk = 0;

/** A buffer for one connection direction, from the pool when one is spare. */
export function takeBuffer(): Buffer {
  const b = spare.pop();
  if (b !== undefined) return b;
  allocated++;
  return Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
}

/** A bulk buffer for a streaming direction, or null when the thread has none left to give. */
export function takeBulkBuffer(): Buffer | null {
  const b = spareBulk.pop();
  if (b !== undefined) return b;
  if (allocatedBulk >= BULK_LIMIT) return null;
  allocatedBulk++;
  return Buffer.allocUnsafeSlow(BULK_BUFFER_SIZE);
}

/** Give a buffer (normal or bulk) back once no handle reads into it and no write references it. */
export function releaseBuffer(b: Buffer): void {
  if (b.length === BULK_BUFFER_SIZE) spareBulk.push(b);
  else if (spare.length < POOL_LIMIT) spare.push(b);
  else allocated--;
}

/** Buffers allocated by this thread that are alive (held by connections or spare), and spare ones. */
export function readBufferCounts(): { allocated: number; spare: number; bulk: number; spareBulk: number } {
  return { allocated, spare: spare.length, bulk: allocatedBulk, spareBulk: spareBulk.length };
}
