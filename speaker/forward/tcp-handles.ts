/**
 * The libuv TCP handles under `net.Socket`, as Node exposes them to its own `net` module
 * (`process.binding('tcp_wrap')`, `process.binding('stream_wrap')`). The data plane drives them
 * directly because a `net.Socket` per side costs more JavaScript per connection than HAProxy spends
 * on the whole connection: two stream state machines, an event emitter with listeners, async ids,
 * and a teardown that runs through several ticks (docs/performance.md has the profile). Here a
 * connection is two handles, a few request objects that exist only while a request is in flight,
 * and one callback per event straight from C++.
 *
 * Only what the proxy uses is typed, and `checkTcpHandles` verifies the shapes once at start, so a
 * Node version that changes them fails loudly rather than misbehaving.
 */

/**
 * The callback libuv calls with the result of a read; `this` is the handle. Callbacks here type
 * `this` as `never` so that a caller can declare the handle or request type it extends them to.
 */
export type ReadCallback = (this: never) => Uint8Array | undefined;

/** A libuv TCP stream handle (Node's `TCPWrap`). Methods return 0 or a negative libuv error code. */
export interface TcpHandle {
  /**
   * Called after each read with the count (or error) in `readResult()`; what it returns (a buffer)
   * is where the next read of this handle lands.
   */
  onread: ReadCallback;
  /** Read into caller-owned memory instead of a fresh buffer per read. */
  useUserBuffer(buf: Uint8Array): void;
  readStart(): number;
  readStop(): number;
  /** Write `buf`; see `lastWriteWasAsync`. `req` is bound to the write only if it goes async. */
  writeBuffer(req: WriteRequest, buf: Uint8Array): number;
  /** Send FIN after every queued write. */
  shutdown(req: ShutdownRequest): number;
  connect(req: ConnectRequest, address: string, port: number): number;
  connect6(req: ConnectRequest, address: string, port: number): number;
  getpeername(out: PeerName): number;
  setNoDelay(enable: boolean): number;
  /** Close with RST (SO_LINGER 0). Not allowed after `shutdown`: libuv refuses with EINVAL. */
  reset(onClose?: () => void): number;
  /** Close; the descriptor is released at once, the callback runs on the next loop turn. */
  close(onClose?: () => void): void;
}

/** What `getpeername` fills in. */
export interface PeerName {
  address?: string;
  port?: number;
  family?: string;
}

/** A write request; `oncomplete` runs (with `this` the request) when an async write finishes. */
export interface WriteRequest {
  handle: TcpHandle | null;
  oncomplete: (this: never, status: number) => void;
}

/** A shutdown request; `oncomplete` runs when the FIN has been queued after every write. */
export interface ShutdownRequest {
  handle: TcpHandle | null;
  oncomplete: (this: never, status: number) => void;
}

/** A connect request; `oncomplete` runs with the outcome (`this` is the request). */
export interface ConnectRequest {
  oncomplete: (this: never, status: number, handle: TcpHandle) => void;
}

interface TcpWrapBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => ConnectRequest;
  constants: { SOCKET: number };
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest;
  ShutdownWrap: new () => ShutdownRequest;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

// `process.binding` is deprecated for user code (DEP0111, documentation-only) but is the stable
// public door to these two bindings, which `net` itself is built on.
const binding = (process as unknown as { binding(name: string): unknown }).binding;
const tcpWrap = binding('tcp_wrap') as TcpWrapBinding;
const streamWrap = binding('stream_wrap') as StreamWrapBinding;

const TCP = tcpWrap.TCP;
const SOCKET = tcpWrap.constants.SOCKET;
const state = streamWrap.streamBaseState;
const READ_RESULT = streamWrap.kReadBytesOrError;
const WRITE_ASYNC = streamWrap.kLastWriteWasAsync;

/** Constructor of write requests. */
export const WriteWrap = streamWrap.WriteWrap;
/** Constructor of shutdown requests. */
export const ShutdownWrap = streamWrap.ShutdownWrap;
/** Constructor of connect requests. */
export const TCPConnectWrap = tcpWrap.TCPConnectWrap;

/** libuv's end-of-stream code: the peer sent FIN. */
export const UV_EOF = -4095;

/** A new, unconnected TCP handle (its socket is created by `connect`). */
export function newTcpHandle(): TcpHandle {
  return new TCP(SOCKET);
}

/** Bytes read (> 0), 0 for nothing, or a negative libuv error code (UV_EOF at end of stream). */
export function readResult(): number {
  return state[READ_RESULT]!;
}

/** Whether the last `writeBuffer` was queued (the kernel did not take every byte at once). */
export function lastWriteWasAsync(): boolean {
  return state[WRITE_ASYNC] !== 0;
}

/** Throws if this Node does not offer the handle API the data plane is written against. */
export function checkTcpHandles(): void {
  const proto = TCP.prototype as unknown as Record<string, unknown>;
  const methods = [
    'readStart',
    'readStop',
    'writeBuffer',
    'shutdown',
    'useUserBuffer',
    'connect',
    'connect6',
  ];
  const more = ['getpeername', 'setNoDelay', 'reset', 'close'];
  const missing = [...methods, ...more].filter((m) => typeof proto[m] !== 'function');
  if (typeof WriteWrap !== 'function' || typeof ShutdownWrap !== 'function') missing.push('WriteWrap');
  if (!(state instanceof Int32Array) || typeof READ_RESULT !== 'number') missing.push('streamBaseState');
  if (missing.length > 0) {
    throw new Error(
      `this Node.js (${process.version}) lacks the TCP handle API the data plane uses: ${missing.join(', ')}`,
    );
  }
}
