/**
 * How a libuv handle is bound to the connection it serves. Every handle's events go to functions
 * shared by all handles (they find their connection through the handle's `conn` field), so a
 * connection creates no closures; and a write's request object is bound only if the write has to
 * wait (one that the kernel takes at once leaves its request unused for the next write).
 */
import { LANDING } from './read-buffers.ts';
import {
  type ConnectRequest,
  lastWriteWasAsync,
  readResult,
  type TcpHandle,
  UV_EOF,
  type WriteRequest,
  WriteWrap,
} from './tcp-handles.ts';

/** What the shared handle callbacks call on the connection a handle belongs to. */
export interface HandleOwner {
  /** `nread` bytes from `src` have landed; returns where the next read of `src` lands. */
  relay(src: ProxyHandle, nread: number): Uint8Array | undefined;
  /** `src` sent FIN. */
  ended(src: ProxyHandle): void;
  /** A read from `src` failed (a reset, most often). */
  errored(src: ProxyHandle): void;
  /** A connect attempt of `b` ended with `status` (0: connected). */
  connected(b: ProxyHandle, status: number): void;
  /** A queued write in direction `up` (client → backend) finished with `status`. */
  written(up: boolean, status: number): void;
}

/** A handle of the data plane: knows its connection (null once detached). */
export interface ProxyHandle extends TcpHandle {
  conn: HandleOwner | null;
}

/** A write the kernel did not take at once, until it completes. */
interface PendingWrite extends WriteRequest {
  conn: HandleOwner | null;
  /** Direction: true for client → backend. */
  up: boolean;
  /** Keeps a buffer that no connection holds (the PROXY header) alive until written. */
  buffer: Uint8Array | null;
}

function onRead(this: ProxyHandle): Uint8Array | undefined {
  const conn = this.conn;
  if (conn === null) return undefined;
  const nread = readResult();
  if (nread > 0) return conn.relay(this, nread);
  if (nread === UV_EOF) conn.ended(this);
  else if (nread < 0) conn.errored(this);
  return undefined;
}

/** The `oncomplete` of every connect request. */
export function onConnect(this: ConnectRequest, status: number, handle: TcpHandle): void {
  const b = handle as ProxyHandle;
  b.conn?.connected(b, status);
}

function onWriteDone(this: PendingWrite, status: number): void {
  const conn = this.conn;
  this.conn = null;
  this.buffer = null;
  conn?.written(this.up, status);
}

function newWriteRequest(): PendingWrite {
  const req = new WriteWrap() as PendingWrite;
  req.handle = null;
  req.oncomplete = onWriteDone;
  req.conn = null;
  req.up = false;
  req.buffer = null;
  return req;
}

/**
 * The request the next write uses. A write that completes at once never binds its request, so the
 * same one serves every such write; one that is queued keeps it, and a fresh one takes its place.
 */
let spareWrite = newWriteRequest();

/**
 * Write `chunk` to `dst`: 0 when done at once, 1 when queued (its request then reports to `conn`),
 * or a negative error. `keep` is memory the connection does not hold that must outlive the write.
 */
export function write(
  dst: TcpHandle,
  chunk: Uint8Array,
  conn: HandleOwner,
  up: boolean,
  keep: Uint8Array | null,
): number {
  const req = spareWrite;
  const err = dst.writeBuffer(req, chunk);
  if (err !== 0) return err;
  if (!lastWriteWasAsync()) return 0;
  spareWrite = newWriteRequest();
  req.handle = dst;
  req.conn = conn;
  req.up = up;
  req.buffer = keep;
  return 1;
}

/**
 * Prepare a handle for the data plane: shared read callback, shared landing buffer. A client handle
 * has TCP_NODELAY already (Linux copies it from the listening socket, see listener-runtime.ts); a
 * backend handle gets it when its socket is created.
 */
export function adopt(h: TcpHandle, conn: HandleOwner, noDelay: boolean): ProxyHandle {
  const p = h as ProxyHandle;
  p.conn = conn;
  p.onread = onRead;
  p.useUserBuffer(LANDING);
  if (noDelay) p.setNoDelay(true);
  return p;
}

/** Drop a backend handle whose connect attempt no longer matters; its late callbacks are ignored. */
export function abandon(b: ProxyHandle): void {
  b.conn = null;
  b.close();
}

/**
 * Reset a client that will not be served, at once (RST, no FIN handshake). A reset fails only after
 * a shutdown (never sent to a client here) or when the socket is already gone.
 */
export function resetClient(client: TcpHandle): void {
  client.reset();
}
