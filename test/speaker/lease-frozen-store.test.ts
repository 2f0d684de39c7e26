import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../shared/store/memory-store.ts';
import type { LeaseStore } from '../../shared/store/store.ts';
import { type LeaseLoss, VipLeases } from '../../speaker/ownership/lease.ts';
import { EventQueue } from '../store/await-events.ts';

const VIP = '198.18.6.1';
const TIMING = { ttlMs: 300, renewMs: 75, marginMs: 30 };

/**
 * A lease store that can freeze like a SIGSTOPped Redis: requests sent meanwhile are not lost but
 * queued on the "connection", the caller gives up on them after `timeoutMs` (as ioredis'
 * commandTimeout does), and on `thaw()` they all run, in order, with nobody reading the replies.
 */
class FreezableLeases implements LeaseStore {
  private readonly inner: LeaseStore;
  private queue: (() => Promise<unknown>)[] = [];
  private frozen = false;
  constructor(inner: LeaseStore) {
    this.inner = inner;
  }
  freeze(): void {
    this.frozen = true;
  }
  async thaw(): Promise<void> {
    this.frozen = false;
    const queued = this.queue;
    this.queue = [];
    for (const run of queued) await run().catch(() => undefined);
  }
  private call<T>(run: () => Promise<T>): Promise<T> {
    if (!this.frozen) return run();
    this.queue.push(run);
    return new Promise((_, reject) => setTimeout(() => reject(new Error('Command timed out')), 50));
  }
  acquireLease: LeaseStore['acquireLease'] = (req) => this.call(() => this.inner.acquireLease(req));
  renewLease: LeaseStore['renewLease'] = (vip, token, ttl) =>
    this.call(() => this.inner.renewLease(vip, token, ttl));
  releaseLease: LeaseStore['releaseLease'] = (vip, token) =>
    this.call(() => this.inner.releaseLease(vip, token));
  readLeases: LeaseStore['readLeases'] = (vips) => this.call(() => this.inner.readLeases(vips));
}

describe('VipLeases after a frozen store', { timeout: 10_000 }, () => {
  it('recognises a lease granted by its own queued acquire as its own, not as held by someone else', async () => {
    const memory = new MemoryStore();
    const store = new FreezableLeases(memory);
    const losses = new EventQueue<LeaseLoss>();
    const leases = new VipLeases({ store, node: 'a', timing: TIMING, onLost: losses.push });
    try {
      assert.equal((await leases.acquire(VIP)).kind, 'gained');
      store.freeze();
      const lost = await losses.next(undefined, 2000, 'the fenced deadline');
      assert.equal(lost.reason, 'deadline');
      // Attempts while frozen go unanswered but stay queued, as on a real connection.
      assert.equal((await leases.acquire(VIP)).kind, 'unreachable');
      assert.equal((await leases.acquire(VIP)).kind, 'unreachable');
      await new Promise((r) => setTimeout(r, TIMING.ttlMs)); // the old lease expires meanwhile
      await store.thaw(); // the first queued acquire grants the lease; nobody reads the reply
      const held = await memory.readLeases([VIP]);
      assert.equal(held[0]?.holder, 'a');
      const out = await leases.acquire(VIP);
      assert.equal(out.kind, 'gained', `got ${JSON.stringify(out)}`);
      assert.equal(leases.ownsNow(VIP), true);
      await leases.renewAll();
      assert.equal(leases.ownsNow(VIP), true, 'and it renews it: the token is the one in the store');
    } finally {
      await leases.close();
    }
  });
});
