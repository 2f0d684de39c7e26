import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RedisStore } from '../../shared/store/redis-store.ts';
import { VipLeases } from '../../speaker/ownership/lease.ts';
import { startRedis, type TestRedis } from '../harness/redis.ts';
import { EventQueue, eventually } from './await-events.ts';
import { openRedisStore, uniquePrefix } from './redis-test-store.ts';

const HOLDER = fileURLToPath(new URL('./fixtures/lease-holder.ts', import.meta.url));
const VIP = '198.18.3.1';
const TIMING = { ttlMs: 400, renewMs: 100, marginMs: 50 };

describe('a lease holder process stopped with SIGSTOP', { timeout: 30_000 }, () => {
  let redis: TestRedis;
  let child: ChildProcess | undefined;
  const stores: RedisStore[] = [];
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    await Promise.all(stores.map((s) => s.close()));
    await redis.stop();
  });

  it('never announces after it resumes past its TTL, and reports the lease lost', async () => {
    const prefix = uniquePrefix();
    const lines = new EventQueue<string>();
    const seen: string[] = [];
    child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        HOLDER,
        redis.url,
        prefix,
        VIP,
        String(TIMING.ttlMs),
        String(TIMING.renewMs),
        String(TIMING.marginMs),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        seen.push(line);
        lines.push(line);
      }
    });
    const gained = await lines.next(
      (l) => l.startsWith('GAINED') || l.startsWith('NOT-GAINED'),
      15_000,
      'the holder to start',
    );
    assert.match(gained, /^GAINED \d+$/);
    await lines.next((l) => l === 'ANNOUNCE', 5000, 'the holder to announce');

    child.kill('SIGSTOP');
    // Another node takes the VIP once the stopped holder's TTL has run out in Redis.
    const store = openRedisStore(redis, prefix);
    stores.push(store);
    const other = new VipLeases({ store, node: 'other', timing: TIMING, onLost: () => {} });
    const taken = await eventually(
      async () => {
        const o = await other.acquire(VIP);
        return o.kind === 'gained' ? o : undefined;
      },
      5000,
      'the other node to acquire',
    );
    assert.ok(taken.epoch > Number(gained.split(' ')[1]));
    // Everything the holder wrote before it stopped has been read by now (it stopped > TTL ago).
    const beforeResume = seen.length;
    child.kill('SIGCONT');
    const lost = await lines.next((l) => l.startsWith('LOST'), 5000, 'the holder to report the loss');
    assert.ok(lost === 'LOST deadline' || lost === 'LOST refused', lost);
    const afterResume = seen.slice(beforeResume);
    assert.deepEqual(
      afterResume.filter((l) => l === 'ANNOUNCE'),
      [],
      `announced after resuming: ${afterResume.join(' | ')}`,
    );
    await other.close();
  });
});
