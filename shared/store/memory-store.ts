/**
 * The store for single-process mode: a client of an in-process `MemoryBackend`. It runs the same
 * publisher and follower as the Redis store, so tables go through the same encoding, versioning,
 * announcements and validation, and it passes the same contract tests.
 */
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import type { ForwardingTable } from '../model.ts';
import { MemoryBackend } from './memory-backend.ts';
import {
  DEFAULT_RESYNC_INTERVAL_MS,
  type LeaseGrant,
  type LeaseInfo,
  type LeaseRenewal,
  type LeaseRequest,
  type LiveSpeaker,
  type NodeState,
  OtherIncarnationError,
  type PoolStatus,
  type PublishOptions,
  type PublishResult,
  type SpeakerInfo,
  type Store,
  type SubscribeOptions,
  type TableHandlers,
  type TableLoad,
  type TableSubscription,
  type WriteOptions,
} from './store.ts';
import { announcementText } from './table-announcement.ts';
import { decodeListeners, tableOf } from './table-codec.ts';
import {
  type StoredFields,
  type StoredTable,
  TableFollower,
  type TableHead,
  type TableReader,
} from './table-follower.ts';
import { TablePublisher, type TableWriter } from './table-publisher.ts';

/** Names the in-process table in problems and logs. */
const SOURCE = 'memory:table';

/** Options of a memory store. */
export interface MemoryStoreOptions {
  /** Share a backend between clients (controller and speaker); a new one by default. */
  readonly backend?: MemoryBackend;
  readonly logger?: Logger;
}

/** The table half of a memory store, reading and writing the backend as the Redis scripts do. */
function backendTableIo(b: MemoryBackend): TableReader & TableWriter {
  return {
    readHead: () =>
      b.call(() =>
        b.generation === null ? null : { generation: b.generation, version: b.version, term: b.tableTerm },
      ),
    readAll: () =>
      b.call((): StoredTable | null =>
        b.generation === null
          ? null
          : { generation: b.generation, version: b.version, term: b.tableTerm, fields: [...b.fields] },
      ),
    readSome: (keys) =>
      b.call((): StoredFields | null =>
        b.generation === null
          ? null
          : {
              generation: b.generation,
              version: b.version,
              term: b.tableTerm,
              values: keys.map((k) => b.fields.get(k) ?? null),
            },
      ),
    writeFull: (fields, newGeneration, write) => {
      // Checked before the call, as the Redis store checks it before its commit script.
      write.signal?.throwIfAborted();
      return b.call((): TableHead => {
        b.checkTerm(write.term);
        if (b.generation === null) b.generation = newGeneration;
        b.fields = new Map(fields);
        b.version++;
        if (b.generation === write.minGeneration && b.version < write.minVersion)
          b.version = write.minVersion;
        b.tableTerm = write.term;
        b.raiseTerm(write.term);
        const head = { generation: b.generation, version: b.version, term: write.term };
        b.announce(announcementText({ kind: 'full', ...head }));
        return head;
      });
    },
    writeDelta: (base, changed, removed, write) => {
      write.signal?.throwIfAborted();
      return b.call((): TableHead | null => {
        b.checkTerm(write.term);
        if (b.generation !== base.generation || b.version !== base.version) return null;
        for (const [k, v] of changed) b.fields.set(k, v);
        for (const k of removed) b.fields.delete(k);
        b.version++;
        b.tableTerm = write.term;
        b.raiseTerm(write.term);
        const head = { generation: b.generation, version: b.version, term: write.term };
        b.announce(
          announcementText({
            kind: 'delta',
            ...head,
            changed: [...changed.keys()],
            removed,
          }),
        );
        return head;
      });
    },
  };
}

/** A `Store` on an in-process backend. */
export class MemoryStore implements Store {
  readonly kind = 'memory';
  readonly target = 'in-process';
  readonly backend: MemoryBackend;
  private readonly log: Logger;
  private readonly io: TableReader & TableWriter;
  private readonly publisher: TablePublisher;
  private readonly followers = new Set<TableFollower>();
  private readonly detachers = new Set<() => void>();

  constructor(opts: MemoryStoreOptions = {}) {
    this.backend = opts.backend ?? new MemoryBackend();
    this.log = opts.logger ?? silentLogger();
    this.io = backendTableIo(this.backend);
    this.publisher = new TablePublisher(this.io, this.log);
  }

  publishTable(table: ForwardingTable, opts: PublishOptions = {}): Promise<PublishResult> {
    return this.publisher.publish(table, opts);
  }

  async loadTable(): Promise<TableLoad> {
    const stored = await this.io.readAll();
    if (stored === null) return { state: 'absent' };
    const decoded = await decodeListeners(stored.fields, SOURCE);
    if (!decoded.ok) {
      return {
        state: 'refused',
        generation: stored.generation,
        version: stored.version,
        problems: decoded.problems,
      };
    }
    return { state: 'ok', generation: stored.generation, table: tableOf(decoded.value, stored.version) };
  }

  subscribeTable(handlers: TableHandlers, opts: SubscribeOptions = {}): TableSubscription {
    let detach = (): void => {};
    const follower = new TableFollower(this.io, handlers, {
      source: SOURCE,
      logger: this.log,
      resyncIntervalMs: opts.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS,
      onClose: () => {
        detach();
        this.followers.delete(follower);
      },
    });
    this.followers.add(follower);
    detach = this.backend.link({
      connected: () => follower.connected(),
      announced: (t) => follower.announced(t),
    });
    return follower;
  }

  // SpeakerRegistry

  heartbeat(speaker: SpeakerInfo, ttlMs: number): Promise<void> {
    const b = this.backend;
    return b.call(() => {
      b.speakers.set(speaker.node, { info: { ...speaker }, expiresAt: b.now() + ttlMs });
    });
  }

  removeSpeaker(node: string): Promise<void> {
    const b = this.backend;
    return b.call(() => {
      b.speakers.delete(node);
    });
  }

  listSpeakers(): Promise<LiveSpeaker[]> {
    return this.backend.call(() => this.backend.liveSpeakers());
  }

  // NodeStateStore

  async publishNodeStates(states: readonly NodeState[], opts: WriteOptions = {}): Promise<void> {
    const b = this.backend;
    opts.signal?.throwIfAborted();
    return b.call(() => {
      b.checkTerm(opts.term ?? 0);
      b.nodeStates = states.map((s) => ({ ...s }));
      b.raiseTerm(opts.term ?? 0);
    });
  }

  nodeStates(): Promise<ReadonlyMap<string, NodeState> | null> {
    const b = this.backend;
    return b.call(() => (b.nodeStates === null ? null : new Map(b.nodeStates.map((s) => [s.node, s]))));
  }

  // PoolStatusStore

  async publishPoolStatuses(statuses: readonly PoolStatus[], opts: WriteOptions = {}): Promise<void> {
    const b = this.backend;
    opts.signal?.throwIfAborted();
    return b.call(() => {
      b.checkTerm(opts.term ?? 0);
      b.poolStatuses = statuses.map((s) => ({ ...s }));
      b.raiseTerm(opts.term ?? 0);
    });
  }

  poolStatuses(): Promise<readonly PoolStatus[] | null> {
    const b = this.backend;
    return b.call(() => (b.poolStatuses === null ? null : b.poolStatuses.map((s) => ({ ...s }))));
  }

  // LeaseStore

  // Same rules as the Redis lease scripts, guard included: `heldLease` is what they read.

  acquireLease(req: LeaseRequest): Promise<LeaseGrant> {
    const b = this.backend;
    return b.call((): LeaseGrant => {
      if (req.incarnation !== undefined && req.incarnation !== b.incarnation) {
        throw new OtherIncarnationError(req.incarnation, b.incarnation);
      }
      const cur = b.heldLease(req.vip);
      if (cur) {
        if (cur.token === req.token) {
          b.hold(req.vip, cur, req.ttlMs);
          return { acquired: true, epoch: cur.epoch };
        }
        return {
          acquired: false,
          holder: cur.node,
          epoch: cur.epoch,
          remainingMs: Math.round(cur.expiresAt - b.now()),
        };
      }
      const epoch = Math.max((b.epochs.get(req.vip) ?? 0) + 1, (req.minEpoch ?? 0) + 1);
      b.epochs.set(req.vip, epoch);
      b.hold(req.vip, { node: req.node, token: req.token, epoch }, req.ttlMs);
      return { acquired: true, epoch };
    });
  }

  renewLease(vip: string, token: string, ttlMs: number): Promise<LeaseRenewal> {
    const b = this.backend;
    return b.call((): LeaseRenewal => {
      const cur = b.heldLease(vip);
      if (cur && cur.token === token) {
        b.hold(vip, cur, ttlMs);
        return { renewed: true, epoch: cur.epoch };
      }
      return { renewed: false, holder: cur?.node ?? null };
    });
  }

  releaseLease(vip: string, token: string): Promise<boolean> {
    const b = this.backend;
    return b.call(() => {
      const lease = b.liveLease(vip);
      if (lease) {
        if (lease.token !== token) return false;
        b.leases.delete(vip);
        b.guards.delete(vip);
        return true;
      }
      const guard = b.liveGuard(vip);
      if (guard?.token !== token) return false;
      b.guards.delete(vip);
      return guard.until > b.now();
    });
  }

  readLeases(vips: readonly string[]): Promise<LeaseInfo[]> {
    const b = this.backend;
    return b.call(() => {
      const now = b.now();
      const out: LeaseInfo[] = [];
      for (const vip of vips) {
        const l = b.heldLease(vip);
        if (l) out.push({ vip, holder: l.node, epoch: l.epoch, remainingMs: Math.round(l.expiresAt - now) });
      }
      return out;
    });
  }

  // StoreContinuity

  incarnation(): Promise<string> {
    return this.backend.call(() => this.backend.incarnation);
  }

  // ControllerFence

  controllerTerm(): Promise<number> {
    return this.backend.call(() => this.backend.controllerTerm);
  }

  onReconnect(listener: () => void): () => void {
    const detach = this.backend.onReconnect(listener);
    this.detachers.add(detach);
    return () => {
      detach();
      this.detachers.delete(detach);
    };
  }

  async close(): Promise<void> {
    for (const detach of this.detachers) detach();
    this.detachers.clear();
    await Promise.all([...this.followers].map((f) => f.close()));
  }
}
