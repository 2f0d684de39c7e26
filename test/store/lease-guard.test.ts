/**
 * The Redis layout of the lease guard (docs/store.md): `P lease-guard:{vip}` copies the lease with
 * its expiry in Redis' clock and outlives it by one TTL. The guard's behaviour is in the contract
 * (store-contract.ts); this pins what an operator sees in Redis.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { storeKeys } from '../../shared/store/store-keys.ts';
import { uniquePrefix, useRedisRig } from './redis-test-store.ts';

const VIP = '192.0.2.30';

describe('Redis lease guard key', { timeout: 30_000 }, () => {
  const rig = useRedisRig();

  /** Absolute expiry of `key` in Redis' clock, ms (PEXPIRETIME, Redis 7). */
  async function expiresAt(key: string): Promise<number> {
    return Number(await rig.raw.call('PEXPIRETIME', key));
  }

  it("writes the guard with the lease's holder, token, epoch and expiry, living one TTL longer; release deletes both", async () => {
    const prefix = uniquePrefix();
    const keys = storeKeys(prefix);
    const store = rig.open(prefix);
    const token = randomUUID();
    const g = await store.acquireLease({ vip: VIP, node: 'a', token, ttlMs: 5000 });
    assert.ok(g.acquired);
    const guard = await rig.raw.hgetall(keys.leaseGuard(VIP));
    assert.equal(guard['node'], 'a');
    assert.equal(guard['token'], token);
    assert.equal(guard['epoch'], String(g.epoch));
    const until = Number(guard['until']);
    assert.equal(await expiresAt(keys.lease(VIP)), until, 'the lease key ends at until');
    assert.equal(await expiresAt(keys.leaseGuard(VIP)), until + 5000, 'the guard lives one TTL longer');

    assert.deepEqual(await store.renewLease(VIP, token, 8000), { renewed: true, epoch: g.epoch });
    const renewedUntil = Number(await rig.raw.hget(keys.leaseGuard(VIP), 'until'));
    assert.ok(renewedUntil > until);
    assert.equal(await expiresAt(keys.lease(VIP)), renewedUntil);
    assert.equal(await expiresAt(keys.leaseGuard(VIP)), renewedUntil + 8000);

    assert.equal(await store.releaseLease(VIP, token), true);
    assert.equal(await rig.raw.exists(keys.lease(VIP), keys.leaseGuard(VIP)), 0);
  });

  it('keeps the lease held when only the guard key is deleted, and the next renew writes the guard again', async () => {
    const prefix = uniquePrefix();
    const keys = storeKeys(prefix);
    const a = rig.open(prefix);
    const token = randomUUID();
    const g = await a.acquireLease({ vip: VIP, node: 'a', token, ttlMs: 5000 });
    assert.ok(g.acquired);
    await rig.raw.del(keys.leaseGuard(VIP));
    const other = await rig
      .open(prefix)
      .acquireLease({ vip: VIP, node: 'b', token: randomUUID(), ttlMs: 5000 });
    assert.ok(!other.acquired && other.holder === 'a');
    assert.deepEqual(await a.renewLease(VIP, token, 5000), { renewed: true, epoch: g.epoch });
    assert.equal(await rig.raw.hget(keys.leaseGuard(VIP), 'token'), token);
  });
});
