/**
 * The relay's I/O on public `net.Socket`s: the fallback when the handle implementation's self-test
 * fails (a Node.js that changed an internal, `--permission`, `--pending-deprecation
 * --throw-deprecation`), and the reference the handle implementation is tested against. Same
 * behaviour: half-close (both sides allow half-open), RST on `reset` (`resetAndDestroy`),
 * backpressure (a write the kernel did not take at once stops reading its source until `drain`), and
 * the relay's own timeouts (no socket timeouts). It costs more CPU per connection and per chunk:
 * each side is a stream with its event listeners, and every read is copied once more into the
 * buffer the connection named.
 */
import { createServer, type NetConnectOpts, connect as netConnect, type Socket } from 'node:net';
import { LANDING } from '../read-buffers.ts';
import { bindServer } from './bind.ts';
import type {
  AcceptCallback,
  BindFailure,
  ListenAt,
  PeerAddress,
  RelayIo,
  RelayListener,
  RelayOwner,
  RelaySide,
} from './relay-io.ts';

/** libuv's broken-pipe code, for a write to a side that is gone. */
const UV_EPIPE = -32;

/**
 * A write that is not handed to the kernel at once leaves `writableLength` above this mark, so the
 * socket emits `drain` once it is: the relay must hear of every queued write, however small (a
 * write it thinks done frees the memory it came from).
 */
const WRITE_MARK = 1;

/** One side: its socket (none before a backend's connect), its owner, where its next read lands. */
class SocketSide implements RelaySide {
  owner: RelayOwner | null = null;
  socket: Socket | null = null;
  target: Uint8Array = LANDING;
  /** A backend whose connect has not ended yet: an error is its outcome. */
  connecting = false;
  /** Reading stopped by the relay (backpressure, or not started). */
  stopped = true;
  /** A write is queued; `drain` reports it for direction `up`. */
  queued = false;
  up = false;

  /** Route the socket's events to the owner; once per side, not per chunk. */
  attach(socket: Socket): void {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#data(chunk));
    socket.on('end', () => this.owner?.ended(this));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const owner = this.owner;
      if (owner === null) return;
      if (this.connecting) {
        this.connecting = false;
        owner.connected(this, typeof err.errno === 'number' && err.errno < 0 ? err.errno : UV_EPIPE);
      } else owner.errored(this);
    });
    socket.on('drain', () => {
      if (!this.queued) return;
      this.queued = false;
      this.owner?.written(this.up, 0);
    });
  }

  /** Hand `chunk` to the owner through the buffer it named, in pieces if it is larger. */
  #data(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      const owner = this.owner;
      if (owner === null) return;
      const target = this.target;
      const n = Math.min(chunk.length - offset, target.length);
      chunk.copy(target, 0, offset, offset + n);
      offset += n;
      const next = owner.relay(this, n);
      if (next !== undefined) this.target = next;
      if (this.stopped && offset < chunk.length) {
        // Stopped in the middle of a chunk: the rest is read again when reading resumes.
        this.socket?.unshift(chunk.subarray(offset));
        return;
      }
    }
  }
}

/** The relay's I/O on `net.Socket`s. */
export const socketsIo: RelayIo = {
  implementation: 'sockets',

  async listen(
    at: ListenAt,
    onAccept: AcceptCallback,
    onError: (err: Error) => void,
  ): Promise<RelayListener | BindFailure> {
    // pauseOnConnect: a client is read only once its backend is connected, as with handles.
    const server = createServer({
      allowHalfOpen: true,
      pauseOnConnect: true,
      noDelay: true,
      highWaterMark: WRITE_MARK,
    });
    server.on('connection', (socket: Socket) => {
      const side = new SocketSide();
      side.attach(socket);
      onAccept(0, side);
    });
    const failure = await bindServer(server, at, (err: NodeJS.ErrnoException) => {
      if (err.syscall === 'accept') onAccept(typeof err.errno === 'number' ? err.errno : UV_EPIPE, null);
      else onError(err);
    });
    if (failure !== null) return failure;
    return { close: () => server.close() };
  },

  peer(client: RelaySide, out: PeerAddress): boolean {
    const s = (client as SocketSide).socket;
    if (s === null || s.remoteAddress === undefined) return false;
    out.address = s.remoteAddress;
    out.port = s.remotePort ?? 0;
    return true;
  },

  adopt(side: RelaySide, owner: RelayOwner): void {
    const s = side as SocketSide;
    s.owner = owner;
    s.target = LANDING;
  },

  backend(owner: RelayOwner): RelaySide {
    const side = new SocketSide();
    side.owner = owner;
    return side;
  },

  connect(side: RelaySide, address: string, port: number): number {
    const s = side as SocketSide;
    s.connecting = true;
    // `writableHighWaterMark` reaches the stream, though @types/node leaves it out of connect's options.
    const socket = netConnect({
      host: address,
      port,
      allowHalfOpen: true,
      noDelay: true,
      writableHighWaterMark: WRITE_MARK,
    } as NetConnectOpts);
    // Like a handle, a connected backend is not read until the relay says so.
    socket.pause();
    socket.once('connect', () => {
      s.connecting = false;
      s.owner?.connected(s, 0);
    });
    s.attach(socket);
    return 0;
  },

  readStart(side: RelaySide): void {
    const s = side as SocketSide;
    s.stopped = false;
    s.socket?.resume();
  },

  readStop(side: RelaySide): void {
    const s = side as SocketSide;
    s.stopped = true;
    s.socket?.pause();
  },

  write(
    dst: RelaySide,
    chunk: Uint8Array,
    _owner: RelayOwner,
    up: boolean,
    _keep: Uint8Array | null,
  ): number {
    const s = dst as SocketSide;
    const socket = s.socket;
    if (socket === null || socket.destroyed || socket.writableEnded) return UV_EPIPE;
    socket.write(chunk);
    // The stream holds `chunk` (and so `keep`'s memory) until it is written.
    if (socket.writableLength === 0) return 0;
    s.queued = true;
    s.up = up;
    return 1;
  },

  shutdown(side: RelaySide): number {
    const socket = (side as SocketSide).socket;
    if (socket === null || socket.destroyed) return UV_EPIPE;
    socket.end();
    return 0;
  },

  reset(side: RelaySide): void {
    const socket = (side as SocketSide).socket;
    if (socket === null || socket.destroyed) return;
    socket.resetAndDestroy();
  },

  close(side: RelaySide): void {
    (side as SocketSide).socket?.destroy();
  },

  copy(source: Uint8Array, target: Uint8Array, count: number): void {
    target.set(count === source.length ? source : source.subarray(0, count));
  },
};
