import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryBackend } from '../../shared/store/memory-backend.ts';
import { MemoryStore } from '../../shared/store/memory-store.ts';
import type { RedisStore } from '../../shared/store/redis-store.ts';
import { type LeaseLoss, leaseTimingProblems, VipLeases } from '../../speaker/ownership/lease.ts';
import { startRedis, type TestRedis } from '../harness/redis.ts';
import { EventQueue, eventually } from './await-events.ts';
import { openRedisStore, uniquePrefix } from './redis-test-store.ts';

const VIP = '198.18.0.10';

/** A settable monotonic clock. */
function fakeClock(start = 1000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('VipLeases fencing (fake clock, in-process store)', () => {
  const timing = { ttlMs: 2000, renewMs: 500, marginMs: 200 };

  it('owns a VIP until TTL − margin after the acquire was SENT, even with no reply since', async () => {
    const clock = fakeClock();
    const store = new MemoryStore({ backend: new MemoryBackend({ now: clock.now }) });
    const losses = new EventQueue<LeaseLoss>();
    const leases = new VipLeases({ store, node: 'a', timing, now: clock.now, onLost: losses.push });
    const pending = leases.acquire(VIP);
    clock.advance(300); // the reply is slow: 300 ms between sending and the answer
    assert.equal((await pending).kind, 'gained');
    assert.equal(leases.ownsNow(VIP), true);
    clock.advance(1499); // 1799 ms after sending
    assert.equal(leases.canAnnounce(VIP), true);
    clock.advance(1); // 1800 ms = TTL − margin after sending, though only 1500 ms after the reply
    assert.equal(leases.canAnnounce(VIP), false, 'the fence closes by the sending time, not the reply time');
    assert.equal(leases.checkDeadlines(), 1);
    assert.deepEqual(await losses.next(), { vip: VIP, epoch: 1, reason: 'deadline' });
    await leases.close();
  });

  it('extends the deadline from when each renew was sent, and never from a reply that came after the deadline', async () => {
    const clock = fakeClock();
    const backend = new MemoryBackend({ now: clock.now });
    const store = new MemoryStore({ backend });
    const losses = new EventQueue<LeaseLoss>();
    const leases = new VipLeases({ store, node: 'a', timing, now: clock.now, onLost: losses.push });
    await leases.acquire(VIP);
    clock.advance(1000);
    await leases.renewAll();
    assert.equal(leases.remainingMs(VIP), 1800);
    // A renew whose reply arrives after the deadline: the lease must not come back.
    const slow = leases.renewAll();
    clock.advance(1900);
    await slow;
    assert.equal(leases.ownsNow(VIP), false);
    assert.equal((await losses.next()).reason, 'deadline');
    assert.deepEqual(leases.heldVips(), []);
    await leases.close();
  });

  it('reports the lease refused, naming the new holder, when the store says another node holds it', async () => {
    // The store's clock runs ahead of a's (as if a's clock were slow): the store expires the lease
    // while a's fence is still open, so only the store's answer can tell a.
    const storeClock = fakeClock();
    const aClock = fakeClock();
    const backend = new MemoryBackend({ now: storeClock.now });
    const losses = new EventQueue<LeaseLoss>();
    const a = new VipLeases({
      store: new MemoryStore({ backend }),
      node: 'a',
      timing,
      now: aClock.now,
      onLost: losses.push,
    });
    const b = new VipLeases({
      store: new MemoryStore({ backend }),
      node: 'b',
      timing,
      now: storeClock.now,
      onLost: () => {},
    });
    const ga = await a.acquire(VIP);
    assert.equal((await b.acquire(VIP)).kind, 'held');
    storeClock.advance(2001);
    aClock.advance(100);
    const gb = await b.acquire(VIP);
    assert.ok(gb.kind === 'gained' && ga.kind === 'gained' && gb.epoch > ga.epoch);
    assert.equal(a.ownsNow(VIP), true, 'a cannot know yet');
    await a.renewAll();
    assert.deepEqual(await losses.next(), {
      vip: VIP,
      epoch: ga.kind === 'gained' ? ga.epoch : 0,
      reason: 'refused',
      holder: 'b',
    });
    assert.equal(a.ownsNow(VIP), false);
    await Promise.all([a.close(), b.close()]);
  });

  it('refuses timings where one lost renewal would already lose the lease', () => {
    assert.equal(leaseTimingProblems({ ttlMs: 2000, renewMs: 500, marginMs: 200 }).length, 0);
    assert.equal(leaseTimingProblems({ ttlMs: 2000, renewMs: 1000, marginMs: 200 })[0]?.field, 'renewMs');
    assert.equal(leaseTimingProblems({ ttlMs: 2000, renewMs: 500, marginMs: 1500 })[0]?.field, 'marginMs');
  });
});

describe('VipLeases fencing against a real Redis', { timeout: 30_000 }, () => {
  let redis: TestRedis;
  const stores: RedisStore[] = [];
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    redis.resume();
    await Promise.all(stores.map((s) => s.close()));
    await redis.stop();
  });

  it('stops announcing before the TTL elapses by its monotonic clock when renewals stop (Redis SIGSTOPped)', async () => {
    const prefix = uniquePrefix();
    const store = openRedisStore(redis, prefix);
    const other = openRedisStore(redis, prefix);
    stores.push(store, other);
    // Room for a slow round trip on a loaded machine: the acquire and the renew must both be
    // answered within TTL − margin of the acquire being sent.
    const timing = { ttlMs: 1200, renewMs: 300, marginMs: 200 };
    const losses = new EventQueue<LeaseLoss>();
    let lostAt = Number.NaN;
    const leases = new VipLeases({
      store,
      node: 'a',
      timing,
      onLost: (loss) => {
        lostAt = performance.now();
        losses.push(loss);
      },
    });
    const first = await leases.acquire(VIP);
    assert.equal(first.kind, 'gained');
    // renewAll() sends the renew before it returns, so it was sent between these two readings.
    const sentFrom = performance.now();
    const renewed = leases.renewAll();
    const sentBy = performance.now();
    await renewed;
    assert.equal(leases.ownsNow(VIP), true, 'the renew was answered in time');
    // The fence as VipLeases computed it (the moment canAnnounce() turns false), however long the
    // reply took to come back.
    const readAt = performance.now();
    const fence = readAt + leases.remainingMs(VIP);
    const fenceAfterSend = fence - sentFrom;
    assert.ok(
      fence >= sentFrom + timing.ttlMs - timing.marginMs - 1 &&
        fence <= sentBy + timing.ttlMs - timing.marginMs,
      `the renew extended the fence to TTL − margin after it was sent: it closes ${fenceAfterSend.toFixed(0)} ms after`,
    );
    assert.ok(
      fenceAfterSend < timing.ttlMs,
      `the fence closes ${fenceAfterSend.toFixed(0)} ms after the renew was sent; must be < TTL`,
    );
    redis.pause();
    const renewing = setInterval(() => void leases.renewAll(), timing.renewMs);
    try {
      const loss = await losses.next(undefined, timing.ttlMs + 5000, 'the lease to be lost');
      assert.equal(loss.reason, 'deadline');
      assert.equal(leases.canAnnounce(VIP), false);
      assert.ok(
        lostAt >= fence,
        `reported lost ${(fence - lostAt).toFixed(0)} ms before its fence closed, with renewals pending`,
      );
    } finally {
      clearInterval(renewing);
      redis.resume();
    }
    // Once Redis answers again, the lease is free (it expired or was released) and another node gets
    // it. b's request travels on another connection and may be served before the renewals and the
    // release that a queued while Redis was stopped, so it retries, within one TTL.
    const b = new VipLeases({ store: other, node: 'b', timing, onLost: () => {} });
    const gb = await eventually(
      async () => {
        const g = await b.acquire(VIP);
        return g.kind === 'gained' ? g : undefined;
      },
      timing.ttlMs + 5000,
      'b to acquire the VIP',
    );
    assert.ok(first.kind === 'gained' && gb.epoch > first.epoch);
    assert.equal(leases.ownsNow(VIP), false);
    await Promise.all([leases.close(), b.close()]);
  });

  it('sees its deadline passed first thing after its own process was frozen past the TTL', async () => {
    const prefix = uniquePrefix();
    const store = openRedisStore(redis, prefix);
    const other = openRedisStore(redis, prefix);
    stores.push(store, other);
    // The acquire and renew must be answered within TTL − margin, and Redis must have expired the
    // lease by the end of the freeze: both leave room for a loaded machine.
    const timing = { ttlMs: 800, renewMs: 200, marginMs: 100 };
    const losses = new EventQueue<LeaseLoss>();
    const leases = new VipLeases({ store, node: 'a', timing, onLost: losses.push });
    const first = await leases.acquire(VIP);
    assert.equal(first.kind, 'gained');
    const renewing = setInterval(() => void leases.renewAll(), timing.renewMs);
    try {
      await leases.renewAll();
      assert.equal(leases.ownsNow(VIP), true);
      // Freeze this whole process (event loop included) for longer than the TTL, as SIGSTOP would.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1.75 * timing.ttlMs);
      // The first thing after resuming: no reply or timer has run yet, and the fence is closed.
      assert.equal(leases.canAnnounce(VIP), false);
      // Meanwhile the TTL ran out in Redis; another node can take the VIP at once.
      const b = new VipLeases({ store: other, node: 'b', timing, onLost: () => {} });
      const gb = await b.acquire(VIP);
      assert.ok(gb.kind === 'gained' && first.kind === 'gained' && gb.epoch > first.epoch);
      const loss = await losses.next(undefined, 2000, 'the loss to be reported');
      assert.equal(loss.reason, 'deadline');
      await leases.renewAll();
      assert.equal(leases.ownsNow(VIP), false, 'late renew replies did not resurrect the lease');
      await b.close();
    } finally {
      clearInterval(renewing);
    }
    await leases.close();
  });
});
