/**
 * The holder side of VIP leases, with fencing. Each held lease carries a deadline on this process's
 * MONOTONIC clock: the time just before the acquire or the last successful renew was sent, plus the
 * TTL, minus a safety margin. Redis started the TTL after receiving that request, so the deadline is
 * always earlier than the expiry Redis enforces: once it passes, `ownsNow()` is false whether or not
 * a reply ever came, and `onLost` fires. A process that was paused (SIGSTOP, a long GC, a stalled VM)
 * finds the deadline passed the moment it runs again, before any reply can extend it, because a
 * reply is applied only after its lease's deadline is checked.
 */
import { randomUUID } from 'node:crypto';
import type { Problem } from '../../shared/errors.ts';
import { type Logger, silentLogger } from '../../shared/log.ts';
import { type LeaseStore, OtherIncarnationError } from '../../shared/store/store.ts';

/** Lease timing in milliseconds. */
export interface LeaseTiming {
  /** Lease lifetime granted by the store on each acquire or renew. */
  readonly ttlMs: number;
  /** How often held leases are renewed. */
  readonly renewMs: number;
  /** Subtracted from the TTL for the local deadline: covers clock-rate drift and timer lateness. */
  readonly marginMs: number;
}

/**
 * Defaults: 1.5 s TTL renewed every 250 ms, so four renewals may fail before the 150 ms-early fence.
 * The TTL is the failover time (a dead holder's lease runs out 1.25–1.5 s after its death); it is
 * as short as a whole second of VIP address lifetime allows (`addressLifetimeS`).
 */
export const LEASE_DEFAULTS: LeaseTiming = { ttlMs: 1500, renewMs: 250, marginMs: 150 };

/** Problems with a lease timing: renewals must fit at least twice inside the fenced lifetime. */
export function leaseTimingProblems(t: LeaseTiming): Problem[] {
  const out: Problem[] = [];
  const add = (field: string, value: number, message: string): void => {
    out.push({ code: 'lease.invalid-timing', object: 'lease timing', field, value: String(value), message });
  };
  if (!(t.ttlMs >= 100)) add('ttlMs', t.ttlMs, 'must be at least 100 ms');
  if (!(t.marginMs >= 0 && t.marginMs < t.ttlMs / 2))
    add('marginMs', t.marginMs, 'must be >= 0 and below half the TTL');
  if (!(t.renewMs > 0 && t.renewMs * 2 <= t.ttlMs - t.marginMs)) {
    add(
      'renewMs',
      t.renewMs,
      'must be > 0 and at most half of (TTL - margin), so one lost renewal is survived',
    );
  }
  return out;
}

/**
 * How late, at most, the kernel removes an address after its lifetime ends, plus the time an
 * `ip -batch` line takes to run: 8–35 ms measured (docs/cluster.md), rounded up.
 */
export const KERNEL_REMOVAL_SLACK_MS = 100;

/**
 * The kernel lifetime of a VIP address, in whole seconds, for a lease timing; 0 when the timing
 * leaves no room for one. The speaker renews the lifetime between its lease renewals, so when the
 * process dies or freezes its last lifetime renewal is at most one renew interval after its last
 * lease renewal. The address must be gone before the store can expire that lease (its TTL after the
 * renewal was sent, less the drift margin): lifetime + one renew interval + slack ≤ TTL − margin.
 * Defaults: 1.5 s TTL, 250 ms renew, 150 ms margin → 1 s.
 */
export function addressLifetimeS(t: LeaseTiming): number {
  return Math.max(0, Math.floor((t.ttlMs - t.marginMs - t.renewMs - KERNEL_REMOVAL_SLACK_MS) / 1000));
}

/** Why a lease stopped being held. */
export type LeaseLossReason =
  /** The local deadline passed without a successful renew (the store did not answer in time). */
  | 'deadline'
  /** The store answered that this token no longer holds the lease. */
  | 'refused'
  /** This process released it. */
  | 'released';

/** A lease that stopped being held. */
export interface LeaseLoss {
  readonly vip: string;
  readonly epoch: number;
  readonly reason: LeaseLossReason;
  /** For `refused`: the node holding it now, or null when it is free. */
  readonly holder?: string | null;
}

/** What an acquire attempt came to. */
export type AcquireOutcome =
  | { readonly kind: 'gained'; readonly epoch: number }
  /** This process holds it already. */
  | { readonly kind: 'already'; readonly epoch: number }
  /** Another node holds it. */
  | { readonly kind: 'held'; readonly holder: string; readonly epoch: number; readonly remainingMs: number }
  /** Granted, but the reply arrived after the deadline it would have had; released again. */
  | { readonly kind: 'late' }
  /** Another operation on this VIP is still waiting for the store. */
  | { readonly kind: 'busy' }
  /** The store did not answer. */
  | { readonly kind: 'unreachable'; readonly err: unknown }
  /** The store is not the incarnation the acquire named (restarted, failed over, wiped): nothing taken. */
  | { readonly kind: 'other-store'; readonly incarnation: string };

/** One lease this process holds. */
interface Held {
  readonly vip: string;
  readonly token: string;
  epoch: number;
  /** Monotonic ms after which the lease must be treated as lost. */
  deadline: number;
}

/** Options of `VipLeases`. */
export interface VipLeasesOptions {
  readonly store: LeaseStore;
  /** This node's name, recorded as the holder. */
  readonly node: string;
  readonly timing?: Partial<LeaseTiming>;
  /** Called once per lease that stops being held, on the tick it is detected. */
  readonly onLost: (loss: LeaseLoss) => void;
  /** Monotonic clock in ms; `performance.now` by default. Never the wall clock. */
  readonly now?: () => number;
  readonly logger?: Logger;
}

/** The leases one speaker holds, fenced by monotonic deadlines. */
export class VipLeases {
  readonly timing: LeaseTiming;
  private readonly store: LeaseStore;
  private readonly node: string;
  private readonly onLost: (loss: LeaseLoss) => void;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly held = new Map<string, Held>();
  private readonly inFlight = new Set<string>();
  /** Highest epoch seen per VIP, so a new grant stays above it even if the store lost its counter. */
  private readonly seenEpoch = new Map<string, number>();
  /**
   * Token of an acquire whose reply never came, per VIP. The next attempt presents it again: a store
   * that was frozen (SIGSTOP, a stalled VM) runs every request queued on the connection once it
   * wakes, so the first of them may grant the lease to a reply nobody waits for. With the same token
   * the later attempt finds the lease extended for it, instead of held by "someone else" that is in
   * fact this node.
   */
  private readonly unanswered = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(opts: VipLeasesOptions) {
    this.timing = { ...LEASE_DEFAULTS, ...opts.timing };
    const problems = leaseTimingProblems(this.timing);
    if (problems.length > 0)
      throw new Error(`invalid lease timing: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`);
    this.store = opts.store;
    this.node = opts.node;
    this.onLost = opts.onLost;
    this.now = opts.now ?? (() => performance.now());
    this.log = opts.logger ?? silentLogger();
  }

  /** True only while this process holds `vip` and its fenced deadline has not passed. */
  ownsNow(vip: string): boolean {
    const h = this.held.get(vip);
    return h !== undefined && this.now() < h.deadline;
  }

  /** Whether this process may announce `vip` (gratuitous ARP) right now: the fence. */
  canAnnounce(vip: string): boolean {
    return this.ownsNow(vip);
  }

  /** Epoch of a held lease. */
  epochOf(vip: string): number | undefined {
    return this.held.get(vip)?.epoch;
  }

  /** VIPs held now (deadlines checked first). */
  heldVips(): string[] {
    this.checkDeadlines();
    return [...this.held.keys()];
  }

  /** Monotonic ms left before the fence of `vip` closes, or 0 when not held. */
  remainingMs(vip: string): number {
    const h = this.held.get(vip);
    return h ? Math.max(0, h.deadline - this.now()) : 0;
  }

  /** Lose every lease whose deadline has passed; returns how many were lost. */
  checkDeadlines(): number {
    const now = this.now();
    let lost = 0;
    for (const h of [...this.held.values()]) {
      if (now >= h.deadline) {
        this.lose(h, 'deadline', undefined);
        lost++;
      }
    }
    this.arm();
    return lost;
  }

  /**
   * Try to take `vip` (only succeeds if the lease is free or expired). With `incarnation`, only from
   * that incarnation of the store: the decision to take was made on what it remembered.
   */
  async acquire(vip: string, incarnation?: string): Promise<AcquireOutcome> {
    this.checkDeadlines();
    const cur = this.held.get(vip);
    if (cur) return { kind: 'already', epoch: cur.epoch };
    if (this.inFlight.has(vip) || this.closed) return { kind: 'busy' };
    const token = this.unanswered.get(vip) ?? randomUUID();
    // Measured before sending: the store starts the TTL later than this, never earlier.
    const basis = this.now();
    this.inFlight.add(vip);
    let grant: Awaited<ReturnType<LeaseStore['acquireLease']>>;
    try {
      grant = await this.store.acquireLease({
        vip,
        node: this.node,
        token,
        ttlMs: this.timing.ttlMs,
        minEpoch: this.seenEpoch.get(vip) ?? 0,
        ...(incarnation !== undefined ? { incarnation } : {}),
      });
    } catch (err) {
      // Answered and refused: nothing was written, so the token can go.
      if (err instanceof OtherIncarnationError) {
        this.unanswered.delete(vip);
        return { kind: 'other-store', incarnation: err.incarnation };
      }
      this.unanswered.set(vip, token);
      return { kind: 'unreachable', err };
    } finally {
      this.inFlight.delete(vip);
    }
    // Answered: every earlier request with this token ran before this one on the same connection.
    this.unanswered.delete(vip);
    this.noteEpoch(vip, grant.epoch);
    if (!grant.acquired) {
      return { kind: 'held', holder: grant.holder, epoch: grant.epoch, remainingMs: grant.remainingMs };
    }
    const deadline = basis + this.timing.ttlMs - this.timing.marginMs;
    if (this.closed || this.now() >= deadline) {
      this.store.releaseLease(vip, token).catch(() => undefined);
      return { kind: 'late' };
    }
    this.held.set(vip, { vip, token, epoch: grant.epoch, deadline });
    this.arm();
    this.log.debug({ event: 'lease-acquired', vip, epoch: grant.epoch }, 'acquired VIP lease');
    return { kind: 'gained', epoch: grant.epoch };
  }

  /** Send a renew for every held lease that has none in flight; resolves when all replied or failed. */
  async renewAll(): Promise<void> {
    this.checkDeadlines();
    const pending: Promise<void>[] = [];
    for (const h of this.held.values()) if (!this.inFlight.has(h.vip)) pending.push(this.renew(h));
    await Promise.all(pending);
  }

  private async renew(h: Held): Promise<void> {
    const basis = this.now();
    this.inFlight.add(h.vip);
    let reply: Awaited<ReturnType<LeaseStore['renewLease']>>;
    try {
      reply = await this.store.renewLease(h.vip, h.token, this.timing.ttlMs);
    } catch (err) {
      // No answer: nothing changes; the deadline decides.
      this.log.debug({ event: 'lease-renew-failed', vip: h.vip, err }, 'could not renew VIP lease');
      return;
    } finally {
      this.inFlight.delete(h.vip);
    }
    if (this.held.get(h.vip) !== h) return; // lost or released meanwhile; a late reply changes nothing
    // The fence first: a reply that arrives after the deadline must not resurrect the lease.
    if (this.now() >= h.deadline) {
      this.lose(h, 'deadline', undefined);
      this.arm();
      return;
    }
    if (reply.renewed) {
      h.deadline = Math.max(h.deadline, basis + this.timing.ttlMs - this.timing.marginMs);
      h.epoch = reply.epoch;
      this.arm();
    } else {
      this.lose(h, 'refused', reply.holder);
      this.arm();
    }
  }

  /** Give `vip` up (compare-and-delete in the store). `onLost` fires with reason `released`. */
  async release(vip: string): Promise<void> {
    const h = this.held.get(vip);
    if (!h) return;
    this.lose(h, 'released', undefined);
    this.arm();
    try {
      await this.store.releaseLease(vip, h.token);
    } catch (err) {
      // Unreachable store: the lease simply expires at its TTL.
      this.log.debug(
        { event: 'lease-release-failed', vip, err },
        'could not release VIP lease; it will expire',
      );
    }
  }

  /**
   * Stop: release every lease (compare-and-delete), or with `release: false` leave them to expire at
   * their TTL, as after a crash. Either way nothing is held afterwards and no timer is left.
   */
  async close(opts: { release?: boolean } = {}): Promise<void> {
    this.closed = true;
    if (opts.release === false) this.held.clear();
    await Promise.all([...this.held.keys()].map((vip) => this.release(vip)));
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private lose(h: Held, reason: LeaseLossReason, holder: string | null | undefined): void {
    this.held.delete(h.vip);
    if (reason === 'deadline') {
      // Free it early if the store is merely slow; harmless if it already expired or is gone.
      this.store.releaseLease(h.vip, h.token).catch(() => undefined);
    }
    this.log.debug({ event: 'lease-lost', vip: h.vip, epoch: h.epoch, reason }, 'VIP lease no longer held');
    try {
      this.onLost(
        holder === undefined
          ? { vip: h.vip, epoch: h.epoch, reason }
          : { vip: h.vip, epoch: h.epoch, reason, holder },
      );
    } catch (err) {
      this.log.error({ event: 'lease-handler-failed', vip: h.vip, err }, 'the lease-loss handler threw');
    }
  }

  private noteEpoch(vip: string, epoch: number): void {
    if (epoch > (this.seenEpoch.get(vip) ?? 0)) this.seenEpoch.set(vip, epoch);
  }

  /** One timer, at the earliest deadline: a lost lease is reported even when no tick or reply comes. */
  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.closed || this.held.size === 0) return;
    let earliest = Number.POSITIVE_INFINITY;
    for (const h of this.held.values()) earliest = Math.min(earliest, h.deadline);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.checkDeadlines();
      },
      Math.max(0, Math.ceil(earliest - this.now())),
    );
    this.timer.unref();
  }
}
