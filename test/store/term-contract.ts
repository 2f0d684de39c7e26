/**
 * The controller-term fence, written once and run against every store (memory-store.test.ts,
 * redis-store.test.ts): a write with a term below the highest the store accepted is refused with a
 * `StaleTermError` and changes nothing; an equal term is taken; a higher one raises the store's.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { isStaleTerm, type NodeState, type PoolStatus, type Store } from '../../shared/store/store.ts';
import type { StoreFixture, StoreNamespace } from './store-contract.ts';
import { makeTable, sortedListeners } from './table-fixture.ts';

const node = (name: string, ready: boolean): NodeState => ({
  node: name,
  ready,
  excludeFromExternalLB: false,
});
const pool = (name: string, assigned: number): PoolStatus => ({
  name,
  assignedIPv4: assigned,
  availableIPv4: 10 - assigned,
  assignedIPv6: 0,
  availableIPv6: 0,
});

/** Asserts that `write` is refused for its term `term` while the store holds `storeTerm`. */
async function refused(
  write: Promise<unknown>,
  term: number,
  storeTerm: number,
  what: string,
): Promise<void> {
  await assert.rejects(
    write,
    (err: unknown) => {
      assert.ok(isStaleTerm(err), `${what}: a StaleTermError, not ${String(err)}`);
      assert.equal(err.code, 'store.stale-term');
      assert.deepEqual([err.term, err.storeTerm], [term, storeTerm], what);
      return true;
    },
    what,
  );
}

/** Register the term tests for `fixture`. */
export function termContract(fixture: StoreFixture): void {
  describe(`${fixture.name} store controller-term fence`, { timeout: 30_000 }, () => {
    let ns: StoreNamespace;
    before(() => fixture.setup());
    after(() => fixture.teardown());
    afterEach(() => ns?.closeAll());

    it('refuses a table, node states and pool statuses written with an older term, leaving what the newer term wrote', async () => {
      ns = await fixture.namespace();
      const deposed: Store = ns.client();
      const leader: Store = ns.client();
      await deposed.publishTable(makeTable(2), { term: 5 });
      await deposed.publishNodeStates([node('a', true)], { term: 5 });
      await deposed.publishPoolStatuses([pool('p', 1)], { term: 5 });
      const table = makeTable(3);
      await leader.publishTable(table, { term: 7 });
      await leader.publishNodeStates([node('a', true), node('b', true)], { term: 7 });
      await leader.publishPoolStatuses([pool('p', 2)], { term: 7 });
      const before = await ns.head();

      // The deposed writer's publisher would write a delta on its last head; a full write, too.
      await refused(deposed.publishTable(makeTable(1), { term: 5 }), 5, 7, 'delta table');
      await refused(deposed.publishTable(makeTable(1), { term: 5, full: true }), 5, 7, 'full table');
      await refused(deposed.publishNodeStates([node('a', false)], { term: 5 }), 5, 7, 'node states');
      await refused(deposed.publishPoolStatuses([pool('p', 9)], { term: 5 }), 5, 7, 'pool statuses');
      // A writer without a term is term 0: it never overrides a controller.
      await refused(deposed.publishNodeStates([node('a', false)]), 0, 7, 'node states without a term');

      assert.deepEqual(await ns.head(), before, 'the table head did not move');
      const load = await leader.loadTable();
      assert.ok(load.state === 'ok');
      assert.deepEqual(sortedListeners(load.table), sortedListeners(table));
      assert.deepEqual(
        [...((await leader.nodeStates()) ?? new Map()).values()],
        [node('a', true), node('b', true)],
      );
      assert.deepEqual(await leader.poolStatuses(), [pool('p', 2)]);
      assert.equal(await leader.controllerTerm(), 7);
    });

    it('takes an equal term, raises the stored term to a newer one, and stamps the table head with it', async () => {
      ns = await fixture.namespace();
      const s = ns.client();
      assert.equal(await s.controllerTerm(), 0, 'a new store has accepted no term');
      await s.publishNodeStates([node('a', true)], { term: 3 });
      assert.equal(await s.controllerTerm(), 3);
      await s.publishNodeStates([node('a', false)], { term: 3 });
      await s.publishTable(makeTable(1), { term: 3 });
      assert.equal((await ns.head()).term, 3);
      const r = await ns.client().publishTable(makeTable(2), { term: 4 });
      assert.equal(r.mode, 'full', 'a new term writes the whole table');
      assert.equal(await s.controllerTerm(), 4);
      assert.equal((await ns.head()).term, 4);
      assert.deepEqual([...((await s.nodeStates()) ?? new Map()).values()], [node('a', false)]);
    });

    it('writes the table whole when asked, even where a delta would do', async () => {
      ns = await fixture.namespace();
      const s = ns.client();
      await s.publishTable(makeTable(3), { term: 1 });
      assert.equal((await s.publishTable(makeTable(4), { term: 1 })).mode, 'delta');
      assert.equal((await s.publishTable(makeTable(4), { term: 1, full: true })).mode, 'full');
    });

    it('keeps versions above the last one it wrote when the store went back in time', async () => {
      ns = await fixture.namespace();
      const s = ns.client();
      for (let i = 1; i <= 3; i++) await s.publishTable(makeTable(i), { term: 1 });
      const { generation } = await ns.head();
      // As a failover to a replica that missed the last two publishes would leave it.
      await ns.bumpVersion(-2);
      const r = await s.publishTable(makeTable(4), { term: 1, full: true });
      assert.deepEqual([r.generation, r.version], [generation, 4]);
    });

    it('abandons a write whose term has ended, writing nothing', async () => {
      ns = await fixture.namespace();
      const s = ns.client();
      await s.publishTable(makeTable(1), { term: 2 });
      const before = await ns.head();
      const ended = new AbortController();
      ended.abort();
      await assert.rejects(s.publishTable(makeTable(5), { term: 2, signal: ended.signal, full: true }));
      await assert.rejects(s.publishNodeStates([node('x', true)], { term: 2, signal: ended.signal }));
      assert.deepEqual(await ns.head(), before);
      assert.equal(await s.nodeStates(), null);
    });
  });
}
