import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { healthTargetKey } from '../../speaker/health/health-target.ts';
import type { Speaker } from '../../speaker/speaker.ts';
import { startTestSpeaker } from '../harness/speaker.ts';
import { dataPlaneUnderTest } from './forwarder-fixture.ts';
import {
  type Backend,
  freePort,
  listenerDoc,
  loopbackAddress,
  roundTrip,
  startBackend,
  within,
} from './loopback.ts';
import { RecordingHealth } from './recording-health.ts';

describe('forwarding in worker threads', () => {
  let dir: string;
  let live: Backend;
  let speaker: Speaker;
  let vip: string;
  let port: number;
  /** A second listener on the same backends, limited to one connection per speaker. */
  let limitedVip: string;
  let limitedPort: number;
  let deadKey: string;
  let liveKey: string;
  const health = new RecordingHealth();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-workers-'));
    live = await startBackend();
    const deadAddress = loopbackAddress();
    const dead = { address: deadAddress, nodePort: await freePort(deadAddress) };
    deadKey = healthTargetKey({ type: 'tcp' }, { node: '', ...dead });
    liveKey = healthTargetKey({ type: 'tcp' }, { node: '', address: live.address, nodePort: live.port });
    vip = loopbackAddress();
    port = await freePort(vip);
    limitedVip = loopbackAddress();
    limitedPort = await freePort(limitedVip);
    const backends = [dead, { address: live.address, nodePort: live.port }];
    const path = join(dir, 'table.json');
    await writeFile(
      path,
      JSON.stringify({
        version: 3,
        listeners: [
          listenerDoc({ vip, port, backends }),
          listenerDoc({
            service: 'default/limited',
            vip: limitedVip,
            port: limitedPort,
            maxConnections: 1,
            backends,
          }),
        ],
      }),
    );
    speaker = await startTestSpeaker({
      tablePath: path,
      workers: 2,
      dataPlane: dataPlaneUnderTest(),
      health,
    });
  });

  after(async () => {
    await speaker.stop();
    await live.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves from two workers, sends their failed connects to the main thread, sums their counters', {
    timeout: 20_000,
  }, async () => {
    assert.equal(speaker.plane.threads, 2);
    // The kernel spreads connections over the workers; each worker's round-robin tries the dead
    // backend at most once before it is excluded there.
    for (let i = 0; i < 8; i++) {
      const got = await within(5000, `client ${i}`, roundTrip(vip, port, `hi ${i}`));
      assert.equal(got.data.toString(), `hi ${i}`);
    }
    assert.ok(health.failures.length >= 1 && health.failures.length <= 2, `failures ${health.failures}`);
    assert.ok(health.failures.every((k) => k === deadKey));
    const entry = (await speaker.plane.stats()).find((e) => e.service === 'default/web');
    assert.equal(entry!.stats.total, 8);
    assert.equal(entry!.stats.connectFailures, health.failures.length);
    assert.equal(entry!.bound, true);
  });

  it('counts maxConnections per speaker across workers', { timeout: 20_000 }, async () => {
    const clients: Socket[] = [];
    // With a limit of 1 only one of these can be open at a time, whichever worker accepts it.
    for (let i = 0; i < 4; i++) {
      const s = connect({ host: limitedVip, port: limitedPort });
      s.on('error', () => {});
      s.write('x');
      clients.push(s);
    }
    const outcomes = await within(
      5000,
      'every client to be answered or reset',
      Promise.all(
        clients.map(
          (s) =>
            new Promise<string>((resolve) => {
              s.once('data', () => resolve('served'));
              s.once('close', () => resolve('reset'));
            }),
        ),
      ),
    );
    assert.equal(outcomes.filter((o) => o === 'served').length, 1);
    assert.equal(outcomes.filter((o) => o === 'reset').length, 3);
    for (const s of clients) s.destroy();
    const entry = (await speaker.plane.stats()).find((e) => e.service === 'default/limited');
    assert.equal(entry!.stats.rejected.limit, 3);
  });

  it('applies health changes from the main thread in every worker', { timeout: 20_000 }, async () => {
    // The dead backend is unhealthy since the first test; marking the live one unhealthy too makes
    // every worker's listener fail open, which each worker reports in its counters.
    health.set(deadKey, 'unhealthy');
    health.set(liveKey, 'unhealthy');
    const failingOpen = async () =>
      (await speaker.plane.stats()).find((e) => e.service === 'default/web')!.stats.failingOpen;
    for (let i = 0; i < 100 && (await failingOpen()) !== 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await failingOpen(), 2, 'both workers have the change');
    health.set(liveKey, 'healthy');
    for (let i = 0; i < 100 && (await failingOpen()) !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await failingOpen(), 0, 'both workers have the change back');
  });
});
