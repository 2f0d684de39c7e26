/**
 * One VIP:port listener in one thread: its socket (SO_REUSEPORT, so every worker binds its own),
 * admission of new clients (source ranges, limits, an eligible backend), its picker, its open
 * connections and its drain. Table updates of the same VIP:port replace settings and picker in
 * place; open connections keep the settings they were accepted with.
 */
import { performance } from 'node:perf_hooks';
import { getSystemErrorName } from 'node:util';
import type { Logger } from '../../shared/log.ts';
import { type Backend, type Listener, listenerKey } from '../../shared/model.ts';
import { buildPicker } from '../balance/build-picker.ts';
import { clientAddressHash, fnv1a } from '../balance/hash.ts';
import { type BackendSlot, EMPTY_PICKER, type Picker } from '../balance/picker.ts';
import { type HealthState, healthTargetKey } from '../health/health-target.ts';
import { Connection, type ConnectionOwner } from './connection.ts';
import { FailOpen } from './fail-open.ts';
import type { BindFailure, PeerAddress, RelayIo, RelayListener, RelaySide } from './io/relay-io.ts';
import { type ListenerStats, newListenerStats, type RejectReason } from './listener-stats.ts';
import { release, tryAcquire, tryAcquireLimit } from './shared-limit.ts';
import { compileSourceRanges, type SourceMatcher } from './source-ranges.ts';
import type { Sweepable, Sweeper } from './sweeper.ts';

export type { BindFailure } from './io/relay-io.ts';

/** What a listener needs from the thread's data plane. */
export interface ListenerDeps {
  readonly logger: Logger;
  readonly sweeper: Sweeper;
  /** The relay's I/O (io/relay-io.ts). */
  readonly io: RelayIo;
  /** Current health of a probe target. */
  healthOf(key: string): HealthState;
  /** A connect to a backend of this target failed (passive health). */
  connectFailed(healthKey: string): void;
  /** Speaker-wide count of open connections and its limit (`newLimitCell`). */
  readonly speakerLimit: Int32Array;
}

type RuntimeState = 'idle' | 'binding' | 'bound' | 'draining' | 'closed';

/**
 * Accept-queue length asked of the kernel (which caps it at `net.core.somaxconn`, 4096 by default
 * since Linux 5.4). Node's default of 511 drops SYNs when thousands of clients connect at once, and
 * each dropped client waits 1, 3, 7 ... seconds to retry; HAProxy asks for its maxconn.
 */
export const LISTEN_BACKLOG = 4096;

/** Filled on every accept that needs the client's address (one per thread). */
const peer: PeerAddress = { address: '', port: 0 };

/**
 * Whether admission or the connection needs the client's address: it costs a system call and two
 * strings per connection, so a listener without source ranges, source hashing or PROXY headers
 * does without.
 */
function needsClientAddress(l: Listener): boolean {
  return l.sourceRanges.length > 0 || l.algorithm === 'source-hash' || l.proxyProtocol !== 'none';
}

function identity(b: Backend): string {
  return `${b.address}|${b.nodePort}`;
}

/** One listener of the table, served by this thread. */
export class ListenerRuntime implements ConnectionOwner, Sweepable {
  readonly key: string;
  readonly stats: ListenerStats = newListenerStats();
  picker: Picker = EMPTY_PICKER;
  #settings: Listener;
  #slots: BackendSlot[] = [];
  #matcher: SourceMatcher;
  #needsPeer: boolean;
  /** Open connections of this listener across all workers, shared with them. */
  readonly #count: Int32Array;
  readonly #deps: ListenerDeps;
  #server: RelayListener | null = null;
  #state: RuntimeState = 'idle';
  #head: Connection | null = null;
  #size = 0;
  #drainDeadline = 0;
  #drained: (() => void) | null = null;
  #drainPromise: Promise<void> | null = null;
  readonly #failOpen = new FailOpen();
  /** accept() failures since the last successful accept (0: accepting normally). */
  #acceptFailing = 0;

  constructor(listener: Listener, count: Int32Array, deps: ListenerDeps) {
    this.key = listenerKey(listener);
    this.#settings = listener;
    this.#count = count;
    this.#deps = deps;
    this.#matcher = compileSourceRanges(listener.sourceRanges);
    this.#needsPeer = needsClientAddress(listener);
    this.#slots = this.#buildSlots(listener, []);
    this.rebuildPicker();
    deps.sweeper.add(this);
  }

  /** ConnectionOwner: the relay's I/O. */
  get io(): RelayIo {
    return this.#deps.io;
  }

  /** The settings new connections get. */
  get settings(): Listener {
    return this.#settings;
  }

  /** Whether the listening socket is open. */
  get bound(): boolean {
    return this.#state === 'bound';
  }

  /** Whether the listener has been removed (draining or done). */
  get retired(): boolean {
    return this.#state === 'draining' || this.#state === 'closed';
  }

  /** Open connections of this listener in this thread. */
  get size(): number {
    return this.#size;
  }

  /** The backend slots, in table order (for tests and metrics). */
  get slots(): readonly BackendSlot[] {
    return this.#slots;
  }

  /** New backends or settings for the same VIP:port: new picker, no rebind. */
  update(listener: Listener): void {
    this.#settings = listener;
    this.#matcher = compileSourceRanges(listener.sourceRanges);
    this.#needsPeer = needsClientAddress(listener);
    this.#slots = this.#buildSlots(listener, this.#slots);
    this.rebuildPicker();
  }

  /** Whether any backend of this listener is decided by the target `key`. */
  usesHealthKey(key: string): boolean {
    return this.#slots.some((s) => s.healthKey === key);
  }

  /**
   * Recompute the picker from the backends' current health (`unknown` counts as eligible); when
   * every backend fails its health checks, from those whose NodePort still accepts (fail-open.ts).
   */
  rebuildPicker(): void {
    const wasOpen = this.#failOpen.active;
    const eligible = this.#failOpen.choose(
      this.#slots,
      (s) => this.#deps.healthOf(s.healthKey) !== 'unhealthy',
      performance.now(),
    );
    this.picker = buildPicker(this.#settings.algorithm, eligible);
    this.stats.failingOpen = this.#failOpen.active ? 1 : 0;
    if (this.#failOpen.active === wasOpen) return;
    const fields = { listener: this.key, service: this.#settings.service };
    if (this.#failOpen.active) {
      this.#deps.logger.warn(
        { event: 'listener-fail-open', ...fields, backends: eligible.length },
        'every backend fails its health checks: picking among those whose NodePort still accepts',
      );
    } else this.#deps.logger.info({ event: 'listener-fail-open-ended', ...fields });
  }

  #buildSlots(listener: Listener, old: readonly BackendSlot[]): BackendSlot[] {
    const byIdentity = new Map(old.map((s) => [identity(s.backend), s]));
    return listener.backends.map((backend) => {
      const healthKey = healthTargetKey(listener.healthCheck, backend);
      const prev = byIdentity.get(identity(backend));
      // Keep the slot (and its open-connection count) when nothing that matters to it changed.
      if (prev && prev.healthKey === healthKey && prev.backend.node === backend.node) return prev;
      return { backend, healthKey, identityHash: fnv1a(identity(backend)), active: 0 };
    });
  }

  /** Open the listening socket; resolves with the failure instead of throwing. Idempotent. */
  async bind(): Promise<BindFailure | null> {
    if (this.#state !== 'idle') return null;
    this.#state = 'binding';
    const { vip, port } = this.#settings;
    const bound = await this.#deps.io.listen(
      { host: vip, port, backlog: LISTEN_BACKLOG },
      (status, client) => this.#accept(status, client),
      (err) => this.#deps.logger.warn({ event: 'listener-error', err }),
    );
    if ('code' in bound) {
      if (this.#state === 'binding') this.#state = 'idle';
      return bound;
    }
    if (this.#state !== 'binding') {
      // Removed while the bind was in flight.
      bound.close();
      return null;
    }
    this.#server = bound;
    this.#state = 'bound';
    return null;
  }

  #accept(status: number, client: RelaySide | null): void {
    if (client === null) {
      this.#acceptFailed(status);
      return;
    }
    if (this.#acceptFailing !== 0) this.#acceptRecovered();
    if (this.#state !== 'bound') {
      this.#reject(client, 'draining');
      return;
    }
    const s = this.#settings;
    let address = '';
    let port = 0;
    if (this.#needsPeer) {
      if (!this.#deps.io.peer(client, peer)) {
        // Gone before we could look at it.
        this.#deps.io.close(client);
        return;
      }
      address = peer.address;
      port = peer.port;
      if (!this.#matcher.allows(address)) {
        this.#reject(client, 'source-range');
        return;
      }
    }
    if (!tryAcquire(this.#count, s.maxConnections)) {
      this.#reject(client, 'limit');
      return;
    }
    if (!tryAcquireLimit(this.#deps.speakerLimit)) {
      release(this.#count);
      this.#reject(client, 'speaker-limit');
      return;
    }
    const hash = s.algorithm === 'source-hash' ? clientAddressHash(address) : 0;
    const slot = this.picker.pick(hash, null);
    if (slot === null) {
      release(this.#count);
      release(this.#deps.speakerLimit);
      this.#reject(client, 'no-backend');
      return;
    }
    const conn = new Connection(this, s, client, address, port, hash);
    conn.next = this.#head;
    if (this.#head !== null) this.#head.prev = conn;
    this.#head = conn;
    this.#size++;
    this.stats.active++;
    this.stats.total++;
    conn.start(slot);
  }

  /**
   * accept() failed. On EMFILE/ENFILE libuv has already accepted and closed the waiting clients
   * (its reserve-descriptor trick), so nothing spins and those clients see a reset; one callback
   * stands for a whole burst. Logged once per episode, not per client.
   */
  #acceptFailed(err: number): void {
    this.stats.acceptErrors++;
    if (this.#acceptFailing++ === 0) {
      this.#deps.logger.warn(
        { event: 'accept-failed', listener: this.key, reason: getSystemErrorName(err) },
        'cannot accept clients (waiting ones are reset) until descriptors or memory free up',
      );
    }
  }

  #acceptRecovered(): void {
    this.#deps.logger.info({ event: 'accept-recovered', listener: this.key, failures: this.#acceptFailing });
    this.#acceptFailing = 0;
  }

  #reject(client: RelaySide, reason: RejectReason): void {
    this.stats.rejected[reason]++;
    // A reset fails only after a shutdown (never sent to a client here) or when the socket is gone.
    this.#deps.io.reset(client);
  }

  /** ConnectionOwner: passive health for the failed backend's target. */
  connectFailed(slot: BackendSlot): void {
    this.#failOpen.connectFailed(slot, performance.now());
    this.#deps.connectFailed(slot.healthKey);
    // Failing open, the target was unhealthy already, so no health change rebuilds the picker.
    if (this.#failOpen.active) this.rebuildPicker();
  }

  /** ConnectionOwner: a connection finished; unlink it and give back its limits. */
  closed(conn: Connection): void {
    if (conn.prev !== null) conn.prev.next = conn.next;
    else this.#head = conn.next;
    if (conn.next !== null) conn.next.prev = conn.prev;
    conn.prev = null;
    conn.next = null;
    this.#size--;
    this.stats.active--;
    release(this.#count);
    release(this.#deps.speakerLimit);
    if (this.#size === 0 && this.#state === 'draining') this.#finishDrain();
  }

  /** Sweepable: timeouts of every connection, the end of a drain, a failing-open backend's retry. */
  sweep(now: number): void {
    if (this.#failOpen.due(now)) this.rebuildPicker();
    const tick = this.#deps.sweeper.tickMs;
    const closeAll = this.#state === 'draining' && now >= this.#drainDeadline;
    let c = this.#head;
    while (c !== null) {
      const next = c.next;
      if (closeAll) {
        this.stats.drainClosed++;
        c.abort();
      } else c.sweep(now, tick);
      c = next;
    }
  }

  /**
   * Stop accepting, let open connections finish for up to `ms`, then close the rest. Resolves when
   * every connection of this thread is closed.
   */
  drain(ms: number): Promise<void> {
    if (this.#drainPromise) {
      this.#drainDeadline = Math.min(this.#drainDeadline, performance.now() + ms);
      return this.#drainPromise;
    }
    this.#server?.close();
    this.#server = null;
    this.#state = 'draining';
    this.#drainDeadline = performance.now() + ms;
    this.#drainPromise = new Promise((resolve) => {
      this.#drained = resolve;
    });
    if (this.#size === 0) this.#finishDrain();
    else if (ms <= 0) this.sweep(performance.now());
    return this.#drainPromise;
  }

  #finishDrain(): void {
    this.#state = 'closed';
    this.#deps.sweeper.delete(this);
    this.#drained?.();
    this.#drained = null;
  }

  /** The shortest timeout of this listener's settings, for the sweeper's tick. */
  shortestTimeout(): number {
    const t = this.#settings.timeouts;
    return Math.min(t.connectMs, t.idleMs || Infinity, t.halfClosedMs || Infinity, t.drainMs || Infinity);
  }
}
