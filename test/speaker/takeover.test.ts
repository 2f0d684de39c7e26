import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { preferredOwner } from '../../speaker/ownership/rendezvous.ts';
import {
  successorOf,
  TAKEOVER_SLACK_MS,
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
});
