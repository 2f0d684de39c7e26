/**
 * The in-process twin of a Redis server: the state that `MemoryStore` clients share in
 * single-process mode (the controller and the speaker each hold a client of one backend). It keeps
 * the same semantics as the Redis scripts (versions, generations, TTLs, lease epochs), answers
 * asynchronously like a server, and can be made unreachable or wiped to drill the failure paths.
 */
import { randomBytes } from 'node:crypto';
import {
  type LiveSpeaker,
  type NodeState,
  type PoolStatus,
  type SpeakerInfo,
  StaleTermError,
} from './store.ts';

/** Rejection of every operation while the backend is marked unavailable. */
export class StoreUnavailableError extends Error {
  readonly code = 'store.unavailable';
  constructor() {
    super('the store is unavailable');
    this.name = 'StoreUnavailableError';
  }
}

/** A client's hook into the backend's pub/sub. */
export interface BackendLink {
  /** The connection (re)opened: the client reloads what it follows. */
  connected(): void;
  /** A table announcement. */
  announced(text: string): void;
}

/** One lease as the backend keeps it. */
export interface MemoryLease {
  readonly node: string;
  readonly token: string;
  readonly epoch: number;
  readonly expiresAt: number;
}

/** The guard copy of a lease (Redis: `P lease-guard:{vip}`): it refuses others until `until`. */
export interface MemoryLeaseGuard {
  readonly node: string;
  readonly token: string;
  readonly epoch: number;
  /** When the lease it copies ends, on the backend's clock. */
  readonly until: number;
  /** When the guard itself is dropped: one lease TTL after `until`, as the Redis key's TTL. */
  readonly expiresAt: number;
}

/** A new random incarnation id, as the Redis marker key holds. */
function newIncarnation(): string {
  return randomBytes(8).toString('hex');
}

/** Options of a backend. */
export interface MemoryBackendOptions {
  /** Monotonic clock in ms used for TTLs; `performance.now` by default. */
  readonly now?: () => number;
}

/** Shared state of in-process stores. */
export class MemoryBackend {
  readonly now: () => number;
  /** Listener key → listener JSON, as in the Redis hash. */
  fields = new Map<string, string>();
  version = 0;
  /** Null while no table exists (never published, or wiped). */
  generation: string | null = null;
  /** The controller term that wrote the current version (Redis: `P table:term`). */
  tableTerm = 0;
  /** The highest controller term accepted (Redis: `P controller-term`); 0 when none. */
  controllerTerm = 0;
  readonly speakers = new Map<string, { info: SpeakerInfo; expiresAt: number }>();
  nodeStates: readonly NodeState[] | null = null;
  poolStatuses: readonly PoolStatus[] | null = null;
  readonly leases = new Map<string, MemoryLease>();
  readonly epochs = new Map<string, number>();
  readonly guards = new Map<string, MemoryLeaseGuard>();
  /** Identity of this backend's memory; a wipe draws a new one, as a Redis restart changes its run_id. */
  incarnation = newIncarnation();
  private available = true;
  private readonly links = new Set<BackendLink>();
  private readonly reconnectListeners = new Set<() => void>();

  constructor(opts: MemoryBackendOptions = {}) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** Run `fn` on a later turn of the event loop, as a server reply would arrive; rejects while unavailable. */
  call<T>(fn: () => T): Promise<T> {
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        if (!this.available) reject(new StoreUnavailableError());
        else {
          try {
            resolve(fn());
          } catch (err) {
            reject(err);
          }
        }
      });
    });
  }

  /** Attach a client's pub/sub hook; it is told `connected()` at once. Returns the detach function. */
  link(l: BackendLink): () => void {
    this.links.add(l);
    setImmediate(() => {
      if (this.available && this.links.has(l)) l.connected();
    });
    return () => this.links.delete(l);
  }

  /**
   * Be told, on a later turn, of every reconnect: the backend available again after an outage, or
   * wiped (a Redis restarted without its data). Returns the detach function.
   */
  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  private reconnected(): void {
    for (const l of this.reconnectListeners) {
      setImmediate(() => {
        if (this.available && this.reconnectListeners.has(l)) l();
      });
    }
  }

  /** Deliver an announcement to every linked client, in order, on a later turn. */
  announce(text: string): void {
    for (const l of this.links) {
      setImmediate(() => {
        if (this.available && this.links.has(l)) l.announced(text);
      });
    }
  }

  /** Refuse a controller write under `term`, as the Redis scripts do first: `StaleTermError` when a higher term was accepted. */
  checkTerm(term: number): void {
    if (term < this.controllerTerm) throw new StaleTermError(term, this.controllerTerm);
  }

  /** Record `term` if it is higher, once the write under it passed every check (the scripts' `raiseTerm`). */
  raiseTerm(term: number): void {
    if (term > this.controllerTerm) this.controllerTerm = term;
  }

  /** Live speakers, dropping expired ones. */
  liveSpeakers(): LiveSpeaker[] {
    const now = this.now();
    const out: LiveSpeaker[] = [];
    for (const [node, s] of this.speakers) {
      if (s.expiresAt <= now) this.speakers.delete(node);
      else out.push({ ...s.info, remainingMs: Math.round(s.expiresAt - now) });
    }
    return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  }

  /** The lease of `vip` if it has not expired. */
  liveLease(vip: string): MemoryLease | undefined {
    const l = this.leases.get(vip);
    if (l && l.expiresAt <= this.now()) {
      this.leases.delete(vip);
      return undefined;
    }
    return l;
  }

  /** The guard of `vip` if its key has not expired (its `until` may have passed). */
  liveGuard(vip: string): MemoryLeaseGuard | undefined {
    const g = this.guards.get(vip);
    if (g && g.expiresAt <= this.now()) {
      this.guards.delete(vip);
      return undefined;
    }
    return g;
  }

  /**
   * The lease of `vip` as acquire and renew see it: the live lease, or else (its key lost) a guard
   * whose `until` is still ahead, read as a lease ending then.
   */
  heldLease(vip: string): MemoryLease | undefined {
    const l = this.liveLease(vip);
    if (l) return l;
    const g = this.liveGuard(vip);
    if (!g || g.until <= this.now()) return undefined;
    return { node: g.node, token: g.token, epoch: g.epoch, expiresAt: g.until };
  }

  /** Write the lease of `vip` and its guard with one expiry, `ttlMs` from now, as the scripts' `hold`. */
  hold(vip: string, lease: Omit<MemoryLease, 'expiresAt'>, ttlMs: number): void {
    const until = this.now() + ttlMs;
    this.leases.set(vip, { node: lease.node, token: lease.token, epoch: lease.epoch, expiresAt: until });
    this.guards.set(vip, {
      node: lease.node,
      token: lease.token,
      epoch: lease.epoch,
      until,
      expiresAt: until + ttlMs,
    });
  }

  /** Fault drill: while false every operation rejects and no announcement is delivered; true reconnects. */
  setAvailable(available: boolean): void {
    const wasDown = !this.available;
    this.available = available;
    if (available && wasDown) {
      for (const l of this.links) setImmediate(() => l.connected());
      this.reconnected();
    }
  }

  /** Fault drill: forget everything, as a Redis restarted without persistence does, then reconnect clients. */
  wipe(): void {
    this.fields = new Map();
    this.version = 0;
    this.generation = null;
    this.tableTerm = 0;
    this.controllerTerm = 0;
    this.speakers.clear();
    this.nodeStates = null;
    this.poolStatuses = null;
    this.leases.clear();
    this.epochs.clear();
    this.guards.clear();
    this.incarnation = newIncarnation();
    for (const l of this.links) setImmediate(() => l.connected());
    this.reconnected();
  }

  /** Test seam: write a listener entry as raw text, without a version bump or an announcement. */
  writeRawListener(key: string, text: string): void {
    this.fields.set(key, text);
  }

  /** Test seam: bump the version without writing or announcing anything. */
  bumpVersion(by: number): void {
    this.version += by;
  }

  /** Fault drill: drop the lease of `vip` and keep its guard, as `DEL P lease:{vip}` does in Redis. */
  dropLeaseKey(vip: string): void {
    this.leases.delete(vip);
  }

  /** Test seam: publish raw text on the table channel. */
  announceRaw(text: string): void {
    this.announce(text);
  }
}
