/**
 * Leader election over a Lease, as client-go's leaderelection package does it, so that of several
 * controller replicas exactly one allocates IPs and publishes the table:
 * - a candidate reads the Lease every retry period (jittered); it takes the Lease when it has no
 *   holder, or when the record has not changed for the lease duration as measured on the
 *   candidate's own clock (so clocks need not agree), writing with the resourceVersion it read: a
 *   409 means another candidate won the race;
 * - the leader renews every retry period, and steps down when no renewal has succeeded within the
 *   renew deadline. Because renew deadline < lease duration, the old leader has stopped before any
 *   candidate can consider the Lease expired: never two leaders at once.
 * Both measurements use a monotonic clock, so a step of the wall clock (NTP, a VM resumed) can
 * neither expire a live Lease early nor keep a dead one; only `acquireTime`/`renewTime`, which people
 * read, are wall-clock times. Every leadership increments `leaseTransitions` (also when a replica
 * takes back a Lease still naming it), which makes it the leader's term: a number no earlier leader
 * held.
 * The Lease itself is behind `LeaseStore`, so this logic is plain code; `sources/kube/lease.ts` is the
 * Kubernetes implementation.
 */
import type { Problem } from '../../shared/errors.ts';
import { UserError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';

/** The `spec` of a coordination.k8s.io/v1 Lease, as leader election uses it. */
export interface LeaseRecord {
  /** Empty when released. */
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: Date | null;
  readonly renewTime: Date | null;
  readonly leaseTransitions: number;
}

/** A Lease as read: the record and the resourceVersion to write against. */
export interface StoredLease {
  readonly record: LeaseRecord;
  readonly version: string;
}

/** Reading the Lease: it (or null when it does not exist), or why it could not be read. */
export type LeaseRead =
  | { readonly ok: true; readonly lease: StoredLease | null }
  | { readonly ok: false; readonly message: string };

/** Writing the Lease: the new resourceVersion, or a lost race (`conflict`) or other failure. */
export type LeaseWrite =
  | { readonly ok: true; readonly version: string }
  | { readonly ok: false; readonly conflict: boolean; readonly message: string };

/** Where the Lease lives; writes are conditional on `version` (optimistic concurrency). */
export interface LeaseStore {
  /** `namespace/name`, for logs. */
  readonly description: string;
  read(): Promise<LeaseRead>;
  create(record: LeaseRecord): Promise<LeaseWrite>;
  update(record: LeaseRecord, version: string): Promise<LeaseWrite>;
}

/** The three durations of leader election. */
export interface LeaderElectionTiming {
  /** How long a Lease stays valid after its last change, as seen by a candidate. */
  readonly leaseDurationMs: number;
  /** A leader that has not renewed within this long steps down. */
  readonly renewDeadlineMs: number;
  /** Time between attempts to acquire or renew. */
  readonly retryPeriodMs: number;
}

/** client-go's defaults (and kube-controller-manager's): 15 s, 10 s, 2 s. */
export const DEFAULT_LEADER_ELECTION_TIMING: LeaderElectionTiming = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

/** client-go's JitterFactor: a candidate waits retryPeriod × (1 + up to 1.2) between tries. */
const JITTER_FACTOR = 1.2;

/** The problems with a timing, as client-go checks them; empty when it is usable. */
export function checkLeaderElectionTiming(t: LeaderElectionTiming): Problem[] {
  const problems: Problem[] = [];
  const p = (field: string, value: number, message: string) =>
    problems.push({
      code: 'leader-election.invalid-timing',
      object: 'leader election',
      field,
      value: String(value),
      message,
    });
  if (!(t.retryPeriodMs > 0)) p('retryPeriod', t.retryPeriodMs, 'must be more than 0');
  if (!(t.renewDeadlineMs > JITTER_FACTOR * t.retryPeriodMs)) {
    p(
      'renewDeadline',
      t.renewDeadlineMs,
      `must be more than ${JITTER_FACTOR} × retryPeriod (${t.retryPeriodMs} ms)`,
    );
  }
  if (!(t.leaseDurationMs > t.renewDeadlineMs)) {
    p('leaseDuration', t.leaseDurationMs, `must be more than renewDeadline (${t.renewDeadlineMs} ms)`);
  }
  return problems;
}

/** Options of an elector. */
export interface LeaderElectorOptions extends Partial<LeaderElectionTiming> {
  /** Unique per replica: pod name plus a random suffix, as client-go recommends. */
  readonly identity: string;
  readonly store: LeaseStore;
  readonly logger: Logger;
  /**
   * Now leader; `signal` aborts when leadership ends; `term` is the Lease's `leaseTransitions` as
   * this replica wrote it on acquiring, higher than any earlier leader's. Must not block.
   */
  readonly onStartedLeading: (signal: AbortSignal, term: number) => void;
  /** No longer leader (lost, deadline passed, or stopped). */
  readonly onStoppedLeading: () => void;
  /** The observed holder changed (empty string: released). */
  readonly onNewLeader?: (identity: string) => void;
  /** On stop, hand the Lease back so a successor need not wait for it to expire. */
  readonly releaseOnStop?: boolean;
  /**
   * The lowest `leaseTransitions` a new leadership may take, asked before each acquisition, e.g. one
   * above the highest term the controller's store accepted: a Lease deleted and created again starts
   * counting from 0, and its new leader must still write under a term the store takes. A rejection
   * fails that attempt (it is tried again next retry period).
   */
  readonly minTerm?: () => Promise<number>;
  /** Monotonic clock in ms for every duration and deadline; `performance.now` by default. */
  readonly now?: () => number;
  /** Wall clock in ms for the Lease's `acquireTime` and `renewTime`; `Date.now` by default. */
  readonly wallClock?: () => number;
}

function recordKey(r: LeaseRecord): string {
  return JSON.stringify([
    r.holderIdentity,
    r.leaseDurationSeconds,
    r.acquireTime?.getTime(),
    r.renewTime?.getTime(),
    r.leaseTransitions,
  ]);
}

/** One replica's participation in leader election. */
export class LeaderElector {
  readonly #opts: LeaderElectorOptions;
  readonly #timing: LeaderElectionTiming;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #wall: () => number;
  #running = false;
  #loop: Promise<void> = Promise.resolve();
  #wake: (() => void) | null = null;
  #leading: AbortController | null = null;
  #deadline: NodeJS.Timeout | undefined;
  #observedKey = '';
  #observedAt = 0;
  #observedHolder = '';
  #version = '';
  #record: LeaseRecord | null = null;

  constructor(opts: LeaderElectorOptions) {
    this.#timing = {
      leaseDurationMs: opts.leaseDurationMs ?? DEFAULT_LEADER_ELECTION_TIMING.leaseDurationMs,
      renewDeadlineMs: opts.renewDeadlineMs ?? DEFAULT_LEADER_ELECTION_TIMING.renewDeadlineMs,
      retryPeriodMs: opts.retryPeriodMs ?? DEFAULT_LEADER_ELECTION_TIMING.retryPeriodMs,
    };
    const problems = checkLeaderElectionTiming(this.#timing);
    if (problems.length > 0) throw new UserError(problems);
    this.#opts = opts;
    this.#log = opts.logger.child({
      component: 'leader-election',
      lease: opts.store.description,
      identity: opts.identity,
    });
    this.#now = opts.now ?? (() => performance.now());
    this.#wall = opts.wallClock ?? Date.now;
  }

  /** True between onStartedLeading and onStoppedLeading. */
  get isLeader(): boolean {
    return this.#leading !== null;
  }

  /** The holder last seen on the Lease (empty when none or released). */
  get observedLeader(): string {
    return this.#observedHolder;
  }

  /** Begin campaigning (and, once elected, renewing). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run().catch((err: unknown) => {
      // Only a bug lands here: the store reports failures as values.
      this.#log.error({ event: 'leader.loop-failed', err }, 'leader election loop failed');
      this.#stepDown('loop failed');
    });
  }

  /**
   * Stop leading now and keep campaigning: the next acquisition, even of a Lease still naming this
   * replica, starts a new term. For a leader whose writes the store refused for their term.
   */
  abdicate(reason: string): void {
    this.#stepDown(reason);
  }

  /** Stop campaigning; a leader steps down first, then (with releaseOnStop) releases the Lease. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    const wasLeader = this.isLeader;
    this.#stepDown('stopped');
    if (wasLeader && this.#opts.releaseOnStop && this.#record) await this.#release(this.#record);
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const attemptAt = this.#now();
      const held = await this.#tryAcquireOrRenew();
      if (!this.#running) return;
      // A success that took longer than the deadline is too late to count, as in client-go. A
      // renewal that lands after this replica stepped down meanwhile is no new term: leading starts
      // again only from an acquisition, on the next round.
      if (
        held &&
        this.#now() - attemptAt < this.#timing.renewDeadlineMs &&
        (this.isLeader || held === 'acquired')
      ) {
        this.#armDeadline(attemptAt);
        if (!this.isLeader) this.#startLeading();
      } else if (this.isLeader && this.#observedHolder !== this.#opts.identity) {
        this.#stepDown(`lease taken by ${JSON.stringify(this.#observedHolder)}`);
      }
      const period = this.#timing.retryPeriodMs;
      await this.#sleep(this.isLeader ? period : period * (1 + Math.random() * JITTER_FACTOR));
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  #armDeadline(attemptAt: number): void {
    clearTimeout(this.#deadline);
    const left = attemptAt + this.#timing.renewDeadlineMs - this.#now();
    this.#deadline = setTimeout(() => this.#stepDown('renew deadline passed'), Math.max(0, left));
  }

  #startLeading(): void {
    const ctl = new AbortController();
    this.#leading = ctl;
    const term = this.#record?.leaseTransitions ?? 0;
    this.#log.info({ event: 'leader.started', term }, 'became leader');
    try {
      this.#opts.onStartedLeading(ctl.signal, term);
    } catch (err) {
      this.#log.error({ event: 'leader.callback-failed', err }, 'onStartedLeading threw');
    }
  }

  #stepDown(reason: string): void {
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
    const ctl = this.#leading;
    if (!ctl) return;
    this.#leading = null;
    this.#log.info({ event: 'leader.stopped', reason }, 'stopped leading');
    ctl.abort();
    try {
      this.#opts.onStoppedLeading();
    } catch (err) {
      this.#log.error({ event: 'leader.callback-failed', err }, 'onStoppedLeading threw');
    }
  }

  #observe(record: LeaseRecord, version: string, at: number): void {
    const key = recordKey(record);
    if (key !== this.#observedKey) {
      this.#observedKey = key;
      this.#observedAt = at;
    }
    this.#record = record;
    this.#version = version;
    if (record.holderIdentity !== this.#observedHolder) {
      this.#observedHolder = record.holderIdentity;
      this.#log.debug({ event: 'leader.observed', holder: record.holderIdentity }, 'lease holder changed');
      try {
        this.#opts.onNewLeader?.(record.holderIdentity);
      } catch (err) {
        this.#log.error({ event: 'leader.callback-failed', err }, 'onNewLeader threw');
      }
    }
  }

  /** One round of client-go's tryAcquireOrRenew: how we hold the Lease afterwards, or false. */
  async #tryAcquireOrRenew(): Promise<'acquired' | 'renewed' | false> {
    const me = this.#opts.identity;
    const seconds = Math.max(1, Math.ceil(this.#timing.leaseDurationMs / 1000));
    const read = await this.#opts.store.read();
    const now = this.#now();
    if (!read.ok) {
      this.#log.debug({ event: 'leader.read-failed', reason: read.message }, 'could not read the lease');
      return false;
    }
    if (!read.lease) {
      const term = await this.#minTerm(0);
      if (term === null) return false;
      const wall = new Date(this.#wall());
      const record: LeaseRecord = {
        holderIdentity: me,
        leaseDurationSeconds: seconds,
        acquireTime: wall,
        renewTime: wall,
        leaseTransitions: term,
      };
      return (await this.#write(record, null, now)) && 'acquired';
    }
    const { record: old, version } = read.lease;
    this.#observe(old, version, now);
    const mine = old.holderIdentity === me;
    const validMs =
      old.leaseDurationSeconds > 0 ? old.leaseDurationSeconds * 1000 : this.#timing.leaseDurationMs;
    if (old.holderIdentity !== '' && !mine && this.#observedAt + validMs > now) return false;
    const wall = new Date(this.#wall());
    // Only a leader renews; anything else (a takeover, or taking back a Lease still naming this
    // replica after stepping down) is a new term, which no earlier leadership held.
    const renewing = mine && this.isLeader;
    const term = renewing ? old.leaseTransitions : await this.#minTerm(old.leaseTransitions + 1);
    if (term === null) return false;
    const record: LeaseRecord = {
      holderIdentity: me,
      leaseDurationSeconds: seconds,
      acquireTime: renewing ? old.acquireTime : wall,
      renewTime: wall,
      leaseTransitions: term,
    };
    return (await this.#write(record, version, now)) && (renewing ? 'renewed' : 'acquired');
  }

  /** The term a new leadership takes: at least `next`, and at least `minTerm()`; null when that failed. */
  async #minTerm(next: number): Promise<number | null> {
    if (!this.#opts.minTerm) return next;
    try {
      return Math.max(next, await this.#opts.minTerm());
    } catch (err) {
      this.#log.warn(
        { event: 'leader.term-unknown', err },
        'could not learn the lowest term a new leadership may take; not acquiring this round',
      );
      return null;
    }
  }

  async #write(record: LeaseRecord, version: string | null, now: number): Promise<boolean> {
    const w =
      version === null
        ? await this.#opts.store.create(record)
        : await this.#opts.store.update(record, version);
    if (!w.ok) {
      const event = w.conflict ? 'leader.race-lost' : 'leader.write-failed';
      this.#log.debug({ event, reason: w.message }, 'could not write the lease');
      return false;
    }
    this.#observe(record, w.version, now);
    return true;
  }

  async #release(held: LeaseRecord): Promise<void> {
    const now = new Date(this.#wall());
    const w = await this.#opts.store.update(
      {
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: held.leaseTransitions,
      },
      this.#version,
    );
    if (w.ok) this.#log.info({ event: 'leader.released' }, 'released the lease');
    else this.#log.warn({ event: 'leader.release-failed', reason: w.message }, 'could not release the lease');
  }
}
