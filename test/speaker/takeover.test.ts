import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../shared/log.ts';
import type { LeaseInfo } from '../../shared/store/store.ts';
import { preferredOwner } from '../../speaker/ownership/rendezvous.ts';
import {
  successorOf,
  TAKEOVER_SLACK_MS,
  TakeoverWatch,
  takeoverPlans,
  watchedVips,
} from '../../speaker/ownership/takeover.ts';

const NODES = ['a', 'b', 'c', 'd'];
const VIPS = Array.from({ length: 40 }, (_, i) => `198.18.4.${i + 1}`);

describe('takeover planning', () => {
  it('has each VIP watched by exactly its preferred owner and that owner’s successor', () => {
    const watchers = new Map<string, string[]>();
    for (const n of NODES)
      for (const v of watchedVips(VIPS, NODES, n, new Set()))
        watchers.set(v, [...(watchers.get(v) ?? []), n]);
    for (const v of VIPS) {
      const first = preferredOwner(v, NODES)!;
      assert.deepEqual(watchers.get(v)?.sort(), [first, successorOf(v, first, NODES)!].sort(), v);
    }
  });

  it('does not watch VIPs this node holds', () => {
    const mine = VIPS.filter((v) => preferredOwner(v, NODES) === 'a');
    assert.ok(mine.length > 0);
    const watched = watchedVips(VIPS, NODES, 'a', new Set(mine));
    assert.ok(mine.every((v) => !watched.includes(v)));
  });

  it('plans a takeover at the expiry of every lease of another node, by its successor only', () => {
    const vip = VIPS[0]!;
    const holder = preferredOwner(vip, NODES)!;
    const next = successorOf(vip, holder, NODES)!;
    const other = NODES.find((n) => n !== holder && n !== next)!;
    const lapsing = [{ vip, holder, epoch: 3, remainingMs: 120 }];
    assert.deepEqual(takeoverPlans(lapsing, NODES, next), [{ vip, holder, inMs: 120 + TAKEOVER_SLACK_MS }]);
    assert.deepEqual(takeoverPlans(lapsing, NODES, other), [], 'not the successor');
    // A lease far from its end is planned too: the next read re-arms it while the holder renews.
    assert.deepEqual(takeoverPlans([{ ...lapsing[0]!, remainingMs: 1600 }], NODES, next), [
      { vip, holder, inMs: 1600 + TAKEOVER_SLACK_MS },
    ]);
    assert.deepEqual(takeoverPlans([{ ...lapsing[0]!, holder: next }], NODES, next), [], 'its own lease');
  });
});

/** A TakeoverWatch over a fake store whose lease reads and acquires are scripted and recorded. */
function watchOver(leases: () => LeaseInfo[], self: string) {
  const acquired: { vip: string; at: number }[] = [];
  const start = performance.now();
  const watch = new TakeoverWatch({
    store: { readLeases: async () => leases() },
    self,
    timing: { ttlMs: 2000, renewMs: 500, marginMs: 200 },
    now: () => performance.now(),
    logger: silentLogger(),
    view: () => ({ eligible: NODES, selfEligible: true }),
    wants: () => true,
    acquire: async (vip) => {
      acquired.push({ vip, at: performance.now() - start });
      return { kind: 'gained', epoch: 9 };
    },
    tookOver: () => {},
  });
  return { watch, acquired };
}

describe('TakeoverWatch', () => {
  const vip = VIPS[0]!;
  const holder = preferredOwner(vip, NODES)!;
  const next = successorOf(vip, holder, NODES)!;

  it('takes a lease over at its expiry from one read, however late the next tick (none comes)', async () => {
    // 1.5 s left at the read: more than one renew interval plus the margin, the old arming window.
    const { watch, acquired } = watchOver(() => [{ vip, holder, epoch: 3, remainingMs: 1500 }], next);
    try {
      await watch.watch([vip], NODES, new Set());
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(acquired.length, 1, 'one takeover attempt');
      assert.ok(acquired[0]!.at >= 1500, `attempted at ${Math.round(acquired[0]!.at)} ms, not before expiry`);
    } finally {
      watch.close();
    }
  });

  it('never fires while each read finds the lease renewed, and disarms when the lease is no longer its to take', async () => {
    let remaining = 400;
    let current: LeaseInfo[] = [{ vip, holder, epoch: 3, remainingMs: remaining }];
    const { watch, acquired } = watchOver(() => current, next);
    try {
      // Reads every 200 ms find a renewed lease: the timer keeps moving out.
      for (let i = 0; i < 5; i++) {
        current = [{ vip, holder, epoch: 3, remainingMs: remaining }];
        await watch.watch([vip], NODES, new Set());
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(acquired.length, 0, 'a renewing holder is never taken over');
      // Then a read finds the VIP free (released on a handover): nothing stays armed.
      current = [];
      remaining = 0;
      await watch.watch([vip], NODES, new Set());
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(acquired.length, 0, 'a free lease is left to its preferred owner');
    } finally {
      watch.close();
    }
  });
});
