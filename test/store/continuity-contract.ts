/**
 * The store-continuity contract, run against every implementation next to store-contract.ts: a
 * lease key lost under a live holder is guarded until the lease's end, and the incarnation stays
 * the same while the store keeps its memory (docs/store.md, "Store continuity").
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { OtherIncarnationError } from '../../shared/store/store.ts';
import { eventually } from './await-events.ts';
import type { StoreFixture, StoreNamespace } from './store-contract.ts';

/** Register the continuity contract tests for `fixture`. */
export function continuityContract(fixture: StoreFixture): void {
  describe(`${fixture.name} store continuity contract`, { timeout: 60_000 }, () => {
    let ns: StoreNamespace;
    before(() => fixture.setup());
    after(() => fixture.teardown());
    afterEach(() => ns?.closeAll());

    describe('lease guard: a lease key lost under a live holder', () => {
      const vip = '192.0.2.20';

      it('refuses the VIP to another node, naming the holder and its remaining time, after the lease key was deleted', async () => {
        ns = await fixture.namespace();
        const a = ns.client();
        const b = ns.client();
        const ga = await a.acquireLease({ vip, node: 'a', token: randomUUID(), ttlMs: 5000 });
        assert.ok(ga.acquired);
        await ns.deleteLeaseKey(vip);
        assert.equal(await ns.leaseKeyExists(vip), false);
        const gb = await b.acquireLease({ vip, node: 'b', token: randomUUID(), ttlMs: 5000 });
        assert.ok(!gb.acquired, 'the guard refuses the VIP like a held lease');
        assert.equal(gb.holder, 'a');
        assert.equal(gb.epoch, ga.epoch);
        assert.ok(gb.remainingMs > 0 && gb.remainingMs <= 5000, `remainingMs ${gb.remainingMs}`);
        assert.deepEqual(await b.renewLease(vip, randomUUID(), 5000), { renewed: false, holder: 'a' });
        const [seen] = await b.readLeases([vip]);
        assert.equal(seen?.holder, 'a', 'readLeases reports the guarded holder');
        assert.equal(seen?.epoch, ga.epoch);
        assert.ok(seen && seen.remainingMs > 0 && seen.remainingMs <= 5000);
      });

      it("restores the deleted lease key on the holder's renew, keeping its epoch", async () => {
        ns = await fixture.namespace();
        const a = ns.client();
        const token = randomUUID();
        const ga = await a.acquireLease({ vip, node: 'a', token, ttlMs: 5000 });
        assert.ok(ga.acquired);
        await ns.deleteLeaseKey(vip);
        assert.deepEqual(await a.renewLease(vip, token, 5000), { renewed: true, epoch: ga.epoch });
        assert.equal(await ns.leaseKeyExists(vip), true, 'the renew wrote the lease key again');
        const gb = await ns.client().acquireLease({ vip, node: 'b', token: randomUUID(), ttlMs: 5000 });
        assert.ok(!gb.acquired && gb.holder === 'a' && gb.epoch === ga.epoch);
      });

      it("restores the deleted lease key on the holder's repeated acquire, without a new epoch", async () => {
        ns = await fixture.namespace();
        const a = ns.client();
        const token = randomUUID();
        const g1 = await a.acquireLease({ vip, node: 'a', token, ttlMs: 5000 });
        await ns.deleteLeaseKey(vip);
        const g2 = await a.acquireLease({ vip, node: 'a', token, ttlMs: 5000 });
        assert.deepEqual(g2, g1);
        assert.equal(await ns.leaseKeyExists(vip), true);
      });

      it('frees the VIP once the guarded expiry passes when the holder stopped renewing', async () => {
        ns = await fixture.namespace();
        const a = ns.client();
        const b = ns.client();
        const tokenA = randomUUID();
        // Long enough that b's first try comes before a's lease ends on a loaded machine; the
        // expiry itself is awaited below.
        const ttlMs = 1000;
        const ga = await a.acquireLease({ vip, node: 'a', token: tokenA, ttlMs });
        assert.ok(ga.acquired);
        await ns.deleteLeaseKey(vip);
        const first = await b.acquireLease({ vip, node: 'b', token: randomUUID(), ttlMs: 5000 });
        assert.ok(!first.acquired && first.holder === 'a');
        const gb = await eventually(
          async () => {
            const g = await b.acquireLease({ vip, node: 'b', token: randomUUID(), ttlMs: 5000 });
            return g.acquired ? g : undefined;
          },
          ttlMs + 5000,
          'b to acquire once the guarded lease ended',
        );
        assert.ok(gb.epoch > ga.epoch);
        assert.deepEqual(await a.renewLease(vip, tokenA, ttlMs), { renewed: false, holder: 'b' });
      });

      it('releases a lease whose key was deleted, leaving the VIP free at once', async () => {
        ns = await fixture.namespace();
        const a = ns.client();
        const token = randomUUID();
        const ga = await a.acquireLease({ vip, node: 'a', token, ttlMs: 5000 });
        assert.ok(ga.acquired);
        await ns.deleteLeaseKey(vip);
        assert.equal(await a.releaseLease(vip, randomUUID()), false, 'another token cannot release it');
        assert.equal(await a.releaseLease(vip, token), true);
        assert.deepEqual(await a.readLeases([vip]), []);
        const gb = await ns.client().acquireLease({ vip, node: 'b', token: randomUUID(), ttlMs: 5000 });
        assert.ok(gb.acquired && gb.epoch > ga.epoch);
      });
    });

    describe('store continuity', () => {
      it('answers the same incarnation on every call and to every client of one store', async () => {
        ns = await fixture.namespace();
        const a = ns.client();
        const first = await a.incarnation();
        assert.ok(first.length > 0);
        assert.equal(await a.incarnation(), first);
        assert.equal(await ns.client().incarnation(), first);
      });

      it("grants an acquire naming the store's incarnation, and refuses one naming another, writing nothing", async () => {
        ns = await fixture.namespace();
        const a = ns.client();
        const incarnation = await a.incarnation();
        const vip = '192.0.2.21';
        const request = { vip, node: 'a', ttlMs: 5000 };
        await assert.rejects(
          a.acquireLease({ ...request, token: randomUUID(), incarnation: `${incarnation}x` }),
          (err: unknown) =>
            err instanceof OtherIncarnationError &&
            err.incarnation === incarnation &&
            err.expected === `${incarnation}x`,
        );
        assert.deepEqual(await a.readLeases([vip]), [], 'the refused acquire wrote nothing');
        const granted = await a.acquireLease({ ...request, token: randomUUID(), incarnation });
        assert.ok(granted.acquired);
        assert.equal(granted.epoch, 1, 'the refused acquire did not use an epoch');
      });
    });
  });
}
