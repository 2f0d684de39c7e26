import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../shared/log.ts';
import { redisConnectionFrom } from '../../shared/store/redis-options.ts';
import { RedisStore } from '../../shared/store/redis-store.ts';
import { freePort } from '../harness/ports.ts';
import { startRedis, type TestRedis } from '../harness/redis.ts';
import { eventually } from '../store/await-events.ts';
import { BIN, runCli } from './run-cli.ts';

describe('switchyard controller --config', { timeout: 60_000 }, () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  it('publishes the table and node states to Redis, serves pool metrics, and stops on SIGTERM', async () => {
    const metricsPort = await freePort();
    const child = spawn(
      process.execPath,
      [
        BIN,
        'controller',
        '--config',
        'examples/demo.yaml',
        '--redis-url',
        redis.url,
        '--kube-proxy-health-port',
        '0',
        '--metrics-address',
        `127.0.0.1:${metricsPort}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const conn = redisConnectionFrom({ redisUrl: redis.url });
    assert.ok(conn.ok);
    const store = new RedisStore(conn.value, { logger: silentLogger() });
    try {
      // Node and tsx alone can take several seconds to start beside two CPU hogs: 30 s, bounded.
      let load = await store.loadTable();
      for (let i = 0; i < 300 && load.state !== 'ok'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        load = await store.loadTable();
      }
      assert.equal(load.state, 'ok', stderr);
      if (load.state === 'ok') {
        assert.deepEqual(
          load.table.listeners.map((l) => `${l.service} ${l.vip}:${l.port}`),
          ['demo/web 127.0.10.1:8080', 'demo/api 127.0.10.2:9090', 'shop/orders 127.0.10.3:7070'],
        );
        assert.deepEqual(load.table.listeners[0]!.healthCheck, { type: 'tcp' });
      }
      // The table is published first; the node states and the gauges follow within the same pass.
      let last = '';
      await eventually(
        async () => {
          const nodes = await store.nodeStates();
          const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
            (r) => r.text(),
            (err: Error) => `no answer: ${err.message}`,
          );
          last = `node states: ${nodes?.size ?? 'none'}\n${metrics}`;
          return (
            nodes?.size === 3 &&
            /switchyard_pool_addresses\{pool="demo",family="IPv4",state="assigned"\} 3/.test(metrics) &&
            /switchyard_services\{state="allocated"\} 3/.test(metrics)
          );
        },
        10_000,
        'node states of 3 nodes, 3 addresses assigned and 3 Services allocated',
        100,
      ).catch((err: Error) => assert.fail(`${err.message}; last seen:\n${last}\n${stderr}`));
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0, stderr);
    } finally {
      child.kill('SIGKILL');
      await store.close();
    }
  });

  it('exits 1 with one clear line when Redis does not answer', async () => {
    const r = await runCli([
      'controller',
      '--config',
      'examples/demo.yaml',
      '--redis-url',
      'redis://127.0.0.1:1',
      '--metrics-address',
      '127.0.0.1:0',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: .*Redis does not answer.*--redis-url/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
});
