/**
 * One proxied TCP connection: the accepted client socket, connect attempts to backends (with retry
 * on another backend), and the two relay directions with backpressure, half-close and reset
 * propagation. Everything per chunk happens in `relay`: no closures, timers, promises or logging;
 * timeouts are checked by the thread's sweeper through `sweep`.
 *
 * Socket events go to functions shared by every socket (they find their connection through the
 * socket's `conn` field), so a connection costs no closures either, except the two flush callbacks
 * that are created only if a write ever has to wait.
 */
import { Socket, type SocketConstructorOpts } from 'node:net';
import type { Listener } from '../../shared/model.ts';
import type { BackendSlot, Picker } from '../balance/picker.ts';
import type { ListenerStats } from './listener-stats.ts';
import { proxyHeader } from './proxy-protocol.ts';
import {
  LANDING,
  nextReadBuffer,
  READ_BUFFER_SIZE,
  releaseBuffer,
  setNextRead,
  takeBuffer,
} from './read-buffers.ts';
import { coarseClock } from './sweeper.ts';

/** What a connection needs from the listener that accepted it. */
export interface ConnectionOwner {
  /** Counters of the listener (kept across table updates of the same listener). */
  readonly stats: ListenerStats;
  /** The current picker; it may be replaced between attempts when health changes. */
  readonly picker: Picker;
  /** A connect to `slot` failed: passive health, reported at once. */
  connectFailed(slot: BackendSlot): void;
  /** Both sockets are closed: unlink the connection and release its limits. */
  closed(conn: Connection): void;
}

/** A socket of the data plane: knows its connection, reads into caller-owned buffers. */
export class ProxySocket extends Socket {
  /** The connection this socket serves; null for an abandoned connect attempt. */
  conn: Connection | null = null;
}

const CONNECTING = 1;
const OPEN = 2;
const CLOSED = 3;

/**
 * Connect errors that say this process ran out of descriptors, ports or memory. They are not the
 * backend's fault: blaming it would eject every healthy backend while the speaker is exhausted and
 * keep them out after it recovers, and retrying on another backend would fail the same way.
 */
const LOCAL_ERRORS: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'EADDRNOTAVAIL', 'ENOBUFS', 'ENOMEM']);

/** A zero-length write queued behind a pending one: its callback says the pending write is done. */
const EMPTY = Buffer.alloc(0);

function onRead(this: ProxySocket, nread: number, buf: Uint8Array): boolean {
  const conn = this.conn;
  return conn === null ? false : conn.relay(this, nread, buf as Buffer);
}

/** Shared `onread` options: Node calls `callback` with `this` set to the socket. */
const READ_OPTS = { buffer: nextReadBuffer, callback: onRead };

function onConnect(this: ProxySocket): void {
  this.conn?.connected(this);
}
function onEnd(this: ProxySocket): void {
  this.conn?.ended(this);
}
function onError(this: ProxySocket, err: Error): void {
  this.conn?.errored(this, err);
}
function onClose(this: ProxySocket): void {
  this.conn?.socketClosed(this);
}
function onDrain(this: ProxySocket): void {
  this.conn?.flushed(this);
}
function ignoreError(): void {}

/** Drop a backend socket whose connect attempt no longer matters; its later events are ignored. */
function abandon(b: ProxySocket): void {
  b.conn = null;
  b.on('error', ignoreError);
  b.destroy();
}

/** Wrap an accepted handle in a socket that reads into caller-owned buffers and does not read yet. */
export function acceptedSocket(handle: unknown): ProxySocket {
  // `handle` and `manualStart` are what net.Server itself passes for an accepted connection;
  // @types/node does not list them.
  const opts = { handle, allowHalfOpen: true, manualStart: true, onread: READ_OPTS };
  const s = new ProxySocket(opts as SocketConstructorOpts);
  s.setNoDelay(true);
  return s;
}

/** Reset a client that will not be served, at once (RST, no FIN handshake). */
export function resetClient(client: Socket): void {
  client.on('error', ignoreError);
  client.resetAndDestroy();
}

/** One client connection and its current backend connection. */
export class Connection {
  /** Neighbours in the owning listener's list of connections. */
  prev: Connection | null = null;
  next: Connection | null = null;

  readonly owner: ConnectionOwner;
  /** The listener's settings when the connection was accepted; later table changes do not apply. */
  readonly settings: Listener;
  readonly client: ProxySocket;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly clientHash: number;
  backend: ProxySocket | null = null;
  slot: BackendSlot | null = null;

  #state = CONNECTING;
  #attempts = 0;
  #tried: BackendSlot[] | null = null;
  /** Connect deadline of the current attempt, on the `performance.now()` clock. */
  #deadline = 0;
  /** Last read in either direction, on the coarse clock. */
  lastActivity: number;
  /** When the first FIN arrived; 0 while neither side has half-closed. */
  #halfClosedAt = 0;
  /** Own read buffers of the two directions; null while the direction reads into LANDING. */
  #upBuf: Buffer | null = null;
  #downBuf: Buffer | null = null;
  #upFlushed: (() => void) | null = null;
  #downFlushed: (() => void) | null = null;
  #clientClosed = false;
  #backendClosed = false;
  #finished = false;

  constructor(
    owner: ConnectionOwner,
    settings: Listener,
    client: ProxySocket,
    address: string,
    port: number,
    hash: number,
  ) {
    this.owner = owner;
    this.settings = settings;
    this.client = client;
    this.clientAddress = address;
    this.clientPort = port;
    this.clientHash = hash;
    this.lastActivity = coarseClock.now;
    client.conn = this;
    client.on('end', onEnd);
    client.on('error', onError);
    client.on('close', onClose);
    client.on('drain', onDrain);
  }

  /** Whether the backend is connected and bytes flow. */
  get isOpen(): boolean {
    return this.#state === OPEN;
  }

  /** Start the first connect attempt to `slot`. */
  start(slot: BackendSlot): void {
    this.#connect(slot);
  }

  #connect(slot: BackendSlot): void {
    this.#attempts++;
    const b = new ProxySocket({ allowHalfOpen: true, noDelay: true, onread: READ_OPTS });
    b.conn = this;
    b.on('connect', onConnect);
    b.on('end', onEnd);
    b.on('error', onError);
    b.on('close', onClose);
    b.on('drain', onDrain);
    this.backend = b;
    this.slot = slot;
    slot.active++;
    this.#backendClosed = false;
    this.#deadline = performance.now() + this.settings.timeouts.connectMs;
    b.connect({ host: slot.backend.address, port: slot.backend.nodePort });
  }

  /** The backend accepted: send the PROXY header, then let client bytes flow. */
  connected(b: ProxySocket): void {
    if (b !== this.backend || this.#state !== CONNECTING) return;
    this.#state = OPEN;
    this.lastActivity = coarseClock.now;
    const s = this.settings;
    const header = proxyHeader(
      s.proxyProtocol,
      { address: this.clientAddress, port: this.clientPort },
      { address: s.vip, port: s.port },
    );
    if (header) b.write(header);
    this.client.resume();
  }

  /**
   * The current attempt could not even start for want of local resources: reset the client at once,
   * without reporting the backend or retrying elsewhere.
   */
  #localFailure(b: ProxySocket): void {
    if (b !== this.backend || this.#state !== CONNECTING) return;
    abandon(b);
    this.backend = null;
    this.slot!.active--;
    this.slot = null;
    this.owner.stats.rejected['local-resources']++;
    this.#state = CLOSED;
    if (this.#clientClosed) this.#finish();
    else {
      this.client.on('error', ignoreError);
      this.client.resetAndDestroy();
    }
  }

  /** The current attempt failed (error or connect timeout): report it, then retry or give up. */
  #attemptFailed(b: ProxySocket): void {
    if (b !== this.backend || this.#state !== CONNECTING) return;
    const slot = this.slot!;
    abandon(b);
    this.backend = null;
    this.slot = null;
    slot.active--;
    const stats = this.owner.stats;
    stats.connectFailures++;
    this.owner.connectFailed(slot);
    if (this.#tried === null) this.#tried = [slot];
    else this.#tried.push(slot);
    if (this.#attempts < this.settings.connectAttempts && !this.#clientClosed) {
      const next = this.owner.picker.pick(this.clientHash, this.#tried);
      if (next !== null) {
        stats.retries++;
        this.#connect(next);
        return;
      }
    }
    stats.rejected['connect-failed']++;
    this.#state = CLOSED;
    if (this.#clientClosed) this.#finish();
    else {
      this.client.on('error', ignoreError);
      this.client.resetAndDestroy();
    }
  }

  /**
   * The hot path: `nread` bytes from `src` are in `buf`; write them to the other side. Returns false
   * to stop reading `src` until the other side has taken the bytes (backpressure).
   */
  relay(src: ProxySocket, nread: number, buf: Buffer): boolean {
    const up = src === this.client;
    const dst = up ? this.backend : this.client;
    if (dst === null || this.#state !== OPEN) return false;
    this.lastActivity = coarseClock.now;
    const stats = this.owner.stats;
    if (up) stats.bytesToBackend += nread;
    else stats.bytesToClient += nread;
    let own = up ? this.#upBuf : this.#downBuf;
    let chunk: Buffer;
    if (buf === LANDING) {
      // LANDING is shared by every socket of the thread: a pending write must never point into it.
      if (own === null) {
        own = takeBuffer();
        if (up) this.#upBuf = own;
        else this.#downBuf = own;
      }
      LANDING.copy(own, 0, 0, nread);
      chunk = nread === READ_BUFFER_SIZE ? own : own.subarray(0, nread);
    } else chunk = nread === buf.length ? buf : buf.subarray(0, nread);
    const belowMark = dst.write(chunk);
    if (dst.writableLength !== 0) {
      // The kernel did not take it all: the rest stays queued and references `own`. Stop reading
      // until it is written; 'drain' says so when write() returned false, else a zero-length write
      // queued behind it calls back.
      if (belowMark) dst.write(EMPTY, this.#flushCallback(up));
      if (own !== null) setNextRead(own);
      return false;
    }
    if (nread === READ_BUFFER_SIZE && own !== null) setNextRead(own);
    else if (own !== null) {
      releaseBuffer(own);
      if (up) this.#upBuf = null;
      else this.#downBuf = null;
    }
    return true;
  }

  #flushCallback(up: boolean): () => void {
    if (up) {
      this.#upFlushed ??= () => this.#resume(this.client);
      return this.#upFlushed;
    }
    this.#downFlushed ??= () => {
      if (this.backend !== null) this.#resume(this.backend);
    };
    return this.#downFlushed;
  }

  /** `dst` emitted 'drain': resume reading from the other side. */
  flushed(dst: ProxySocket): void {
    const src = dst === this.client ? this.backend : this.client;
    if (src !== null) this.#resume(src);
  }

  #resume(src: ProxySocket): void {
    if (this.#state === OPEN && !src.destroyed && !src.readableEnded) src.resume();
  }

  /** `src` sent FIN: pass it on after the bytes already queued (half-close). */
  ended(src: ProxySocket): void {
    if (this.#state !== OPEN) return;
    const dst = src === this.client ? this.backend : this.client;
    if (this.#halfClosedAt === 0) this.#halfClosedAt = performance.now();
    if (dst !== null && !dst.destroyed) dst.end();
  }

  /** A socket failed. While connecting that is a failed attempt; once open, a reset to pass on. */
  errored(sock: ProxySocket, err: Error): void {
    if (sock === this.backend && this.#state === CONNECTING) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== undefined && LOCAL_ERRORS.has(code)) this.#localFailure(sock);
      else this.#attemptFailed(sock);
      return;
    }
    if (this.#state !== OPEN) return;
    const other = sock === this.client ? this.backend : this.client;
    if (other !== null && !other.destroyed) {
      other.on('error', ignoreError);
      other.resetAndDestroy();
    }
  }

  /** A socket closed; the connection is finished when both are. */
  socketClosed(sock: ProxySocket): void {
    if (sock === this.client) {
      this.#clientClosed = true;
      const b = this.backend;
      if (this.#state === CONNECTING && b !== null) {
        // The client went away (or a timeout or drain closed it) while a connect was in flight.
        abandon(b);
        this.backend = null;
        this.slot!.active--;
        this.slot = null;
        this.#state = CLOSED;
      } else if (b !== null && !b.destroyed && !b.readableEnded) {
        // Closed without the full two-way FIN exchange: nothing more can reach the client.
        b.destroy();
      }
    } else if (sock === this.backend) {
      this.#backendClosed = true;
      const c = this.client;
      if (!c.destroyed && !c.readableEnded) c.destroy();
    } else return;
    if (this.#clientClosed && (this.backend === null || this.#backendClosed)) this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#state = CLOSED;
    if (this.slot !== null) {
      this.slot.active--;
      this.slot = null;
    }
    // Both sockets are closed, so no read can land in these and no write references them.
    if (this.#upBuf !== null) releaseBuffer(this.#upBuf);
    if (this.#downBuf !== null) releaseBuffer(this.#downBuf);
    this.#upBuf = null;
    this.#downBuf = null;
    this.client.conn = null;
    if (this.backend !== null) this.backend.conn = null;
    this.owner.closed(this);
  }

  /** Close both sockets now (timeouts, end of a drain); a connect in flight is abandoned. */
  close(): void {
    this.client.destroy();
    if (this.#state === OPEN) this.backend?.destroy();
  }

  /** Called by the sweeper on every tick: connect, half-closed and idle timeouts. */
  sweep(now: number, tickMs: number): void {
    if (this.#state === CONNECTING) {
      if (this.backend !== null && now >= this.#deadline) {
        this.owner.stats.connectTimeouts++;
        this.#attemptFailed(this.backend);
      }
      return;
    }
    if (this.#state !== OPEN) return;
    const t = this.settings.timeouts;
    if (this.#halfClosedAt !== 0 && t.halfClosedMs > 0 && now - this.#halfClosedAt >= t.halfClosedMs) {
      this.owner.stats.halfClosedTimeouts++;
      this.close();
    } else if (t.idleMs > 0 && now - this.lastActivity >= t.idleMs + tickMs) {
      // lastActivity is stamped from the coarse clock, up to one tick early: allow for it.
      this.owner.stats.idleTimeouts++;
      this.close();
    }
  }
}
