/**
 * Fast takeover of a VIP whose holder stopped renewing (a crashed speaker, a node cut off from the
 * store). Without it the successor notices on its next tick, up to one renew interval after the
 * lease ran out, and only once the holder's heartbeat has expired too. With it, the node that would
 * be preferred without the holder reads the lease's remaining TTL on every tick and arms a timer for
 * the moment it will expire; every read re-arms it, so while the holder renews the timer keeps
 * moving out and never fires. When the holder stops, the timer armed by the last read fires at the
 * expiry, however late the next tick is. A live holder loses nothing: its lease is never taken,
 * only a lapsed one.
 *
 * The planning is pure (data in, data out); `TakeoverWatch` does the reading and the timers for the
 * ownership loop.
 */
import type { Logger } from '../../shared/log.ts';
import type { LeaseInfo, LeaseStore } from '../../shared/store/store.ts';
import type { AcquireOutcome, LeaseTiming } from './lease.ts';
import { preferredOwner } from './rendezvous.ts';

/** Added to the remaining TTL so the attempt lands after the store dropped the lease, not before. */
export const TAKEOVER_SLACK_MS = 5;

/** A planned attempt to take over a VIP once its lease runs out. */
export interface TakeoverPlan {
  readonly vip: string;
  /** The node whose lease is running out. */
  readonly holder: string;
  /** When to try, in ms from when the leases were read. */
  readonly inMs: number;
}

/** The node that should take `vip` over when `holder` lets its lease lapse. */
export function successorOf(vip: string, holder: string, eligible: readonly string[]): string | undefined {
  return preferredOwner(
    vip,
    eligible.filter((n) => n !== holder),
  );
}

/**
 * VIPs whose leases `self` should watch: those it does not hold and for which it is the first or
 * second choice among `eligible` (the successor of the usual holder, or the preferred owner waiting
 * for someone else's lease to end). Every other node leaves them alone, so a cluster reads each
 * lease about twice per tick.
 */
export function watchedVips(
  vips: Iterable<string>,
  eligible: readonly string[],
  self: string,
  held: ReadonlySet<string>,
): string[] {
  const out: string[] = [];
  for (const vip of vips) {
    if (held.has(vip)) continue;
    const first = preferredOwner(vip, eligible);
    if (first === undefined) continue;
    if (first === self || successorOf(vip, first, eligible) === self) out.push(vip);
  }
  return out;
}

/** Takeovers to arm: leases held by another node whose successor among `eligible` is `self`. */
export function takeoverPlans(
  leases: readonly LeaseInfo[],
  eligible: readonly string[],
  self: string,
): TakeoverPlan[] {
  const out: TakeoverPlan[] = [];
  for (const l of leases) {
    if (l.holder === self) continue;
    if (successorOf(l.vip, l.holder, eligible) !== self) continue;
    out.push({ vip: l.vip, holder: l.holder, inMs: Math.max(0, l.remainingMs) + TAKEOVER_SLACK_MS });
  }
  return out;
}

/** Attempts per armed takeover: the first lands just after the expiry the store reported. */
const TAKEOVER_ATTEMPTS = 3;

/** What the takeover watch needs from the ownership loop. */
export interface TakeoverHost {
  readonly store: Pick<LeaseStore, 'readLeases'>;
  readonly self: string;
  readonly timing: LeaseTiming;
  /** Monotonic clock in ms. */
  readonly now: () => number;
  readonly logger: Logger;
  /** The loop's current view of the eligible nodes. */
  view(): { readonly eligible: readonly string[]; readonly selfEligible: boolean };
  /** Whether the loop would take `vip` now (running, in the table, not held here). */
  wants(vip: string): boolean;
  /**
   * Acquire `vip` from the store incarnation the loop last saw, and no other: a timer armed before a
   * Redis restart fires into a store that forgot every lease, where the lapsed-looking lease of a
   * live holder would be granted.
   */
  acquire(vip: string): Promise<AcquireOutcome>;
  /** A takeover got the lease. */
  tookOver(vip: string, epoch: number, holder: string): void;
}

/** Reads the leases this node succeeds to, and acquires each the moment it lapses. */
export class TakeoverWatch {
  private readonly host: TakeoverHost;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private reading = false;
  private closed = false;

  constructor(host: TakeoverHost) {
    this.host = host;
  }

  /**
   * One read of the watched leases (skipped while one is in flight): arms a takeover at the expiry
   * of every lease this node succeeds to, and disarms those of watched VIPs it no longer does.
   */
  async watch(vips: Iterable<string>, eligible: readonly string[], held: ReadonlySet<string>): Promise<void> {
    if (this.reading || this.closed) return;
    const { store, self, timing, now } = this.host;
    const watched = watchedVips(vips, eligible, self, held);
    if (watched.length === 0) return;
    this.reading = true;
    try {
      const sent = now();
      const leases = await store.readLeases(watched);
      // A slow answer may come from a store that was frozen: every lease then looks about to lapse,
      // and the holders, whose own requests were queued first, are about to take them back.
      if (now() - sent > timing.renewMs) return;
      const plans = takeoverPlans(leases, eligible, self);
      const planned = new Set(plans.map((p) => p.vip));
      for (const vip of watched) if (!planned.has(vip)) this.disarm(vip);
      for (const plan of plans) this.arm(plan.vip, plan.holder, plan.inMs, TAKEOVER_ATTEMPTS);
    } catch (err) {
      this.host.logger.debug(
        { event: 'lease-watch-failed', err },
        'could not read the leases this node succeeds to',
      );
    } finally {
      this.reading = false;
    }
  }

  /** Disarm everything. */
  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private disarm(vip: string): void {
    const t = this.timers.get(vip);
    if (t) clearTimeout(t);
    this.timers.delete(vip);
  }

  private arm(vip: string, holder: string, inMs: number, attempts: number): void {
    if (this.closed) return;
    const old = this.timers.get(vip);
    if (old) clearTimeout(old);
    const t = setTimeout(() => {
      this.timers.delete(vip);
      void this.attempt(vip, holder, attempts - 1);
    }, inMs);
    t.unref();
    this.timers.set(vip, t);
  }

  /** The lease of `holder` should have lapsed: acquire it if this node is still its successor. */
  private async attempt(vip: string, holder: string, attemptsLeft: number): Promise<void> {
    const { host } = this;
    const view = host.view();
    if (this.closed || !host.wants(vip) || !view.selfEligible) return;
    if (successorOf(vip, holder, view.eligible) !== host.self) return;
    const out = await host.acquire(vip);
    if (this.closed) return;
    if (out.kind === 'gained') {
      // Gained is gained: if the VIP left the table meanwhile, the loop's next tick releases it.
      host.logger.info({ event: 'vip-takeover', vip, from: holder }, 'took over a lease that lapsed');
      host.tookOver(vip, out.epoch, holder);
    } else if (out.kind === 'held' && out.holder === holder && attemptsLeft > 0) {
      // The store's clock and this one disagree by a few ms: try again when it says it ends.
      if (out.remainingMs <= host.timing.renewMs) {
        this.arm(vip, holder, out.remainingMs + TAKEOVER_SLACK_MS, attemptsLeft);
      }
    }
  }
}
