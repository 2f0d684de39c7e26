/**
 * Fast takeover of a VIP whose holder stopped renewing (a crashed speaker, a node cut off from the
 * store). Without it the successor notices on its next tick, up to one renew interval after the
 * lease ran out, and only once the holder's heartbeat has expired too. With it, the node that would
 * be preferred without the holder reads the lease's remaining TTL on every tick and, when the lease
 * will run out before the next tick (a live holder renews long before that), tries to acquire it
 * the moment it expires. A live holder loses nothing: its lease is never taken, only a lapsed one.
 *
 * Pure: data in, data out; the ownership loop does the reading and the timers.
 */
import type { LeaseInfo } from '../../shared/store/store.ts';
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

/**
 * Takeovers to arm: leases held by another node that run out within `horizonMs` and whose
 * successor among `eligible` is `self`.
 */
export function takeoverPlans(
  leases: readonly LeaseInfo[],
  eligible: readonly string[],
  self: string,
  horizonMs: number,
): TakeoverPlan[] {
  const out: TakeoverPlan[] = [];
  for (const l of leases) {
    if (l.holder === self || l.remainingMs > horizonMs) continue;
    if (successorOf(l.vip, l.holder, eligible) !== self) continue;
    out.push({ vip: l.vip, holder: l.holder, inMs: Math.max(0, l.remainingMs) + TAKEOVER_SLACK_MS });
  }
  return out;
}
