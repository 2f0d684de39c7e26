/**
 * The store contract, written once and run against every implementation (memory-store.test.ts,
 * redis-store.test.ts): table publish/subscribe, gaps, garbage, the speaker registry, node states
 * and VIP leases. The lease guard and the incarnation are in continuity-contract.ts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { type ForwardingTable, listenerKey } from '../../shared/model.ts';
import type { Store, TableRefusal, TableSubscription } from '../../shared/store/store.ts';
import { announcementText } from '../../shared/store/table-announcement.ts';
import { renderListener } from '../../shared/table-render.ts';
import { EventQueue, eventually } from './await-events.ts';
import { makeTable, sortedListeners } from './table-fixture.ts';

/** One isolated namespace of a store (its own keys or backend). */
export interface StoreNamespace {
  /** A new client of this namespace; closed by `closeAll`. */
  client(): Store;
  /** Write a listener entry as raw text without bumping the version or announcing. */
  writeRawListener(key: string, text: string): Promise<void>;
  /** Bump the table version without writing or announcing. */
  bumpVersion(by: number): Promise<void>;
  /** Publish raw text on the table channel. */
  announceRaw(text: string): Promise<void>;
  /** Delete only the lease key of `vip` (as `DEL P lease:{vip}` would), leaving its guard. */
  deleteLeaseKey(vip: string): Promise<void>;
  /** Whether the lease key of `vip` exists (its guard aside). */
  leaseKeyExists(vip: string): Promise<boolean>;
  /** The table's current generation, version and the controller term that wrote it. */
  head(): Promise<{ generation: string; version: number; term: number }>;
  closeAll(): Promise<void>;
}

/** How to run the contract on one implementation. */
export interface StoreFixture {
  readonly name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  namespace(): Promise<StoreNamespace>;
}

const ts = (t: ForwardingTable): unknown => sortedListeners(t);

/** Subscribe and collect tables and refusals. */
function follow(store: Store): {
  sub: TableSubscription;
  tables: EventQueue<ForwardingTable>;
  refusals: EventQueue<TableRefusal>;
} {
  const tables = new EventQueue<ForwardingTable>();
  const refusals = new EventQueue<TableRefusal>();
  const sub = store.subscribeTable(
    { onTable: (t) => tables.push(t), onRefused: (r) => refusals.push(r) },
    { resyncIntervalMs: 0 },
  );
  return { sub, tables, refusals };
}

/** Register the contract tests for `fixture`. */
export function storeContract(fixture: StoreFixture): void {
  describe(`${fixture.name} store contract`, { timeout: 60_000 }, () => {
    let ns: StoreNamespace;
    before(() => fixture.setup());
    after(() => fixture.teardown());
    afterEach(() => ns?.closeAll());

    describe('forwarding table', () => {
      it('round-trips a published table to a subscriber with the store-assigned version', async () => {
        ns = await fixture.namespace();
        const pub = ns.client();
        const table = makeTable(20);
        const r = await pub.publishTable({ ...table, version: 999 });
        assert.equal(r.version, 1, 'the store assigns versions from 1, ignoring the input version');
        assert.equal(r.mode, 'full');
        const { tables } = follow(ns.client());
        const got = await tables.next(undefined, 5000, 'first table');
        assert.equal(got.version, 1);
        assert.deepEqual(ts(got), ts(table));
      });

      it('applies a later publish as a delta read of only the changed listeners', async () => {
        ns = await fixture.namespace();
        const pub = ns.client();
        await pub.publishTable(makeTable(10));
        const { sub, tables } = follow(ns.client());
        await tables.next((t) => t.version === 1);
        // Listeners 0-7 stay, 8-9 go, 10-11 are new, and listener 3 changes its port options.
        const next = makeTable(12).listeners.filter((_, i) => i < 8 || i >= 10);
        const changed = next.map((l, i) => (i === 3 ? { ...l, maxConnections: 77 } : l));
        const r = await pub.publishTable({ version: 0, listeners: changed });
        assert.equal(r.mode, 'delta');
        assert.equal(r.version, 2);
        const got = await tables.next((t) => t.version === 2);
        assert.deepEqual(ts(got), ts({ version: 2, listeners: changed }));
        assert.equal(sub.stats.fullLoads, 1);
        assert.equal(sub.stats.deltaLoads, 1);
        assert.equal(sub.version, 2);
      });

      it('delivers only tables exactly as published under their version while publishes race the reads', async () => {
        ns = await fixture.namespace();
        const pub = ns.client();
        const base = makeTable(2000);
        const published = new Map<number, unknown>();
        const tableAt = (round: number): ForwardingTable => ({
          version: 0,
          listeners: base.listeners.map((l, i) =>
            i % 200 === round % 200 ? { ...l, maxConnections: 1000 + round } : l,
          ),
        });
        const r0 = await pub.publishTable(tableAt(0));
        published.set(r0.version, ts(tableAt(0)));
        const delivered: ForwardingTable[] = [];
        const sub = ns
          .client()
          .subscribeTable({ onTable: (t) => delivered.push(t) }, { resyncIntervalMs: 0 });
        let last = r0.version;
        for (let round = 1; round <= 25; round++) {
          const t = tableAt(round);
          const r = await pub.publishTable(t);
          published.set(r.version, ts(t));
          last = r.version;
        }
        await eventually(() => sub.version === last, 10_000, 'the subscriber to reach the last version');
        assert.ok(delivered.length > 0);
        for (const t of delivered) assert.deepEqual(ts(t), published.get(t.version), `version ${t.version}`);
      });

      it('bumps the version even when the table did not change', async () => {
        ns = await fixture.namespace();
        const pub = ns.client();
        const t = makeTable(3);
        await pub.publishTable(t);
        const r = await pub.publishTable(t);
        assert.equal(r.version, 2);
        assert.equal(r.listeners, 3);
      });

      it('reloads the whole table when an announcement skips a version', async () => {
        ns = await fixture.namespace();
        const pub = ns.client();
        await pub.publishTable(makeTable(5));
        const { sub, tables } = follow(ns.client());
        await tables.next((t) => t.version === 1);
        // Written behind the subscriber's back: only a whole-table read can find listener 100.
        const hidden = makeTable(1, 100).listeners[0]!;
        await ns.writeRawListener(listenerKey(hidden), JSON.stringify(renderListener(hidden)));
        await ns.bumpVersion(2);
        const head = await ns.head();
        await ns.announceRaw(
          announcementText({
            kind: 'delta',
            generation: head.generation,
            version: 3,
            changed: [],
            removed: [],
          }),
        );
        const got = await tables.next((t) => t.version === 3, 5000, 'reloaded table');
        assert.equal(got.listeners.length, 6);
        assert.ok(got.listeners.some((l) => l.vip === '10.0.0.100'));
        assert.equal(sub.stats.fullLoads, 2, 'start + gap');
      });

      it('refuses garbage JSON in a listener field with a problem naming the key, keeping the last good table', async () => {
        ns = await fixture.namespace();
        const pub = ns.client();
        const good = makeTable(4);
        await pub.publishTable(good);
        const { sub, tables, refusals } = follow(ns.client());
        await tables.next((t) => t.version === 1);
        const key = '10.0.0.2:82/TCP';
        await ns.writeRawListener(key, '{"service": "ns2/svc-2", "vip": ');
        await ns.bumpVersion(1);
        const head = await ns.head();
        await ns.announceRaw(
          announcementText({
            kind: 'delta',
            generation: head.generation,
            version: 2,
            changed: [key],
            removed: [],
          }),
        );
        const refusal = await refusals.next(undefined, 5000, 'refusal');
        assert.equal(refusal.version, 2);
        assert.equal(refusal.problems[0]?.code, 'store.malformed-listener');
        assert.ok(refusal.problems[0]?.object.includes(key), refusal.problems[0]?.object);
        assert.equal(sub.version, 1, 'the last good table stays');
        assert.equal(tables.pending().length, 0, 'no table was delivered for the garbage version');
        const load = await pub.loadTable();
        assert.equal(load.state, 'refused');
        // A fresh publish from the controller repairs it.
        const r = await pub.publishTable(good);
        const repaired = await tables.next((t) => t.version === r.version, 5000, 'repaired table');
        assert.deepEqual(ts(repaired), ts(good));
      });

      it('refuses a listener that is valid JSON but not a valid listener', async () => {
        ns = await fixture.namespace();
        const pub = ns.client();
        await pub.publishTable(makeTable(2));
        const { tables, refusals } = follow(ns.client());
        await tables.next((t) => t.version === 1);
        const bad = { ...renderListener(makeTable(1, 7).listeners[0]!), vip: '10.0.0.300' };
        await ns.writeRawListener('10.0.0.7:80/TCP', JSON.stringify(bad));
        await ns.bumpVersion(1);
        const head = await ns.head();
        await ns.announceRaw(announcementText({ kind: 'full', generation: head.generation, version: 2 }));
        const refusal = await refusals.next(undefined, 5000, 'refusal');
        assert.equal(refusal.problems[0]?.code, 'table.invalid-vip');
      });

      it('reports an absent table before anything is published', async () => {
        ns = await fixture.namespace();
        assert.deepEqual(await ns.client().loadTable(), { state: 'absent' });
      });

      it('publishes an empty table as a valid, empty version', async () => {
        ns = await fixture.namespace();
        const pub = ns.client();
        await pub.publishTable(makeTable(3));
        const { tables } = follow(ns.client());
        await tables.next((t) => t.version === 1);
        await pub.publishTable({ version: 0, listeners: [] });
        const got = await tables.next((t) => t.version === 2);
        assert.equal(got.listeners.length, 0);
      });

      it('writes a whole table when another publisher moved the version', async () => {
        ns = await fixture.namespace();
        const a = ns.client();
        const b = ns.client();
        await a.publishTable(makeTable(3));
        await b.publishTable(makeTable(4));
        const r = await a.publishTable(makeTable(5));
        assert.equal(r.mode, 'full');
        assert.equal(r.version, 3);
        const load = await b.loadTable();
        assert.ok(load.state === 'ok' && load.table.listeners.length === 5);
      });
    });

    describe('speaker registry', () => {
      it('lists a speaker while its heartbeat lives and drops it once the TTL passes', async () => {
        ns = await fixture.namespace();
        const s = ns.client();
        const info = {
          node: 'node-a',
          address: '127.0.0.2',
          startedAt: new Date(0).toISOString(),
          version: '0.1.0',
        };
        // Long enough to outlive two more round trips on a loaded machine; the expiry is awaited below.
        const ttlMs = 1000;
        await s.heartbeat(info, ttlMs);
        await s.heartbeat({ ...info, node: 'node-b', address: '127.0.0.3' }, 60_000);
        const live = await s.listSpeakers();
        assert.deepEqual(
          live.map(({ remainingMs: _, ...rest }) => rest),
          [info, { ...info, node: 'node-b', address: '127.0.0.3' }],
        );
        assert.ok(live[0]!.remainingMs > 0 && live[0]!.remainingMs <= ttlMs);
        const after = await eventually(
          async () => {
            const l = await s.listSpeakers();
            return l.length === 1 ? l : undefined;
          },
          ttlMs + 5000,
          'node-a to expire',
        );
        assert.equal(after[0]!.node, 'node-b');
      });

      it('keeps a speaker listed while it renews, and removes it at once on removeSpeaker', async () => {
        ns = await fixture.namespace();
        const s = ns.client();
        const info = { node: 'n1', address: '127.0.0.9', startedAt: new Date().toISOString(), version: 'x' };
        // Renewed every quarter TTL for 1.5 TTLs and listed before each renewal: still there past the
        // first TTL only because the renewals extended it. The TTL leaves room for a renewal that
        // comes a few hundred ms late on a loaded machine.
        const ttlMs = 800;
        const started = performance.now();
        await s.heartbeat(info, ttlMs);
        while (performance.now() - started < 1.5 * ttlMs) {
          await new Promise((r) => setTimeout(r, ttlMs / 4));
          const since = Math.round(performance.now() - started);
          assert.equal((await s.listSpeakers()).length, 1, `listed ${since} ms after the first heartbeat`);
          await s.heartbeat(info, ttlMs);
        }
        assert.equal(
          (await s.listSpeakers()).length,
          1,
          `renewed every ${ttlMs / 4} ms, a ${ttlMs} ms TTL never ran out`,
        );
        await s.removeSpeaker('n1');
        assert.equal((await s.listSpeakers()).length, 0);
      });
    });

    describe('node states', () => {
      it('is unknown until the controller publishes, then replaced whole', async () => {
        ns = await fixture.namespace();
        const s = ns.client();
        assert.equal(await s.nodeStates(), null);
        await s.publishNodeStates([
          { node: 'a', ready: true, excludeFromExternalLB: false },
          { node: 'b', ready: false, excludeFromExternalLB: false },
        ]);
        await s.publishNodeStates([{ node: 'c', ready: true, excludeFromExternalLB: true }]);
        const got = await s.nodeStates();
        assert.deepEqual(
          [...(got ?? new Map()).values()],
          [{ node: 'c', ready: true, excludeFromExternalLB: true }],
        );
      });
    });

    describe('pool statuses', () => {
      it('is unknown until the controller publishes, then replaced whole', async () => {
        ns = await fixture.namespace();
        const s = ns.client();
        assert.equal(await s.poolStatuses(), null);
        const pool = (name: string, assigned: number) => ({
          name,
          assignedIPv4: assigned,
          availableIPv4: 20 - assigned,
          assignedIPv6: 0,
          availableIPv6: 0,
        });
        await s.publishPoolStatuses([pool('a', 1), pool('b', 2)]);
        await s.publishPoolStatuses([pool('c', 3)]);
        assert.deepEqual(await ns.client().poolStatuses(), [pool('c', 3)]);
      });
    });

    describe('speaker status endpoint', () => {
      it('carries statusUrl in the registration when given, and leaves it out when not', async () => {
        ns = await fixture.namespace();
        const s = ns.client();
        const base = { address: '127.0.0.9', startedAt: new Date().toISOString(), version: 'x' };
        await s.heartbeat({ node: 'n1', ...base, statusUrl: 'http://127.0.0.9:9470/status' }, 5000);
        await s.heartbeat({ node: 'n2', ...base }, 5000);
        const [n1, n2] = await s.listSpeakers();
        assert.equal(n1?.statusUrl, 'http://127.0.0.9:9470/status');
        assert.equal(n2?.node, 'n2');
        assert.equal(n2 && 'statusUrl' in n2, false);
      });
    });

    describe('VIP leases', () => {
      const vip = '192.0.2.10';

      it('grants a lease to exactly one of two contenders; the loser learns the holder and epoch', async () => {
        ns = await fixture.namespace();
        const a = ns.client();
        const b = ns.client();
        const [ra, rb] = await Promise.all([
          a.acquireLease({ vip, node: 'a', token: randomUUID(), ttlMs: 5000 }),
          b.acquireLease({ vip, node: 'b', token: randomUUID(), ttlMs: 5000 }),
        ]);
        assert.equal([ra, rb].filter((r) => r.acquired).length, 1);
        const winner = ra.acquired ? 'a' : 'b';
        const loser = ra.acquired ? rb : ra;
        const won = ra.acquired ? ra : rb;
        assert.ok(!loser.acquired && loser.holder === winner && loser.epoch === won.epoch);
        assert.ok(!loser.acquired && loser.remainingMs > 0 && loser.remainingMs <= 5000);
        const leases = await a.readLeases([vip, '192.0.2.11']);
        assert.equal(leases.length, 1);
        assert.equal(leases[0]!.holder, winner);
      });

      it('renews only for the holding token, and refuses a renew after expiry once another node took it', async () => {
        ns = await fixture.namespace();
        const a = ns.client();
        const b = ns.client();
        const tokenA = randomUUID();
        // Long enough that a's lease outlives the next two round trips on a loaded machine; its
        // expiry is awaited below.
        const ttlMs = 1000;
        const ga = await a.acquireLease({ vip, node: 'a', token: tokenA, ttlMs });
        assert.ok(ga.acquired);
        assert.deepEqual(await a.renewLease(vip, tokenA, ttlMs), { renewed: true, epoch: ga.epoch });
        assert.deepEqual(await b.renewLease(vip, randomUUID(), ttlMs), { renewed: false, holder: 'a' });
        const gb = await eventually(
          async () => {
            const g = await b.acquireLease({ vip, node: 'b', token: randomUUID(), ttlMs: 5000 });
            return g.acquired ? g : undefined;
          },
          ttlMs + 5000,
          'b to acquire the expired lease',
        );
        assert.ok(gb.epoch > ga.epoch);
        assert.deepEqual(await a.renewLease(vip, tokenA, ttlMs), { renewed: false, holder: 'b' });
      });

      it('increases the epoch strictly on every change of owner, across release and expiry', async () => {
        ns = await fixture.namespace();
        const a = ns.client();
        const b = ns.client();
        const t1 = randomUUID();
        const e1 = await a.acquireLease({ vip, node: 'a', token: t1, ttlMs: 5000 });
        assert.ok(e1.acquired);
        assert.equal(await a.releaseLease(vip, t1), true);
        const e2 = await b.acquireLease({ vip, node: 'b', token: randomUUID(), ttlMs: 100 });
        assert.ok(e2.acquired && e2.epoch > e1.epoch);
        const e3 = await eventually(
          async () => {
            const g = await a.acquireLease({ vip, node: 'a', token: randomUUID(), ttlMs: 5000 });
            return g.acquired ? g : undefined;
          },
          5000,
          'a to acquire after b expired',
        );
        assert.ok(e2.acquired && e3.epoch > e2.epoch);
      });

      it('keeps a new epoch above the caller-supplied floor', async () => {
        ns = await fixture.namespace();
        const g = await ns
          .client()
          .acquireLease({ vip, node: 'a', token: randomUUID(), ttlMs: 5000, minEpoch: 41 });
        assert.deepEqual(g, { acquired: true, epoch: 42 });
      });

      it('releases only for the holding token', async () => {
        ns = await fixture.namespace();
        const a = ns.client();
        const token = randomUUID();
        await a.acquireLease({ vip, node: 'a', token, ttlMs: 5000 });
        assert.equal(await a.releaseLease(vip, randomUUID()), false);
        assert.equal((await a.readLeases([vip])).length, 1);
        assert.equal(await a.releaseLease(vip, token), true);
        assert.equal((await a.readLeases([vip])).length, 0);
      });

      it('treats a repeated acquire with the holding token as an extension, not a new epoch', async () => {
        ns = await fixture.namespace();
        const a = ns.client();
        const token = randomUUID();
        const g1 = await a.acquireLease({ vip, node: 'a', token, ttlMs: 5000 });
        const g2 = await a.acquireLease({ vip, node: 'a', token, ttlMs: 5000 });
        assert.deepEqual(g2, g1);
      });
    });
  });
}
