import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../shared/log.ts';
import type { LeaseInfo } from '../../shared/store/store.ts';
import { LEASE_DEFAULTS } from '../../speaker/ownership/lease.ts';
import { preferredOwner } from '../../speaker/ownership/rendezvous.ts';
import {
  lapsedUnseenPlans,
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

  it('plans a takeover only for a lease of another node that runs out within the horizon, by its successor', () => {
    const vip = VIPS[0]!;
    const holder = preferredOwner(vip, NODES)!;
    const next = successorOf(vip, holder, NODES)!;
    const other = NODES.find((n) => n !== holder && n !== next)!;
    const lapsing = [{ vip, holder, epoch: 3, remainingMs: 120 }];
    assert.deepEqual(takeoverPlans(lapsing, NODES, next, 700), [
      { vip, holder, inMs: 120 + TAKEOVER_SLACK_MS },
    ]);
    assert.deepEqual(takeoverPlans(lapsing, NODES, other, 700), [], 'not the successor');
    assert.deepEqual(
      takeoverPlans([{ ...lapsing[0]!, remainingMs: 1600 }], NODES, next, 700),
      [],
      'renewed in time',
    );
    assert.deepEqual(
      takeoverPlans([{ ...lapsing[0]!, holder: next }], NODES, next, 700),
      [],
      'its own lease',
    );
  });

  it('plans a takeover for a lease that ran out between two reads, by its successor, and for nothing else', () => {
    const vip = VIPS[0]!;
    const holder = preferredOwner(vip, NODES)!;
    const next = successorOf(vip, holder, NODES)!;
    const other = NODES.find((n) => n !== holder && n !== next)!;
    const seen = new Map([[vip, { holder, endsAt: 1000 }]]);
    assert.deepEqual(lapsedUnseenPlans([vip], [], seen, NODES, next, 1000), [{ vip, holder, inMs: 0 }]);
    assert.deepEqual(lapsedUnseenPlans([vip], [], seen, NODES, other, 1000), [], 'not the successor');
    assert.deepEqual(lapsedUnseenPlans([vip], [], seen, NODES, next, 999), [], 'released before its end');
    const still = [{ vip, holder, epoch: 1, remainingMs: 1500 }];
    assert.deepEqual(lapsedUnseenPlans([vip], still, seen, NODES, next, 2000), [], 'still held');
    assert.deepEqual(lapsedUnseenPlans([vip], [], new Map(), NODES, next, 2000), [], 'never seen held');
  });
});

describe('TakeoverWatch', () => {
  it('takes over a lease whose lapse fell between two reads, as the next read finds it gone', async () => {
    const vip = VIPS[0]!;
    const holder = preferredOwner(vip, NODES)!;
    const next = successorOf(vip, holder, NODES)!;
    let clock = 0;
    let reads: LeaseInfo[][] = [[{ vip, holder, epoch: 1, remainingMs: 1500 }], []];
    let acquired: (vip: string) => void = () => {};
    const acquire = new Promise<string>((resolve) => {
      acquired = resolve;
    });
    const watch = new TakeoverWatch({
      store: {
        readLeases: async () => {
          const [first, ...rest] = reads;
          reads = rest;
          return first ?? [];
        },
      },
      self: next,
      timing: LEASE_DEFAULTS,
      now: () => clock,
      logger: silentLogger(),
      view: () => ({ eligible: NODES, selfEligible: true }),
      wants: () => true,
      acquire: async (v) => {
        acquired(v);
        return { kind: 'gained', epoch: 2 };
      },
      tookOver: () => {},
    });
    try {
      // Renewed well within the horizon: nothing to arm.
      await watch.watch([vip], NODES, new Set());
      // The next read comes 2 s late, long after the lease ran out unrenewed: it is gone.
      clock = 2000;
      await watch.watch([vip], NODES, new Set());
      const got = await Promise.race([acquire, new Promise((r) => setTimeout(() => r('none'), 1000))]);
      assert.equal(got, vip);
    } finally {
      watch.close();
    }
  });
});
