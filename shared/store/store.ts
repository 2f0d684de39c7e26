/**
 * The cluster store: the one place the controller and every speaker meet. It holds the versioned
 * forwarding table, the registry of live speakers, the readiness of nodes and the VIP leases.
 * Two implementations keep the same contract: `RedisStore` (a cluster) and `MemoryStore` (one
 * process). The key layout and the protocol are in docs/store.md.
 */
import type { Problem } from '../errors.ts';
import type { ForwardingTable } from '../model.ts';

/** Default key prefix: every key and the channel start with it. */
export const DEFAULT_KEY_PREFIX = 'switchyard:';

/** Default `SubscribeOptions.resyncIntervalMs`. */
export const DEFAULT_RESYNC_INTERVAL_MS = 10_000;

/**
 * How a controller write is fenced. The store keeps the highest controller term it has accepted
 * (`P controller-term`) and refuses, atomically with the write, any write that carries a lower one;
 * a higher one raises it. Writers that are not controllers (tests, tools) leave `term` out, which is
 * term 0, the lowest: it never overrides a controller that wrote with a term.
 */
export interface WriteOptions {
  /** The writer's term; default 0. */
  readonly term?: number;
  /** Aborted when the writer's term has ended: a write not yet committed is abandoned (it throws). */
  readonly signal?: AbortSignal;
}

/** Options of a table publish. */
export interface PublishOptions extends WriteOptions {
  /** Write the whole table even where a delta would do (a new term, a reconnect). */
  readonly full?: boolean;
}

/**
 * A write refused because the store has accepted a higher controller term: the writer is no longer
 * the leader (or never was). Nothing of the write was applied.
 */
export class StaleTermError extends Error {
  readonly code = 'store.stale-term';
  /** The term the refused write carried. */
  readonly term: number;
  /** The highest term the store had accepted. */
  readonly storeTerm: number;
  constructor(term: number, storeTerm: number) {
    super(`the store refused a write with controller term ${term}: it has accepted term ${storeTerm}`);
    this.name = 'StaleTermError';
    this.term = term;
    this.storeTerm = storeTerm;
  }
}

/**
 * An acquire refused because the store is no longer the incarnation the request named (restarted,
 * failed over or wiped since the caller looked). Nothing was written.
 */
export class OtherIncarnationError extends Error {
  readonly code = 'store.other-incarnation';
  /** The incarnation the request named. */
  readonly expected: string;
  /** The store's incarnation now. */
  readonly incarnation: string;
  constructor(expected: string, incarnation: string) {
    super(`the store refused an acquire made on incarnation ${expected}: it is ${incarnation} now`);
    this.name = 'OtherIncarnationError';
    this.expected = expected;
    this.incarnation = incarnation;
  }
}

/** Whether `err` is a write the store refused for its term (a `StaleTermError`, from any store). */
export function isStaleTerm(err: unknown): err is StaleTermError {
  return err instanceof StaleTermError;
}

/** What a publish did. */
export interface PublishResult {
  /** The version the store gave this table (the input table's `version` is not used). */
  readonly version: number;
  /** Identity of the table's history; it changes only when the store lost the table (e.g. a wiped Redis). */
  readonly generation: string;
  readonly listeners: number;
  /** `full`: the whole table was rewritten; `delta`: only changed listeners were written. */
  readonly mode: 'full' | 'delta';
}

/** A table the store holds but that failed validation; the subscriber keeps its last good table. */
export interface TableRefusal {
  readonly generation: string;
  readonly version: number;
  readonly problems: readonly Problem[];
}

/** The result of reading the whole table once. */
export type TableLoad =
  /** Nothing was ever published (or the store lost it). */
  | { readonly state: 'absent' }
  | { readonly state: 'ok'; readonly generation: string; readonly table: ForwardingTable }
  | ({ readonly state: 'refused' } & TableRefusal);

/** Callbacks of a table subscription. */
export interface TableHandlers {
  /** A new good table; called for each version reached (versions that were skipped are not replayed). */
  onTable(table: ForwardingTable, generation: string): void;
  /** The store holds a table that does not validate; the last good table stays in use. */
  onRefused?(refusal: TableRefusal): void;
}

/** Counters a subscription keeps, for tests and `switchyard status`. */
export interface SubscriptionStats {
  /** Whole-table reads (start, reconnect, gap, full publish, resync). */
  readonly fullLoads: number;
  /** Announcements applied by reading only the listeners they name. */
  readonly deltaLoads: number;
  /** Tables refused because they did not validate. */
  readonly refusals: number;
  /**
   * Whole reads that found a table older than the one held (a lower version of the same generation,
   * written under no newer term) and kept the held one.
   */
  readonly olderRefused: number;
}

/** Options of `subscribeTable`. */
export interface SubscribeOptions {
  /**
   * How often to compare the store's version with the one held, catching an announcement that was
   * lost while the connection looked fine (pub/sub is at-most-once). Default 10 s; 0 turns it off.
   */
  readonly resyncIntervalMs?: number;
}

/** A live table subscription. */
export interface TableSubscription {
  /** Version of the last good table applied, or null before the first one. */
  readonly version: number | null;
  readonly stats: SubscriptionStats;
  /** Stop listening; no handler is called after this resolves. */
  close(): Promise<void>;
}

/** The forwarding-table half of the store. The controller publishes; speakers subscribe. */
export interface TableStore {
  /**
   * Write `table` as the next version and announce it. Listeners are serialised in slices that
   * yield to the event loop, so a large table does not stall the caller's process.
   */
  publishTable(table: ForwardingTable, opts?: PublishOptions): Promise<PublishResult>;
  /** Read and validate the whole table once. */
  loadTable(): Promise<TableLoad>;
  /** Load the table now, follow announcements, and reload it whole after a reconnect or a gap. */
  subscribeTable(handlers: TableHandlers, opts?: SubscribeOptions): TableSubscription;
}

/** One speaker as it registers itself. */
export interface SpeakerInfo {
  /** Kubernetes node name. */
  readonly node: string;
  /** The node address the speaker reports (its InternalIP). */
  readonly address: string;
  /** When the speaker process started, ISO 8601. */
  readonly startedAt: string;
  /** Switchyard version the speaker runs. */
  readonly version: string;
  /**
   * Where the speaker answers `GET /status` (`http://HOST:PORT/status`); absent when its metrics
   * endpoint is off, or from a speaker older than `switchyard status`.
   */
  readonly statusUrl?: string;
}

/** A registered speaker and how long its registration has left. */
export interface LiveSpeaker extends SpeakerInfo {
  readonly remainingMs: number;
}

/** Liveness of speakers: heartbeat keys with a TTL, renewed by each speaker. */
export interface SpeakerRegistry {
  /** Register or renew `speaker` for `ttlMs`. */
  heartbeat(speaker: SpeakerInfo, ttlMs: number): Promise<void>;
  /** Remove a speaker's registration at once (clean shutdown). */
  removeSpeaker(node: string): Promise<void>;
  /** Speakers whose heartbeat has not expired, by node name. */
  listSpeakers(): Promise<LiveSpeaker[]>;
}

/** Whether a node may own VIPs, as the controller sees it in Kubernetes. */
export interface NodeState {
  readonly node: string;
  /** The node's Ready condition is True. */
  readonly ready: boolean;
  /** The node carries `node.kubernetes.io/exclude-from-external-load-balancers`. */
  readonly excludeFromExternalLB: boolean;
}

/** Node readiness published by the controller, because speakers have no Kubernetes credentials. */
export interface NodeStateStore {
  /** Replace the whole set of node states at once. */
  publishNodeStates(states: readonly NodeState[], opts?: WriteOptions): Promise<void>;
  /** The published node states by name, or null when the controller never published any. */
  nodeStates(): Promise<ReadonlyMap<string, NodeState> | null>;
}

/** Address counts of one IP pool, as the controller last computed them (the pool's status). */
export interface PoolStatus {
  readonly name: string;
  readonly assignedIPv4: number;
  readonly availableIPv4: number;
  readonly assignedIPv6: number;
  readonly availableIPv6: number;
}

/** Pool statuses published by the controller, so `switchyard status` can show them without Kubernetes. */
export interface PoolStatusStore {
  /** Replace the whole set of pool statuses at once. */
  publishPoolStatuses(statuses: readonly PoolStatus[], opts?: WriteOptions): Promise<void>;
  /** The published pool statuses, or null when none were published (or the key is unreadable). */
  poolStatuses(): Promise<readonly PoolStatus[] | null>;
}

/** A request to take the lease of one VIP. */
export interface LeaseRequest {
  readonly vip: string;
  readonly node: string;
  /** Random per acquisition; renew and release must present it. */
  readonly token: string;
  readonly ttlMs: number;
  /**
   * The highest epoch the caller has seen for this VIP; the new epoch is above it even if the store
   * lost its epoch counter (a Redis restarted without persistence).
   */
  readonly minEpoch?: number;
  /**
   * The store incarnation (`StoreContinuity`) the caller decided on. When given and the store's is
   * another, nothing is written: ioredis resends a request that was queued or in flight when the
   * connection dropped, and such a request must not take a lease from a store that has forgotten
   * the live holder since.
   */
  readonly incarnation?: string;
}

/**
 * Outcome of an acquire: granted with a new epoch, or held by someone else. A request naming another
 * incarnation than the store's rejects with an `OtherIncarnationError` instead.
 */
export type LeaseGrant =
  | { readonly acquired: true; readonly epoch: number }
  | {
      readonly acquired: false;
      readonly holder: string;
      readonly epoch: number;
      readonly remainingMs: number;
    };

/** Outcome of a renew: extended, or no longer ours (`holder` null when the lease is free). */
export type LeaseRenewal =
  | { readonly renewed: true; readonly epoch: number }
  | { readonly renewed: false; readonly holder: string | null };

/** A lease as seen by an observer. */
export interface LeaseInfo {
  readonly vip: string;
  readonly holder: string;
  readonly epoch: number;
  readonly remainingMs: number;
}

/**
 * VIP leases: atomic acquire, compare-and-extend renew, compare-and-delete release. A lease whose
 * key is lost while its holder still renews (deleted by hand, evicted) is not free: the store keeps
 * a guard copy of holder, token and expiry, refuses the lease to others until that expiry, and the
 * holder's next renew restores it.
 */
export interface LeaseStore {
  /** Take the lease if it is free or expired; the epoch increases with every grant. */
  acquireLease(req: LeaseRequest): Promise<LeaseGrant>;
  /** Extend the lease by `ttlMs` only if `token` still holds it. */
  renewLease(vip: string, token: string, ttlMs: number): Promise<LeaseRenewal>;
  /** Delete the lease only if `token` still holds it; true when it did. */
  releaseLease(vip: string, token: string): Promise<boolean>;
  /** Current holders of `vips` (free VIPs are left out). */
  readLeases(vips: readonly string[]): Promise<LeaseInfo[]>;
}

/**
 * Whether the store still remembers what it was told. Leases and registrations are only as good as
 * the memory holding them: a Redis restarted without persistence, a failover to a replica that
 * missed writes, or a wipe loses them silently (ioredis replays queued commands, so no request
 * fails). Speakers compare the incarnation on every tick and, when it changes, let a full lease TTL
 * pass before taking any VIP they did not hold (docs/store.md, docs/cluster.md).
 */
export interface StoreContinuity {
  /**
   * An identity of the store's memory that changes whenever writes may have been lost: for Redis,
   * the server's `run_id` and a marker key created when missing. Creates the marker if it is gone.
   */
  incarnation(): Promise<string>;
}

/**
 * What fences the controller's writes: the highest term accepted, and a signal after every reconnect
 * (a leader then writes everything again, since the server may have lost or rolled back writes).
 */
export interface ControllerFence {
  /** The highest controller term the store has accepted; 0 when none (new or wiped store). */
  controllerTerm(): Promise<number>;
  /**
   * Call `listener` after every reconnect of this client's command connection (not on the first
   * connect). Returns the unsubscribe.
   */
  onReconnect(listener: () => void): () => void;
}

/** The whole store. */
export interface Store
  extends TableStore,
    SpeakerRegistry,
    NodeStateStore,
    PoolStatusStore,
    LeaseStore,
    StoreContinuity,
    ControllerFence {
  /** `redis` or `memory`, for logs and status. */
  readonly kind: 'redis' | 'memory';
  /** Where it points, safe to log (passwords redacted). */
  readonly target: string;
  /** Close connections and timers; pending subscriptions stop. */
  close(): Promise<void>;
}
