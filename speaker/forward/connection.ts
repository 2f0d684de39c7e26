/**
 * One proxied TCP connection: the accepted client, connect attempts to backends (with retry on
 * another backend), and the two relay directions with backpressure, half-close and reset
 * propagation. Both sides go through the relay's I/O (io/relay-io.ts), whichever implementation the
 * speaker chose. Everything per chunk happens in `relay`: no closures, timers, promises or logging;
 * timeouts are checked by the thread's sweeper through `sweep`.
 */
import { performance } from 'node:perf_hooks';
import { getSystemErrorName } from 'node:util';
import type { Listener } from '../../shared/model.ts';
import type { BackendSlot, Picker } from '../balance/picker.ts';
import { isLocalErrorCode } from '../local-errors.ts';
import { type RelayIo, type RelayOwner, type RelaySide, UV_ETIMEDOUT } from './io/relay-io.ts';
import type { ListenerStats } from './listener-stats.ts';
import { proxyHeader } from './proxy-protocol.ts';
import {
  BULK_BUFFER_SIZE,
  LANDING,
  READ_BUFFER_SIZE,
  releaseBuffer,
  takeBuffer,
  takeBulkBuffer,
} from './read-buffers.ts';
import { coarseClock } from './sweeper.ts';

/** What a connection needs from the listener that accepted it. */
export interface ConnectionOwner {
  /** Counters of the listener (kept across table updates of the same listener). */
  readonly stats: ListenerStats;
  /** The current picker; it may be replaced between attempts when health changes. */
  readonly picker: Picker;
  /** The relay's I/O. */
  readonly io: RelayIo;
  /** A connect to `slot` failed: passive health, reported at once. */
  connectFailed(slot: BackendSlot): void;
  /** Both sides are closed: unlink the connection and release its limits. */
  closed(conn: Connection): void;
}

const CONNECTING = 1;
const OPEN = 2;
const CLOSED = 3;

/** Whether a libuv status (a negative errno) is a shortage of this process's own (local-errors.ts). */
function isLocalError(status: number): boolean {
  return status < 0 && isLocalErrorCode(getSystemErrorName(status));
}

/** One client connection and its current backend connection. */
export class Connection implements RelayOwner {
  /** Neighbours in the owning listener's list of connections. */
  prev: Connection | null = null;
  next: Connection | null = null;

  readonly owner: ConnectionOwner;
  /** The listener's settings when the connection was accepted; later table changes do not apply. */
  readonly settings: Listener;
  readonly client: RelaySide;
  readonly #io: RelayIo;
  /** The client's address and port; empty and 0 when the listener needs neither. */
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly clientHash: number;
  backend: RelaySide | null = null;
  slot: BackendSlot | null = null;

  #state = CONNECTING;
  #attempts = 0;
  #tried: BackendSlot[] | null = null;
  /** Connect deadline of the current attempt, on the `performance.now()` clock. */
  #deadline = 0;
  /**
   * Last sign of traffic in either direction (a read, a FIN, a queued write finishing), on the
   * coarse clock. Both the idle and the half-closed timeout count from it, so neither cuts a
   * connection that is still moving bytes.
   */
  lastActivity: number;
  /** One side has sent FIN and the other direction still flows. */
  #halfClosed = false;
  /** Own read buffers of the two directions; null while the direction reads into LANDING. */
  #upBuf: Buffer | null = null;
  #downBuf: Buffer | null = null;
  /** The last partial-chunk view of each direction, and the buffer it views. */
  #upView: Uint8Array | null = null;
  #upViewOf: Buffer | null = null;
  #downView: Uint8Array | null = null;
  #downViewOf: Buffer | null = null;
  /** Whether the next read of a direction lands in its own buffer rather than in LANDING. */
  #upInOwn = false;
  #downInOwn = false;
  /** FIN received from the client / the backend. */
  #clientEof = false;
  #backendEof = false;
  /** FIN passed on to the client / the backend (shutdown requested; a reset is no longer possible). */
  #clientShut = false;
  #backendShut = false;
  /** A write to the backend (up) / to the client (down) is queued in libuv. */
  #upPending = false;
  #downPending = false;
  #clientClosed = false;
  #backendClosed = false;

  constructor(
    owner: ConnectionOwner,
    settings: Listener,
    client: RelaySide,
    address: string,
    port: number,
    hash: number,
  ) {
    this.owner = owner;
    this.settings = settings;
    this.clientAddress = address;
    this.clientPort = port;
    this.clientHash = hash;
    this.lastActivity = coarseClock.now;
    this.#io = owner.io;
    this.client = client;
    this.#io.adopt(client, this);
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
    const io = this.#io;
    const b = io.backend(this);
    this.backend = b;
    this.slot = slot;
    slot.active++;
    const now = performance.now();
    coarseClock.now = now;
    this.#deadline = now + this.settings.timeouts.connectMs;
    const err = io.connect(b, slot.backend.address, slot.backend.nodePort);
    // Refused before any packet left: no descriptor or no local port is this process's own shortage.
    if (err !== 0) {
      if (isLocalError(err)) this.#localFailure(b);
      else this.#attemptFailed(b, err);
    }
  }

  /** A connect attempt ended: on success send the PROXY header, then let bytes flow both ways. */
  connected(b: RelaySide, status: number): void {
    if (b !== this.backend || this.#state !== CONNECTING) return;
    if (status !== 0) {
      if (isLocalError(status)) this.#localFailure(b);
      else this.#attemptFailed(b, status);
      return;
    }
    this.#state = OPEN;
    this.lastActivity = coarseClock.now;
    const s = this.settings;
    const header =
      s.proxyProtocol === 'none'
        ? null
        : proxyHeader(
            s.proxyProtocol,
            { address: this.clientAddress, port: this.clientPort },
            { address: s.vip, port: s.port },
          );
    const io = this.#io;
    if (header) {
      const r = io.write(b, header, this, true, header);
      if (r < 0) {
        this.#fail(b);
        return;
      }
      // Queued: the client is read once the header is written (see `written`).
      if (r === 1) {
        this.#upPending = true;
        io.readStart(b);
        return;
      }
    }
    io.readStart(this.client);
    io.readStart(b);
  }

  /**
   * The current attempt could not even start for want of local resources: reset the client at once,
   * without reporting the backend or retrying elsewhere.
   */
  #localFailure(b: RelaySide): void {
    if (b !== this.backend || this.#state !== CONNECTING) return;
    this.#abandon(b);
    this.backend = null;
    this.slot!.active--;
    this.slot = null;
    this.owner.stats.rejected['local-resources']++;
    this.#io.reset(this.client);
    this.#finish();
  }

  /** The current attempt failed (error or connect timeout): report it, then retry or give up. */
  #attemptFailed(b: RelaySide, _status: number): void {
    if (b !== this.backend || this.#state !== CONNECTING) return;
    const slot = this.slot!;
    this.#abandon(b);
    this.backend = null;
    this.slot = null;
    slot.active--;
    const stats = this.owner.stats;
    stats.connectFailures++;
    this.owner.connectFailed(slot);
    if (this.#tried === null) this.#tried = [slot];
    else this.#tried.push(slot);
    if (this.#attempts < this.settings.connectAttempts) {
      const next = this.owner.picker.pick(this.clientHash, this.#tried);
      if (next !== null) {
        stats.retries++;
        this.#connect(next);
        return;
      }
    }
    stats.rejected['connect-failed']++;
    this.#io.reset(this.client);
    this.#finish();
  }

  /** Drop a backend whose connect attempt no longer matters; its late events are ignored. */
  #abandon(b: RelaySide): void {
    b.owner = null;
    this.#io.close(b);
  }

  /**
   * The hot path: `nread` bytes from `src` have landed; write them to the other side. Returns where
   * the next read of `src` lands. When the other side did not take every byte, reading `src` stops
   * until it has (backpressure), and the bytes stay in the connection's own buffer meanwhile.
   */
  relay(src: RelaySide, nread: number): Uint8Array | undefined {
    if (this.#state !== OPEN) return undefined;
    const up = src === this.client;
    const dst = up ? this.backend! : this.client;
    this.lastActivity = coarseClock.now;
    const stats = this.owner.stats;
    let own: Buffer;
    if (up) {
      stats.bytesToBackend += nread;
      if (this.#upInOwn) own = this.#upBuf!;
      else {
        own = this.#upBuf ??= takeBuffer();
        // LANDING is shared by every side of the thread: a pending write must never point into it.
        this.#io.copy(LANDING, own, nread);
      }
    } else {
      stats.bytesToClient += nread;
      if (this.#downInOwn) own = this.#downBuf!;
      else {
        own = this.#downBuf ??= takeBuffer();
        this.#io.copy(LANDING, own, nread);
      }
    }
    const chunk = nread === own.length ? own : this.#view(up, own, nread);
    const r = this.#io.write(dst, chunk, this, up, null);
    if (r < 0) {
      this.#fail(dst);
      return undefined;
    }
    if (r === 1) {
      // Queued: stop reading until it is written. Reading resumes only then, so the next read may
      // land in `own` again.
      this.#io.readStop(src);
      if (up) this.#upPending = true;
      else this.#downPending = true;
      this.#setInOwn(up, true);
      return own;
    }
    if (nread >= READ_BUFFER_SIZE) {
      // A read that filled a normal buffer: a stream, with more waiting. Keep reading straight into
      // an own buffer (no copy), and a bulk one if there is one.
      if (own.length !== BULK_BUFFER_SIZE) {
        const bulk = takeBulkBuffer();
        if (bulk !== null) {
          releaseBuffer(own);
          own = bulk;
          if (up) this.#upBuf = own;
          else this.#downBuf = own;
        }
      }
      this.#setInOwn(up, true);
      return own;
    }
    releaseBuffer(own);
    if (up) this.#upBuf = null;
    else this.#downBuf = null;
    this.#setInOwn(up, false);
    return LANDING;
  }

  /**
   * The first `nread` bytes of `own` as a view. Request/response protocols repeat their message
   * sizes, and a released buffer is the next one taken, so the last view of each direction is
   * usually the one needed: no allocation per chunk.
   */
  #view(up: boolean, own: Buffer, nread: number): Uint8Array {
    const last = up ? this.#upView : this.#downView;
    if (last !== null && last.length === nread && (up ? this.#upViewOf : this.#downViewOf) === own)
      return last;
    const v = new Uint8Array(own.buffer, own.byteOffset, nread);
    if (up) {
      this.#upView = v;
      this.#upViewOf = own;
    } else {
      this.#downView = v;
      this.#downViewOf = own;
    }
    return v;
  }

  #setInOwn(up: boolean, inOwn: boolean): void {
    if (up) this.#upInOwn = inOwn;
    else this.#downInOwn = inOwn;
  }

  /** A queued write finished: on success resume reading the side it came from. */
  written(up: boolean, status: number): void {
    if (up) this.#upPending = false;
    else this.#downPending = false;
    if (this.#state !== OPEN) return;
    const dst = up ? this.backend! : this.client;
    if (status < 0) {
      this.#fail(dst);
      return;
    }
    // A slow reader draining a queued write is traffic too, though nothing is read meanwhile.
    this.lastActivity = coarseClock.now;
    if (this.#clientEof && this.#backendEof) this.#closeWhenFlushed();
    else if (up ? !this.#clientEof : !this.#backendEof) this.#io.readStart(up ? this.client : this.backend!);
  }

  /**
   * `src` sent FIN. The first FIN is passed on after the bytes already queued (half-close: the other
   * direction keeps flowing). After the second, nothing more can arrive either way, and each side is
   * closed as soon as nothing is queued for it: close() sends the FIN after the bytes the kernel
   * holds, so the second FIN costs no shutdown.
   */
  ended(src: RelaySide): void {
    if (this.#state !== OPEN) return;
    const up = src === this.client;
    if (up) this.#clientEof = true;
    else this.#backendEof = true;
    if (this.#clientEof && this.#backendEof) {
      this.#closeWhenFlushed();
      return;
    }
    this.#halfClosed = true;
    this.lastActivity = coarseClock.now;
    const dst = up ? this.backend! : this.client;
    if (up) this.#backendShut = true;
    else this.#clientShut = true;
    // A failed shutdown needs no callback: the same failure shows on that side's reads.
    if (this.#io.shutdown(dst) !== 0) this.#fail(dst);
  }

  #closeWhenFlushed(): void {
    if (!this.#clientClosed && !this.#downPending) {
      this.#clientClosed = true;
      this.#io.close(this.client);
    }
    if (!this.#backendClosed && !this.#upPending) {
      this.#backendClosed = true;
      this.#io.close(this.backend!);
    }
    if (this.#clientClosed && this.#backendClosed) this.#finish();
  }

  /** A read failed (a reset, most often): pass it on. */
  errored(sock: RelaySide): void {
    if (this.#state === OPEN) this.#fail(sock);
  }

  /** `h` failed: close it and reset the other side (or close it, if it was already sent a FIN). */
  #fail(h: RelaySide): void {
    const io = this.#io;
    const clientFailed = h === this.client;
    if (clientFailed ? !this.#clientClosed : !this.#backendClosed) io.close(h);
    const other = clientFailed ? this.backend : this.client;
    if (other !== null && (clientFailed ? !this.#backendClosed : !this.#clientClosed)) {
      // libuv refuses a reset after a shutdown: that side gets a plain close (RST if bytes are unread).
      if (clientFailed ? this.#backendShut : this.#clientShut) io.close(other);
      else io.reset(other);
    }
    this.#finish();
  }

  /**
   * Both sides are closed. Their descriptors are released already (a socket is closed at once; only
   * its close callback waits for the next loop turn), and a closed side neither reads into a buffer
   * nor writes from one again, so the buffers can go back to the pool.
   */
  #finish(): void {
    this.#state = CLOSED;
    this.#clientClosed = true;
    this.#backendClosed = true;
    if (this.slot !== null) {
      this.slot.active--;
      this.slot = null;
    }
    if (this.#upBuf !== null) releaseBuffer(this.#upBuf);
    if (this.#downBuf !== null) releaseBuffer(this.#downBuf);
    this.#upBuf = null;
    this.#downBuf = null;
    this.client.owner = null;
    if (this.backend !== null) this.backend.owner = null;
    this.owner.closed(this);
  }

  /**
   * End the connection on the data plane's own initiative (a timeout, the end of a drain), so that
   * neither peer can take it for a finished transfer: a side that may still be owed bytes is reset,
   * never sent a FIN. A side already sent FIN has had every byte meant for it and is closed plainly
   * (libuv refuses a reset after a shutdown anyway). A connect in flight is abandoned.
   */
  abort(): void {
    if (this.#state === CLOSED) return;
    const io = this.#io;
    if (this.#state === CONNECTING && this.backend !== null) {
      this.#abandon(this.backend);
      this.backend = null;
    }
    if (!this.#clientClosed) {
      if (this.#clientShut) io.close(this.client);
      else io.reset(this.client);
    }
    if (this.backend !== null && !this.#backendClosed) {
      if (this.#backendShut) io.close(this.backend);
      else io.reset(this.backend);
    }
    this.#finish();
  }

  /**
   * Called by the sweeper on every tick: connect, half-closed and idle timeouts. The last two count
   * time without traffic (HAProxy's `client-fin`/`server-fin` and `client`/`server` timeouts), and
   * `lastActivity` is stamped from the coarse clock, up to one tick early: a timeout fires between
   * its deadline and two ticks after it, never before.
   */
  sweep(now: number, tickMs: number): void {
    if (this.#state === CONNECTING) {
      if (this.backend !== null && now >= this.#deadline) {
        this.owner.stats.connectTimeouts++;
        this.#attemptFailed(this.backend, UV_ETIMEDOUT);
      }
      return;
    }
    if (this.#state !== OPEN) return;
    const t = this.settings.timeouts;
    const quietMs = now - this.lastActivity - tickMs;
    if (this.#halfClosed && t.halfClosedMs > 0 && quietMs >= t.halfClosedMs) {
      this.owner.stats.halfClosedTimeouts++;
      this.abort();
    } else if (t.idleMs > 0 && quietMs >= t.idleMs) {
      this.owner.stats.idleTimeouts++;
      this.abort();
    }
  }
}
