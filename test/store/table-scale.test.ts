import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import type { ForwardingTable } from '../../shared/model.ts';
import type { RedisStore } from '../../shared/store/redis-store.ts';
import { startRedis, type TestRedis } from '../harness/redis.ts';
import { EventQueue } from './await-events.ts';
import { openRedisStore, uniquePrefix } from './redis-test-store.ts';
import { makeTable } from './table-fixture.ts';

/** Run `work` while measuring the longest event-loop block two ways; returns both in ms. */
async function measureBlocking<T>(
  work: () => Promise<T>,
): Promise<{ result: T; histogramMaxMs: number; probeMaxMs: number; totalMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  let probeMaxMs = 0;
  let last = performance.now();
  const probe = setInterval(() => {
    const now = performance.now();
    probeMaxMs = Math.max(probeMaxMs, now - last);
    last = now;
  }, 1);
  h.enable();
  const start = performance.now();
  const result = await work();
  const totalMs = performance.now() - start;
  h.disable();
  clearInterval(probe);
  return { result, histogramMaxMs: h.max / 1e6, probeMaxMs, totalMs };
}

const fmt = (n: number): string => n.toFixed(1);

describe('a 10,000-listener table', { timeout: 120_000 }, () => {
  let redis: TestRedis;
  const stores: RedisStore[] = [];
  let table: ForwardingTable;
  before(async () => {
    redis = await startRedis();
    table = makeTable(10_000);
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await redis.stop();
  });

  it('publishes in full and reaches a subscriber whole; the longest event-loop blocks are reported', async (t) => {
    const prefix = uniquePrefix();
    const pub = openRedisStore(redis, prefix);
    const subStore = openRedisStore(redis, prefix);
    stores.push(pub, subStore);
    await pub.listSpeakers(); // connect first, so the measurement is the publish alone
    const p = await measureBlocking(() => pub.publishTable(table));
    assert.equal(p.result.listeners, 10_000);
    assert.equal(p.result.mode, 'full');
    t.diagnostic(
      `publish 10000 listeners: total ${fmt(p.totalMs)} ms, longest event-loop block ` +
        `${fmt(p.histogramMaxMs)} ms (monitorEventLoopDelay max), ${fmt(p.probeMaxMs)} ms (1 ms timer probe)`,
    );

    const tables = new EventQueue<ForwardingTable>();
    const s = await measureBlocking(async () => {
      subStore.subscribeTable({ onTable: tables.push }, { resyncIntervalMs: 0 });
      return tables.next(undefined, 60_000, 'the 10k table');
    });
    assert.equal(s.result.listeners.length, 10_000);
    assert.equal(s.result.version, p.result.version);
    t.diagnostic(
      `subscribe and load 10000 listeners: total ${fmt(s.totalMs)} ms, longest event-loop block ` +
        `${fmt(s.histogramMaxMs)} ms (monitorEventLoopDelay max), ${fmt(s.probeMaxMs)} ms (1 ms timer probe)`,
    );

    // One changed listener out of 10,000 travels as a delta, not a rewrite.
    const changed = {
      version: 0,
      listeners: table.listeners.map((l, i) => (i === 17 ? { ...l, maxConnections: 5 } : l)),
    };
    const d = await measureBlocking(() => pub.publishTable(changed));
    assert.equal(d.result.mode, 'delta');
    const next = await tables.next((x) => x.version === d.result.version, 30_000, 'the delta');
    assert.equal(next.listeners.find((l) => l.service === table.listeners[17]!.service)?.maxConnections, 5);
    t.diagnostic(
      `delta publish of 1 listener in 10000: total ${fmt(d.totalMs)} ms, longest block ${fmt(d.histogramMaxMs)} ms`,
    );
  });
});
