/**
 * The relay's I/O on the libuv TCP handles under `net.Socket`, driven directly. Every Node.js
 * internal the project uses lives in this file, and nothing else imports it but `choose.ts`, with a
 * dynamic import: a process that never starts the data plane never loads it.
 *
 * Why: a `net.Socket` per side costs more JavaScript per connection than HAProxy spends on the whole
 * connection (two stream state machines, an event emitter with listeners, async ids, a teardown over
 * several ticks; docs/performance.md has the profile). Here a connection is two handles, a few
 * request objects that exist only while a request is in flight, and one callback per event straight
 * from C++. Every handle's events go to functions shared by all handles (they find their connection
 * through the handle's `owner` field), and a write's request object is bound only if the write has
 * to wait (one that the kernel takes at once leaves its request for the next write).
 *
 * The internals, all reached through `process.binding` (deprecated for user code, DEP0111) or
 * `net.Server`'s `_handle`:
 * - `tcp_wrap`: `TCP` (the handle), `TCPConnectWrap` (a connect request), `constants.SOCKET`;
 * - `stream_wrap`: `WriteWrap`, `ShutdownWrap`, and `streamBaseState`, where `kReadBytesOrError`
 *   holds a read's result and `kLastWriteWasAsync` says whether a write was queued;
 * - `buffer`: `copy`, Node's own buffer copy without `Buffer#copy`'s argument checks;
 * - a listening handle's `onconnection`, taken over so that `net.Server` makes no `net.Socket`;
 * - the rule that what a read callback returns (a buffer) is where the next read lands.
 * Node can change any of them in any release, so `createHandlesIo` checks their shapes and then
 * relays real bytes over loopback through every one of them before the data plane uses them.
 */
import { createServer, type Server } from 'node:net';
import { LANDING } from '../read-buffers.ts';
import { bindServer } from './bind.ts';
import {
  type AcceptCallback,
  type BindFailure,
  type ListenAt,
  type PeerAddress,
  type RelayIo,
  type RelayListener,
  type RelayOwner,
  type RelaySide,
  UV_EOF,
} from './relay-io.ts';

/** A libuv TCP stream handle (Node's `TCPWrap`). Methods return 0 or a negative libuv error code. */
interface TcpHandle {
  /** Called after each read with the count in the read result; what it returns is where the next read lands. */
  onread: (this: never) => Uint8Array | undefined;
  /** Read into caller-owned memory instead of a fresh buffer per read. */
  useUserBuffer(buf: Uint8Array): void;
  readStart(): number;
  readStop(): number;
  /** Write `buf`; `req` is bound to the write only if it goes async (`kLastWriteWasAsync`). */
  writeBuffer(req: WriteRequest, buf: Uint8Array): number;
  /** Send FIN after every queued write. */
  shutdown(req: ShutdownRequest): number;
  connect(req: ConnectRequest, address: string, port: number): number;
  connect6(req: ConnectRequest, address: string, port: number): number;
  getpeername(out: { address?: string; port?: number }): number;
  setNoDelay(enable: boolean): number;
  /** Close with RST (SO_LINGER 0). Not allowed after `shutdown`: libuv refuses with EINVAL. */
  reset(onClose?: () => void): number;
  /** Close; the descriptor is released at once, the callback runs on the next loop turn. */
  close(onClose?: () => void): void;
}

/** A side of the relay: a handle that knows its connection. */
interface HandleSide extends TcpHandle, RelaySide {}

/** A write request; `oncomplete` runs (with `this` the request) when an async write finishes. */
interface WriteRequest {
  handle: TcpHandle | null;
  oncomplete: (this: never, status: number) => void;
}

/** A write the kernel did not take at once, until it completes. */
interface PendingWrite extends WriteRequest {
  owner: RelayOwner | null;
  /** Direction: true for client → backend. */
  up: boolean;
  /** Keeps a buffer that no connection holds (the PROXY header) alive until written. */
  buffer: Uint8Array | null;
}

/** A shutdown request; completes when the FIN has been queued after every write. */
interface ShutdownRequest {
  handle: TcpHandle | null;
}

/** A connect request; `oncomplete` runs with the outcome (`this` is the request). */
interface ConnectRequest {
  oncomplete: (this: never, status: number, handle: TcpHandle) => void;
}

/** The listening handle under a `net.Server`. */
interface ListeningHandle {
  onconnection: (status: number, client: TcpHandle | undefined) => void;
  setNoDelay(enable: boolean): number;
}

/** The Node.js internals this file uses, as loaded; tests pass altered copies to `createHandlesIo`. */
export interface NodeInternals {
  /** `process.binding('tcp_wrap')` */
  readonly tcpWrap: unknown;
  /** `process.binding('stream_wrap')` */
  readonly streamWrap: unknown;
  /** `process.binding('buffer')` */
  readonly buffer: unknown;
  /** The listening handle of a bound `net.Server` (`server._handle`). */
  listeningHandle(server: Server): unknown;
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

interface BufferBinding {
  copy(
    source: Uint8Array,
    target: Uint8Array,
    targetStart: number,
    sourceStart: number,
    count: number,
  ): number;
}

/** Whether a deprecation warning is an exception here: `process.binding` would then crash the process. */
function deprecationThrows(): boolean {
  const flag = '--pending-deprecation';
  const pending =
    process.execArgv.includes(flag) ||
    (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes(flag) ||
    process.env.NODE_PENDING_DEPRECATION === '1';
  return pending && process.throwDeprecation === true;
}

/**
 * Load the internals. Throws where `process.binding` is refused (`--permission`:
 * ERR_ACCESS_DENIED) and where it would crash the process: under `--pending-deprecation` it warns
 * (DEP0111), and `--throw-deprecation` throws that warning from a later tick, out of reach of any
 * `catch`.
 */
export function loadNodeInternals(): NodeInternals {
  if (deprecationThrows()) {
    throw new Error(
      'process.binding() is deprecated under --pending-deprecation (DEP0111) and --throw-deprecation would crash the process on first use',
    );
  }
  const binding = (process as unknown as { binding(name: string): unknown }).binding;
  return {
    tcpWrap: binding('tcp_wrap'),
    streamWrap: binding('stream_wrap'),
    buffer: binding('buffer'),
    listeningHandle: (server) => (server as unknown as { _handle: unknown })._handle ?? null,
  };
}

// The internals in use, set by `install`. Module variables rather than fields: the hot path reads
// them on every event.
let TCP: new (type: number) => TcpHandle;
let SOCKET = 0;
let TCPConnectWrap: new () => ConnectRequest;
let WriteWrap: new () => WriteRequest;
let ShutdownWrap: new () => ShutdownRequest;
let state: Int32Array<ArrayBufferLike> = new Int32Array(0);
let READ_RESULT = 0;
let WRITE_ASYNC = 0;
let copyBinding: BufferBinding['copy'];
let listeningHandleOf: (server: Server) => unknown;
/**
 * The request the next write uses. A write that completes at once never binds its request, so the
 * same one serves every such write; one that is queued keeps it, and a fresh one takes its place.
 */
let spareWrite: PendingWrite;

const TCP_METHODS = [
  'readStart',
  'readStop',
  'writeBuffer',
  'shutdown',
  'useUserBuffer',
  'connect',
  'connect6',
  'getpeername',
  'setNoDelay',
  'reset',
  'close',
] as const;

/** The internals `n` lacks or has in another shape, by name; empty when all are there. */
function missingInternals(n: NodeInternals): string[] {
  const missing: string[] = [];
  const tcp = (n.tcpWrap ?? {}) as Partial<TcpWrapBinding>;
  const stream = (n.streamWrap ?? {}) as Partial<StreamWrapBinding>;
  const buffer = (n.buffer ?? {}) as Partial<BufferBinding>;
  if (typeof tcp.TCP !== 'function') missing.push('tcp_wrap.TCP');
  else {
    const proto = tcp.TCP.prototype as Record<string, unknown>;
    for (const m of TCP_METHODS) if (typeof proto[m] !== 'function') missing.push(`TCP.prototype.${m}`);
  }
  if (typeof tcp.TCPConnectWrap !== 'function') missing.push('tcp_wrap.TCPConnectWrap');
  if (typeof tcp.constants?.SOCKET !== 'number') missing.push('tcp_wrap.constants.SOCKET');
  if (typeof stream.WriteWrap !== 'function') missing.push('stream_wrap.WriteWrap');
  if (typeof stream.ShutdownWrap !== 'function') missing.push('stream_wrap.ShutdownWrap');
  const length = stream.streamBaseState instanceof Int32Array ? stream.streamBaseState.length : -1;
  if (length < 0) missing.push('stream_wrap.streamBaseState');
  for (const k of ['kReadBytesOrError', 'kLastWriteWasAsync'] as const) {
    const i = stream[k];
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || (length >= 0 && i >= length))
      missing.push(`stream_wrap.${k}`);
  }
  if (typeof buffer.copy !== 'function') missing.push('buffer.copy');
  if (typeof n.listeningHandle !== 'function') missing.push('net.Server _handle');
  return missing;
}

/** Use `n` from now on (its shapes checked by `missingInternals`). */
function install(n: NodeInternals): void {
  const tcp = n.tcpWrap as TcpWrapBinding;
  const stream = n.streamWrap as StreamWrapBinding;
  TCP = tcp.TCP;
  SOCKET = tcp.constants.SOCKET;
  TCPConnectWrap = tcp.TCPConnectWrap;
  WriteWrap = stream.WriteWrap;
  ShutdownWrap = stream.ShutdownWrap;
  state = stream.streamBaseState;
  READ_RESULT = stream.kReadBytesOrError;
  WRITE_ASYNC = stream.kLastWriteWasAsync;
  copyBinding = (n.buffer as BufferBinding).copy;
  listeningHandleOf = n.listeningHandle;
  spareWrite = newWriteRequest();
}

function onRead(this: HandleSide): Uint8Array | undefined {
  const owner = this.owner;
  if (owner === null) return undefined;
  // Bytes read (> 0), 0 for nothing, or a negative libuv error code (UV_EOF at end of stream).
  const nread = state[READ_RESULT]!;
  if (nread > 0) return owner.relay(this, nread);
  if (nread === UV_EOF) owner.ended(this);
  else if (nread < 0) owner.errored(this);
  return undefined;
}

/** The `oncomplete` of every connect request. */
function onConnect(this: ConnectRequest, status: number, handle: TcpHandle): void {
  const side = handle as HandleSide;
  side.owner?.connected(side, status);
}

function onWriteDone(this: PendingWrite, status: number): void {
  const owner = this.owner;
  this.owner = null;
  this.buffer = null;
  owner?.written(this.up, status);
}

function newWriteRequest(): PendingWrite {
  const req = new WriteWrap() as PendingWrite;
  req.handle = null;
  req.oncomplete = onWriteDone;
  req.owner = null;
  req.up = false;
  req.buffer = null;
  return req;
}

/** Take over the accept callback of a bound server: accepted clients arrive as bare handles. */
function takeOverAccepts(server: Server, onAccept: AcceptCallback): void {
  const handle = listeningHandleOf(server) as ListeningHandle | null;
  if (handle === null || typeof handle.onconnection !== 'function') {
    throw new Error('net.Server has no listening handle to take accepts from');
  }
  handle.onconnection = (status, client) => onAccept(status, status === 0 ? (client as HandleSide) : null);
  // Accepted sockets inherit TCP_NODELAY from the listening socket (Linux), which saves a system
  // call per client.
  handle.setNoDelay(true);
}

/** The peer name `getpeername` fills in, one per thread. */
const peerName: { address?: string; port?: number } = {};

/** The relay's I/O on libuv handles. */
const handlesIo: RelayIo = {
  implementation: 'handles',

  async listen(
    at: ListenAt,
    onAccept: AcceptCallback,
    onError: (err: Error) => void,
  ): Promise<RelayListener | BindFailure> {
    const server = createServer({ allowHalfOpen: true });
    const failure = await bindServer(server, at, onError);
    if (failure !== null) return failure;
    try {
      takeOverAccepts(server, onAccept);
    } catch (err) {
      server.close();
      throw err;
    }
    return { close: () => server.close() };
  },

  peer(client: RelaySide, out: PeerAddress): boolean {
    if ((client as HandleSide).getpeername(peerName) !== 0 || peerName.address === undefined) return false;
    out.address = peerName.address;
    out.port = peerName.port ?? 0;
    return true;
  },

  adopt(side: RelaySide, owner: RelayOwner): void {
    const h = side as HandleSide;
    h.owner = owner;
    h.onread = onRead;
    h.useUserBuffer(LANDING);
  },

  backend(owner: RelayOwner): RelaySide {
    const h = new TCP(SOCKET) as HandleSide;
    handlesIo.adopt(h, owner);
    // On a handle without a socket yet, libuv applies it when connect creates the socket.
    h.setNoDelay(true);
    return h;
  },

  connect(side: RelaySide, address: string, port: number): number {
    const req = new TCPConnectWrap();
    req.oncomplete = onConnect;
    const h = side as HandleSide;
    return address.includes(':') ? h.connect6(req, address, port) : h.connect(req, address, port);
  },

  readStart(side: RelaySide): void {
    (side as HandleSide).readStart();
  },

  readStop(side: RelaySide): void {
    (side as HandleSide).readStop();
  },

  write(dst: RelaySide, chunk: Uint8Array, owner: RelayOwner, up: boolean, keep: Uint8Array | null): number {
    const req = spareWrite;
    const err = (dst as HandleSide).writeBuffer(req, chunk);
    if (err !== 0) return err;
    if (state[WRITE_ASYNC] === 0) return 0;
    spareWrite = newWriteRequest();
    req.handle = dst as HandleSide;
    req.owner = owner;
    req.up = up;
    req.buffer = keep;
    return 1;
  },

  shutdown(side: RelaySide): number {
    const req = new ShutdownWrap();
    req.handle = side as HandleSide;
    return (side as HandleSide).shutdown(req);
  },

  reset(side: RelaySide): void {
    (side as HandleSide).reset();
  },

  close(side: RelaySide): void {
    (side as HandleSide).close();
  },

  copy(source: Uint8Array, target: Uint8Array, count: number): void {
    copyBinding(source, target, 0, 0, count);
  },
};

/** How long the start-up self-test may take before it counts as failed. */
export const SELF_TEST_TIMEOUT_MS = 5000;

/**
 * The handle implementation, once this Node's internals have been checked and have relayed bytes
 * over loopback (see `selfTest`); rejects with what failed. `internals` replaces the real ones
 * (tests).
 */
export function createHandlesIo(internals?: NodeInternals): Promise<RelayIo> {
  if (internals !== undefined) return verify(internals);
  // The real internals pass or fail once per thread: later speakers of this process reuse the outcome.
  verified ??= verify(loadNodeInternals());
  return verified;
}

/** The outcome of the self-test with this thread's real internals, once it has run. */
let verified: Promise<RelayIo> | null = null;

/**
 * The handle implementation in a worker thread of a speaker whose main thread passed the self-test:
 * the same Node.js in the same process, so the internals are looked up and checked here but not
 * exercised over loopback again. Throws when one is missing.
 */
export function workerHandlesIo(): RelayIo {
  const n = loadNodeInternals();
  assertPresent(n);
  install(n);
  return handlesIo;
}

/** Throw, naming them, when internals the implementation uses are missing. */
function assertPresent(n: NodeInternals): void {
  const missing = missingInternals(n);
  if (missing.length > 0) {
    throw new Error(
      `this Node.js (${process.version}) lacks internals the handle data plane uses: ${missing.join(', ')}`,
    );
  }
}

async function verify(n: NodeInternals): Promise<RelayIo> {
  assertPresent(n);
  const previous = listeningHandleOf === undefined ? null : snapshot();
  install(n);
  try {
    await selfTest();
  } catch (err) {
    // Whatever ran before (an earlier, good load) keeps running on what it had.
    if (previous !== null) previous();
    throw err;
  }
  return handlesIo;
}

/** A function that puts the internals in use now back. */
function snapshot(): () => void {
  const saved = { TCP, SOCKET, TCPConnectWrap, WriteWrap, ShutdownWrap, state, READ_RESULT, WRITE_ASYNC };
  const savedCopy = copyBinding;
  const savedListening = listeningHandleOf;
  const savedWrite = spareWrite;
  return () => {
    ({ TCP, SOCKET, TCPConnectWrap, WriteWrap, ShutdownWrap, state, READ_RESULT, WRITE_ASYNC } = saved);
    copyBinding = savedCopy;
    listeningHandleOf = savedListening;
    spareWrite = savedWrite;
  };
}

/** A recording owner for the self-test; `check` runs after every event. */
class Probe implements RelayOwner {
  readonly events: string[] = [];
  /** Bytes relayed so far, and the buffer the next read must land in. */
  received = 0;
  target: Uint8Array = LANDING;
  /** What each read must contain: byte `i` of the stream. */
  expect: (streamOffset: number) => number = () => 0;
  /** Buffers to return in turn, so that a read landing anywhere else shows. */
  readonly buffers = [Buffer.alloc(64 * 1024), Buffer.alloc(64 * 1024)];
  #flip = 0;
  readonly writes: number[] = [];
  readonly check: () => void;

  constructor(check: () => void) {
    this.check = check;
  }

  relay(_src: RelaySide, nread: number): Uint8Array | undefined {
    // The bytes must be where the previous call said (the buffer copy proves itself on LANDING).
    const got = this.target === LANDING ? Buffer.alloc(nread) : this.target;
    if (this.target === LANDING) handlesIo.copy(LANDING, got, nread);
    for (let i = 0; i < nread; i++) {
      if (got[i] !== this.expect(this.received + i)) {
        this.events.push(`bad-byte@${this.received + i}`);
        break;
      }
    }
    this.received += nread;
    this.target = this.buffers[this.#flip++ & 1]!;
    this.check();
    return this.target;
  }
  ended(): void {
    this.events.push('ended');
    this.check();
  }
  errored(): void {
    this.events.push('errored');
    this.check();
  }
  connected(_side: RelaySide, status: number): void {
    this.events.push(`connected:${status}`);
    this.check();
  }
  written(_up: boolean, status: number): void {
    this.writes.push(status);
    this.check();
  }
}

/** Bytes of the stream the self-test queues: byte `i` of each write is `i % 251`. */
const TEST_CHUNK = 1024 * 1024;
/** The most it writes while waiting for one write to be queued: the kernel takes a few MiB at once. */
const TEST_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Relay real bytes over loopback through every internal: a listener whose accepts are taken over
 * (`onconnection`, `getpeername`, `setNoDelay`), a connect (`TCP` with `constants.SOCKET`,
 * `TCPConnectWrap`), a small write the kernel takes at once (`WriteWrap`, `kLastWriteWasAsync` 0)
 * read into the landing buffer (`useUserBuffer`, `kReadBytesOrError`, the buffer copy), a stopped
 * reader (`readStop`), writes until one is queued (`kLastWriteWasAsync` 1) read into the buffers the
 * read callback returns (the next-buffer rule) until the queued write completes, a FIN
 * (`ShutdownWrap`, end of stream), a reset, and closes.
 */
async function selfTest(): Promise<void> {
  let wake: () => void = () => {};
  let failure: Error | null = null;
  let stage = 'listen';
  const fail = (what: string) => {
    failure ??= new Error(`handle self-test: ${what}`);
    wake();
  };
  const poke = () => wake();
  const a = new Probe(poke);
  const b = new Probe(poke);
  let accepted: HandleSide | null = null;
  const server = createServer({ allowHalfOpen: true });
  server.on('connection', (s) => {
    s.destroy();
    fail('net.Server made a net.Socket: taking over onconnection had no effect');
  });
  let backend: RelaySide | null = null;
  const timer = setTimeout(
    () => fail(`${stage}: no result in ${SELF_TEST_TIMEOUT_MS} ms`),
    SELF_TEST_TIMEOUT_MS,
  );
  /** Resolves once `done()` holds, rejects on failure. */
  const until = (what: string, done: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      wake = () => {
        if (failure !== null) reject(failure);
        else if (done()) resolve();
      };
      stage = what;
      wake();
    });
  try {
    const bound = await bindServer(server, { host: '127.0.0.1', port: 0, backlog: 8 }, () => {});
    if (bound !== null) throw new Error(`handle self-test: cannot listen on loopback: ${bound.message}`);
    takeOverAccepts(server, (status, client) => {
      if (status !== 0 || client === null) fail(`accept failed: ${status}`);
      else accepted = client as HandleSide;
      poke();
    });
    const { port } = server.address() as { port: number };
    backend = handlesIo.backend(b);
    const started = handlesIo.connect(backend, '127.0.0.1', port);
    if (started !== 0) throw new Error(`handle self-test: connect refused at once: ${started}`);
    await until('connect and accept', () => b.events.includes('connected:0') && accepted !== null);
    const client = accepted as unknown as HandleSide;
    const peer = { address: '', port: 0 };
    if (!handlesIo.peer(client, peer) || peer.address !== '127.0.0.1')
      fail(`getpeername gave ${peer.address}`);
    handlesIo.adopt(client, a);

    // A small write is taken at once and lands in LANDING.
    const hello = Buffer.from('switchyard self-test');
    a.expect = (i) => hello[i] ?? -1;
    handlesIo.readStart(client);
    if (handlesIo.write(backend, hello, b, true, null) !== 0)
      fail('a small write reported as queued (kLastWriteWasAsync)');
    await until('small read', () => a.received >= hello.length);
    if (a.received !== hello.length) fail(`read ${a.received} bytes of ${hello.length}`);

    // A stopped reader reads nothing; writes go on until the kernel queues one.
    handlesIo.readStart(backend);
    handlesIo.readStop(backend);
    const chunk = Buffer.allocUnsafe(TEST_CHUNK);
    for (let i = 0; i < TEST_CHUNK; i++) chunk[i] = i % 251;
    b.expect = (i) => (i % TEST_CHUNK) % 251;
    let sent = 0;
    let queued = false;
    while (!queued && sent < TEST_MAX_BYTES) {
      // `keep`: nothing else holds `chunk` across the awaits below, and a queued write reads it late.
      const r = handlesIo.write(client, chunk, a, false, chunk);
      if (r < 0) fail(`write failed: ${r}`);
      queued = r === 1;
      sent += TEST_CHUNK;
    }
    if (!queued) fail(`no write was ever queued in ${sent} bytes (kLastWriteWasAsync)`);
    await new Promise((r) => setTimeout(r, 20));
    if (b.received !== 0) fail('a stopped reader read (readStop)');
    handlesIo.readStart(backend);
    await until('reading the queued bytes', () => b.received >= sent);
    // Every byte has arrived, so a write that really was queued completes at once; one that never
    // does was taken at once and only reported as queued (connections would stall on it).
    const late = setTimeout(
      () => fail('a write reported as queued never completed (kLastWriteWasAsync)'),
      1000,
    );
    await until('the queued write to complete', () => a.writes.length > 0).finally(() => clearTimeout(late));
    if (a.writes[0] !== 0 || b.received !== sent)
      fail(`queued write ${a.writes[0]}, ${b.received} of ${sent}`);

    // FIN one way, then a reset the other way.
    if (handlesIo.shutdown(client) !== 0) fail('shutdown refused');
    await until('end of stream', () => b.events.includes('ended'));
    handlesIo.reset(backend);
    await until('reset', () => a.events.includes('errored'));
    handlesIo.close(client);
    const bad = [...a.events, ...b.events].find((e) => e.startsWith('bad-byte'));
    if (bad !== undefined) fail(`a read did not land where the read callback said (${bad})`);
    if (failure !== null) throw failure;
  } finally {
    clearTimeout(timer);
    // Closing a handle twice, or after a reset, is a no-op: this covers a test that stopped midway.
    for (const side of [accepted as HandleSide | null, backend as HandleSide | null]) {
      if (side === null) continue;
      side.owner = null;
      side.close();
    }
    server.close();
  }
}
