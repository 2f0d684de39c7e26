import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ForwardingTable, listenerKey } from '../../shared/model.ts';
import { redisConnectionFrom } from '../../shared/store/redis-options.ts';
import { RedisStore } from '../../shared/store/redis-store.ts';
import { storeKeys } from '../../shared/store/store-keys.ts';
import { renderListener } from '../../shared/table-render.ts';
import { startRedis, type TestRedis } from '../harness/redis.ts';
import { EventQueue, eventually } from './await-events.ts';
import { uniquePrefix, useRedisRig } from './redis-test-store.ts';
import { makeTable } from './table-fixture.ts';

describe('Redis store across a Redis restart', { timeout: 60_000 }, () => {
  const rig = useRedisRig();

  it('reloads the whole table after reconnecting, finding a change that was never announced', async () => {
    const prefix = uniquePrefix();
    const keys = storeKeys(prefix);
    const pub = rig.open(prefix);
    const subStore = rig.open(prefix);
    await pub.publishTable(makeTable(5));
    const tables = new EventQueue<{ table: ForwardingTable; generation: string }>();
    const sub = subStore.subscribeTable(
      { onTable: (table, generation) => tables.push({ table, generation }) },
      { resyncIntervalMs: 0 },
    );
    const first = await tables.next((t) => t.table.version === 1);
    // Silently add a listener and bump the version; only a whole reload can see it.
    const hidden = makeTable(1, 50).listeners[0]!;
    await rig.raw.hset(keys.table, listenerKey(hidden), JSON.stringify(renderListener(hidden)));
    await rig.raw.incr(keys.tableVersion);
    assert.equal(sub.version, 1);
    await rig.redis.restart({ keepData: true });
    const got = await tables.next((t) => t.table.version === 2, 15_000, 'reload after reconnect');
    assert.equal(got.generation, first.generation);
    assert.equal(got.table.listeners.length, 6);
    assert.ok(got.table.listeners.some((l) => l.vip === hidden.vip));
    assert.ok(sub.stats.fullLoads >= 2);
  });

  it('keeps the last good table when Redis comes back empty, and a client that published before writes nothing by itself', async () => {
    const prefix = uniquePrefix();
    const pub = rig.open(prefix);
    const subStore = rig.open(prefix);
    const table = makeTable(7);
    const published = await pub.publishTable(table, { term: 3 });
    const tables = new EventQueue<{ table: ForwardingTable; generation: string }>();
    const sub = subStore.subscribeTable(
      { onTable: (t, generation) => tables.push({ table: t, generation }) },
      { resyncIntervalMs: 0 },
    );
    await tables.next((t) => t.table.version === published.version);
    const reconnected = new Promise<void>((resolve) => pub.onReconnect(resolve));
    await rig.redis.restart(); // without SAVE: every key is gone
    await reconnected;
    await eventually(() => sub.stats.fullLoads >= 2, 15_000, 'the subscriber to reload after its reconnect');
    // A store client is not a leader: only the leader's loop writes again (under its term), so a
    // standby that published once must not put its old table back.
    assert.equal((await pub.loadTable()).state, 'absent', 'nothing was republished');
    assert.equal(await pub.controllerTerm(), 0);
    assert.equal(tables.pending().length, 0, 'no other (e.g. empty) table was delivered');
    assert.equal(sub.version, published.version, 'the subscriber keeps the last good table');
  });
});

describe('Redis store with AUTH', { timeout: 30_000 }, () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis({ password: 'pw-from-file' });
  });
  after(() => redis.stop());

  it('authenticates with the password read from a file and works end to end', async () => {
    const conn = redisConnectionFrom(
      { redisUrl: redis.url, redisPasswordFile: '/secret', redisKeyPrefix: uniquePrefix() },
      { env: {}, readFile: (p) => (p === '/secret' ? 'pw-from-file\n' : '') },
    );
    assert.ok(conn.ok);
    const store = new RedisStore(conn.value);
    try {
      const r = await store.publishTable(makeTable(2));
      assert.equal(r.version, 1);
      const load = await store.loadTable();
      assert.ok(load.state === 'ok' && load.table.listeners.length === 2);
    } finally {
      await store.close();
    }
  });
});
