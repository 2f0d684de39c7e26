/**
 * The controller-term fence as Redis holds it: `P controller-term` without a TTL, `P table:term` and
 * the announcement stamped by the commit scripts, and a refusal that is an error reply with a stable
 * prefix, decided inside the script so nothing of the refused write lands.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { STALE_TERM_REPLY, WRITE_FENCED } from '../../shared/store/redis-scripts.ts';
import type { RedisStore } from '../../shared/store/redis-store.ts';
import { isStaleTerm } from '../../shared/store/store.ts';
import { storeKeys } from '../../shared/store/store-keys.ts';
import { parseAnnouncement } from '../../shared/store/table-announcement.ts';
import { startRedis, type TestRedis } from '../harness/redis.ts';
import { EventQueue } from './await-events.ts';
import { openRedisStore, rawClient, uniquePrefix } from './redis-test-store.ts';
import { makeTable } from './table-fixture.ts';

describe('the controller-term fence on Redis', { timeout: 30_000 }, () => {
  let redis: TestRedis;
  let raw: Redis;
  let listener: Redis;
  const stores: RedisStore[] = [];
  before(async () => {
    redis = await startRedis();
    raw = rawClient(redis);
    listener = rawClient(redis);
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    raw?.disconnect();
    listener?.disconnect();
    await redis?.stop();
  });

  it('stamps P table:term and every announcement with the writing term, and keeps P controller-term without a TTL', async () => {
    const prefix = uniquePrefix();
    const keys = storeKeys(prefix);
    const s = openRedisStore(redis, prefix);
    stores.push(s);
    const messages = new EventQueue<string>();
    listener.on('message', (_channel: string, text: string) => messages.push(text));
    await listener.subscribe(keys.tableChannel);
    await s.publishTable(makeTable(2), { term: 6 });
    await s.publishTable(makeTable(3), { term: 6 });
    assert.equal(await raw.get(keys.tableTerm), '6');
    assert.equal(await raw.get(keys.controllerTerm), '6');
    assert.equal(await raw.pttl(keys.controllerTerm), -1, 'no TTL');
    const full = parseAnnouncement(await messages.next());
    const delta = parseAnnouncement(await messages.next());
    assert.deepEqual([full?.kind, full?.term], ['full', 6]);
    assert.deepEqual([delta?.kind, delta?.term], ['delta', 6]);
    await listener.unsubscribe(keys.tableChannel);
  });

  it(`refuses an older term with a "${STALE_TERM_REPLY}" error reply, writing nothing of it`, async () => {
    const prefix = uniquePrefix();
    const keys = storeKeys(prefix);
    const s = openRedisStore(redis, prefix);
    stores.push(s);
    await s.publishNodeStates([{ node: 'a', ready: true, excludeFromExternalLB: false }], { term: 9 });
    // The script itself, as a deposed controller's delayed command would reach it.
    await assert.rejects(
      raw.eval(WRITE_FENCED.lua, WRITE_FENCED.numberOfKeys, keys.nodeStates, keys.controllerTerm, '[]', '8'),
      (err: Error) => err.message === `${STALE_TERM_REPLY} 8 9`,
    );
    const before = await raw.get(keys.nodeStates);
    const refused = await s
      .publishNodeStates([{ node: 'a', ready: false, excludeFromExternalLB: false }], { term: 8 })
      .then(
        () => null,
        (err: unknown) => err,
      );
    assert.ok(isStaleTerm(refused), String(refused));
    assert.deepEqual([refused.term, refused.storeTerm], [8, 9]);
    assert.equal(await raw.get(keys.nodeStates), before, 'the refused write changed nothing');
    assert.equal(await raw.get(keys.controllerTerm), '9');
  });
});
