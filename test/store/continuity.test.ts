/**
 * The Redis store's incarnation against a real redis-server: stable while the server keeps its
 * memory, new after a wipe or a restart (docs/store.md, "Store continuity").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RedisStore } from '../../shared/store/redis-store.ts';
import { storeKeys } from '../../shared/store/store-keys.ts';
import { eventually } from './await-events.ts';
import { uniquePrefix, useRedisRig } from './redis-test-store.ts';

/** The two parts of an incarnation: the server's run_id and the marker key's value. */
function parts(incarnation: string): { runId: string; marker: string } {
  const [runId = '', marker = ''] = incarnation.split('/');
  return { runId, marker };
}

describe('Redis store incarnation', { timeout: 60_000 }, () => {
  const rig = useRedisRig();

  /** The incarnation once the store answers again (commands fail while a restart is under way). */
  function incarnationAfterOutage(store: RedisStore): Promise<string> {
    return eventually(
      () => store.incarnation().catch(() => undefined),
      15_000,
      'the store to answer after the restart',
    );
  }

  it('keeps the same incarnation across calls: the server run_id and the marker key', async () => {
    const prefix = uniquePrefix();
    const store = rig.open(prefix);
    const first = await store.incarnation();
    assert.equal(await store.incarnation(), first);
    const { runId, marker } = parts(first);
    assert.match(marker, /^[0-9a-f]{16}$/);
    assert.equal(await rig.raw.get(storeKeys(prefix).incarnation), marker);
    assert.ok((await rig.raw.info('server')).includes(`run_id:${runId}`), `run_id ${runId}`);
  });

  it('changes the incarnation after FLUSHALL, then keeps the new one', async () => {
    const store = rig.open(uniquePrefix());
    const earlier = await store.incarnation();
    await rig.raw.flushall();
    const afterFlush = await store.incarnation();
    assert.notEqual(afterFlush, earlier);
    assert.equal(parts(afterFlush).runId, parts(earlier).runId, 'same server');
    assert.notEqual(parts(afterFlush).marker, parts(earlier).marker, 'a new marker');
    assert.equal(await store.incarnation(), afterFlush);
  });

  it('changes the incarnation after a restart without persistence, once the client has reconnected', async () => {
    const store = rig.open(uniquePrefix());
    const earlier = await store.incarnation();
    await rig.redis.restart();
    const afterRestart = await incarnationAfterOutage(store);
    assert.notEqual(parts(afterRestart).runId, parts(earlier).runId, 'a new server process');
    assert.notEqual(parts(afterRestart).marker, parts(earlier).marker, 'the marker was lost with the data');
    assert.equal(await store.incarnation(), afterRestart);
  });

  it('changes the incarnation after a restart that loads saved data, through the run_id alone', async () => {
    const store = rig.open(uniquePrefix());
    const earlier = await store.incarnation();
    await rig.redis.restart({ keepData: true });
    const afterRestart = await incarnationAfterOutage(store);
    assert.notEqual(parts(afterRestart).runId, parts(earlier).runId);
    assert.equal(parts(afterRestart).marker, parts(earlier).marker, 'the marker came back from the dump');
  });
});
