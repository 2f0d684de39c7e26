/**
 * The controller's store connection never replays a write (docs/store.md, "Controller terms"): a
 * command issued while disconnected fails at once instead of waiting in ioredis' offline queue, and
 * one in flight when the connection dropped is not resent after the reconnect. A speaker's
 * connection keeps ioredis' defaults, which is what the audit saw land seconds late: the contrast is
 * part of the test. Each client talks to Redis through its own TCP proxy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { redisConnectionFrom } from '../../shared/store/redis-options.ts';
import { RedisStore } from '../../shared/store/redis-store.ts';
import type { NodeState } from '../../shared/store/store.ts';
import { storeKeys } from '../../shared/store/store-keys.ts';
import { startRedis, type TestRedis } from '../harness/redis.ts';
import { captureLogs } from '../kube/log-capture.ts';
import { rawClient, uniquePrefix } from './redis-test-store.ts';
import { TcpProxy } from './tcp-proxy.ts';

const STATES: NodeState[] = [{ node: 'a', ready: false, excludeFromExternalLB: false }];

describe('a store connection without replay', { timeout: 30_000 }, () => {
  let redis: TestRedis;
  let raw: Redis;
  const closers: (() => Promise<void>)[] = [];
  before(async () => {
    redis = await startRedis();
    raw = rawClient(redis);
  });
  after(async () => {
    for (const close of closers) await close();
    raw?.disconnect();
    await redis?.stop();
  });

  /** A store on its own proxy; `noReplay` as the controller opens it. */
  async function storeBehindProxy(noReplay: boolean) {
    const proxy = await TcpProxy.start({ host: redis.host, port: redis.port });
    const prefix = uniquePrefix();
    const conn = redisConnectionFrom(
      { redisUrl: proxy.url('redis'), redisKeyPrefix: prefix, redisCommandTimeoutMs: 1000 },
      { env: {}, readFile: () => '' },
    );
    assert.ok(conn.ok);
    const { logger, lines } = captureLogs();
    const store = new RedisStore(conn.value, { noReplay, logger });
    closers.push(
      () => store.close(),
      () => proxy.close(),
    );
    await store.whenReady();
    const reconnected = () => new Promise<void>((resolve) => store.onReconnect(resolve));
    const unreachable = () =>
      lines.until((ls) => ls.some((l) => l.event === 'store-unreachable'), 'the client to see the cut');
    return { store, proxy, keys: storeKeys(prefix), reconnected, unreachable };
  }

  /** Send a node-state write, hold it on the wire, drop the connection, and let the client reconnect. */
  async function dropInFlightWrite(noReplay: boolean) {
    const { store, proxy, keys, reconnected } = await storeBehindProxy(noReplay);
    const held = proxy.holdWhen((chunk) => chunk.includes(keys.nodeStates));
    const write = store.publishNodeStates(STATES, { term: 1 }).then(
      () => 'landed',
      (err: Error) => err.message,
    );
    await held;
    const back = reconnected();
    proxy.block();
    proxy.release();
    proxy.unblock();
    await back;
    // Sent after whatever the client resends on reconnect, so any resend has run by its reply.
    await store.controllerTerm();
    return { stored: await raw.get(keys.nodeStates), outcome: await write };
  }

  it('does not resend a write that was in flight when the connection dropped', async () => {
    const { stored, outcome } = await dropInFlightWrite(true);
    assert.equal(stored, null, 'the write never landed');
    assert.notEqual(outcome, 'landed', 'its caller saw it fail');
  });

  it('contrast: a connection with ioredis defaults (a speaker) resends it after the reconnect', async () => {
    const { stored } = await dropInFlightWrite(false);
    assert.equal(stored, JSON.stringify(STATES));
  });

  it('fails a write issued while disconnected at once instead of queueing it', async () => {
    const { store, proxy, keys, reconnected, unreachable } = await storeBehindProxy(true);
    const back = reconnected();
    proxy.block();
    await unreachable();
    const started = performance.now();
    await assert.rejects(store.publishNodeStates(STATES, { term: 1 }), /enableOfflineQueue/);
    assert.ok(performance.now() - started < 500, 'failed without waiting for a reconnect');
    proxy.unblock();
    await back;
    await store.controllerTerm();
    assert.equal(await raw.get(keys.nodeStates), null, 'nothing was queued and sent later');
  });
});
