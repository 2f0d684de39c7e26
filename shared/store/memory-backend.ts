/**
 * The in-process twin of a Redis server: the state that `MemoryStore` clients share in
 * single-process mode (the controller and the speaker each hold a client of one backend). It keeps
 * the same semantics as the Redis scripts (versions, generations, TTLs, lease epochs), answers
 * asynchronously like a server, and can be made unreachable or wiped to drill the failure paths.
 */
import type { LiveSpeaker, NodeState, PoolStatus, SpeakerInfo } from './store.ts';

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
  expiresAt: number;
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
  readonly speakers = new Map<string, { info: SpeakerInfo; expiresAt: number }>();
  nodeStates: readonly NodeState[] | null = null;
  poolStatuses: readonly PoolStatus[] | null = null;
  readonly leases = new Map<string, MemoryLease>();
  readonly epochs = new Map<string, number>();
  private available = true;
  private readonly links = new Set<BackendLink>();

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

  /** Deliver an announcement to every linked client, in order, on a later turn. */
  announce(text: string): void {
    for (const l of this.links) {
      setImmediate(() => {
        if (this.available && this.links.has(l)) l.announced(text);
      });
    }
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

  /** Fault drill: while false every operation rejects and no announcement is delivered; true reconnects. */
  setAvailable(available: boolean): void {
    const wasDown = !this.available;
    this.available = available;
    if (available && wasDown) for (const l of this.links) setImmediate(() => l.connected());
  }

  /** Fault drill: forget everything, as a Redis restarted without persistence does, then reconnect clients. */
  wipe(): void {
    this.fields = new Map();
    this.version = 0;
    this.generation = null;
    this.speakers.clear();
    this.nodeStates = null;
    this.poolStatuses = null;
    this.leases.clear();
    this.epochs.clear();
    for (const l of this.links) setImmediate(() => l.connected());
  }

  /** Test seam: write a listener entry as raw text, without a version bump or an announcement. */
  writeRawListener(key: string, text: string): void {
    this.fields.set(key, text);
  }

  /** Test seam: bump the version without writing or announcing anything. */
  bumpVersion(by: number): void {
    this.version += by;
  }

  /** Test seam: publish raw text on the table channel. */
  announceRaw(text: string): void {
    this.announce(text);
  }
}
