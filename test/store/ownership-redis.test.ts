import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RedisStore } from '../../shared/store/redis-store.ts';
import { type OwnershipLoss, VipOwnershipLoop } from '../../speaker/ownership/ownership-loop.ts';
import { assignOwners } from '../../speaker/ownership/rendezvous.ts';
import { startRedis, type TestRedis } from '../harness/redis.ts';
import { eventually } from './await-events.ts';
import { openRedisStore, uniquePrefix } from './redis-test-store.ts';

const VIPS = Array.from({ length: 12 }, (_, i) => `198.18.2.${i + 1}`);
// Scaled 4x from 400/100/50: the settle wait (one TTL) must cover both speakers' first heartbeats
// reaching Redis over fresh connections, and a renew is due well inside the fence even after a
// scheduling stall of a few hundred ms on a loaded machine.
const TIMING = { ttlMs: 1600, renewMs: 400, marginMs: 200 };

describe('VipOwnershipLoop on a real Redis', { timeout: 60_000 }, () => {
  let redis: TestRedis;
  const stores: RedisStore[] = [];
  const loops: VipOwnershipLoop[] = [];
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    redis.resume();
    await Promise.all(loops.map((l) => l.stop()));
    await Promise.all(stores.map((s) => s.close()));
    await redis.stop();
  });

  it('shares VIPs by rendezvous, suspends them while Redis is frozen, and takes the same ones back', async () => {
    const prefix = uniquePrefix();
    const counts = { gained: 0, suspended: 0, lost: [] as OwnershipLoss[] };
    const byNode = new Map<string, VipOwnershipLoop>();
    for (const node of ['a', 'b']) {
      const store = openRedisStore(redis, prefix);
      stores.push(store);
      const loop = new VipOwnershipLoop({
        store,
        self: { node, address: '127.0.0.1', startedAt: new Date().toISOString(), version: 'test' },
        timing: TIMING,
        handlers: {
          gained: () => counts.gained++,
          suspended: () => counts.suspended++,
          lost: (l) => {
            counts.lost.push(l);
          },
        },
      });
      loop.setVips(VIPS);
      loop.start();
      loops.push(loop);
      byNode.set(node, loop);
    }
    const want = assignOwners(VIPS, ['a', 'b']);
    const converged = (): true | undefined =>
      VIPS.every((v) =>
        byNode
          .get(want.get(v)!)!
          .snapshot()
          .some((o) => o.vip === v && o.state === 'owned'),
      ) || undefined;
    await eventually(converged, 15_000, 'convergence');
    assert.equal(counts.gained, VIPS.length);

    redis.pause();
    try {
      await eventually(() => counts.suspended === VIPS.length || undefined, 15_000, 'every VIP suspended');
      for (const v of VIPS) for (const l of loops) assert.equal(l.canAnnounce(v), false);
    } finally {
      redis.resume();
    }
    await eventually(converged, 15_000, 'the same owners to take their VIPs back');
    assert.deepEqual(counts.lost, [], 'no VIP was lost or moved');
    assert.equal(counts.gained, 2 * VIPS.length);
  });
});
