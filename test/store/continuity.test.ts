/**
 * The Redis store's incarnation against a real redis-server: stable while the server keeps its
 * memory, new after a wipe or a restart, and the fence of an acquire that names it
 * (docs/store.md, "Store continuity").
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { redisConnectionFrom } from '../../shared/store/redis-options.ts';
import { RedisStore } from '../../shared/store/redis-store.ts';
import { OtherIncarnationError } from '../../shared/store/store.ts';
import { storeKeys } from '../../shared/store/store-keys.ts';
import { captureLogs } from '../kube/log-capture.ts';
import { eventually } from './await-events.ts';
import { uniquePrefix, useRedisRig } from './redis-test-store.ts';
import { TcpProxy } from './tcp-proxy.ts';

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

  describe('an acquire that names the incarnation it was decided on', () => {
    const closers: (() => Promise<void>)[] = [];
    after(async () => {
      for (const close of closers) await close();
    });

    it('is refused when ioredis sends it, queued during a restart without persistence, to the new server; one naming none takes the forgotten lease', async () => {
      const prefix = uniquePrefix();
      // A speaker's connection (ioredis defaults: the offline queue on) through a proxy that can cut it.
      const proxy = await TcpProxy.start({ host: rig.redis.host, port: rig.redis.port });
      const conn = redisConnectionFrom(
        { redisUrl: proxy.url('redis'), redisKeyPrefix: prefix, redisCommandTimeoutMs: 10_000 },
        { env: {}, readFile: () => '' },
      );
      assert.ok(conn.ok);
      const { logger, lines } = captureLogs();
      const speaker = new RedisStore(conn.value, { logger });
      closers.push(
        () => speaker.close(),
        () => proxy.close(),
      );
      await speaker.whenReady();
      const holder = rig.open(prefix);
      const [fenced, unfenced] = ['198.18.0.1', '198.18.0.2'];
      for (const vip of [fenced!, unfenced!]) {
        assert.ok(
          (await holder.acquireLease({ vip, node: 'a', token: randomUUID(), ttlMs: 60_000 })).acquired,
        );
      }
      const decidedOn = await speaker.incarnation();

      proxy.block();
      await lines.until(
        (ls) => ls.some((l) => l.event === 'store-unreachable'),
        'the speaker to see the cut',
      );
      const request = { node: 'b', ttlMs: 5000, minEpoch: 0 };
      const queued = speaker
        .acquireLease({ ...request, vip: fenced!, token: randomUUID(), incarnation: decidedOn })
        .then(
          (grant) => grant,
          (err: unknown) => err,
        );
      const queuedUnfenced = speaker.acquireLease({ ...request, vip: unfenced!, token: randomUUID() });
      await rig.redis.restart();
      proxy.unblock();

      const refused = await queued;
      assert.ok(refused instanceof OtherIncarnationError, `refused, not ${JSON.stringify(refused)}`);
      const now = await speaker.incarnation();
      assert.notEqual(now, decidedOn);
      assert.equal(refused.expected, decidedOn);
      assert.equal(refused.incarnation, now, 'the refusal names the store as it is now');
      assert.deepEqual(await holder.readLeases([fenced!]), [], 'nothing was written');
      // The hazard the fence closes: the same request without it takes a VIP whose holder lives.
      assert.equal((await queuedUnfenced).acquired, true);
      assert.deepEqual(
        (await holder.readLeases([unfenced!])).map((l) => l.holder),
        ['b'],
      );
    });
  });
});
