import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { silentLogger } from '../../shared/log.ts';
import { HealthChecker } from '../../speaker/health/health-checker.ts';
import { type HealthState, healthTargetKey } from '../../speaker/health/health-target.ts';
import type { Speaker } from '../../speaker/speaker.ts';
import { startTestSpeaker } from '../harness/speaker.ts';
import {
  type Backend,
  freePort,
  listenerDoc,
  loopbackAddress,
  roundTrip,
  startBackend,
  within,
} from './loopback.ts';

describe('failover with the real health checker', () => {
  let dir: string;
  let a: Backend;
  let b: Backend;
  let health: HealthChecker;
  let speaker: Speaker;
  let vip: string;
  let port: number;
  let keyB: string;

  /** Resolves when target `key` reaches `state` (at once if it is there already). */
  const reaches = (key: string, state: HealthState) =>
    new Promise<void>((resolve) => {
      if (health.state(key) === state) return resolve();
      health.onChange((c) => {
        if (c.key === key && c.state === state) resolve();
      });
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-failover-'));
    a = await startBackend();
    b = await startBackend();
    vip = loopbackAddress();
    port = await freePort(vip);
    const backends = [a, b].map((x) => ({ address: x.address, nodePort: x.port }));
    keyB = healthTargetKey({ type: 'tcp' }, { node: '', ...backends[1]! });
    const path = join(dir, 'table.json');
    await writeFile(
      path,
      JSON.stringify({
        version: 1,
        listeners: [
          listenerDoc({
            vip,
            port,
            backends,
            // Probes alone need three failures, two seconds and more, to eject a backend: far more
            // than the clients below take, even on a loaded machine, so only the passive report of a
            // failed connect can eject it in time. No healthy target flaps either (a rebuilt picker
            // starts at a random place, which would skew the round-robin count at the end).
            healthCheck: { type: 'tcp', interval: '1s', timeout: '500ms', rise: 1, fall: 3 },
          }),
        ],
      }),
    );
    health = new HealthChecker({ logger: silentLogger(), registry: new Registry() });
    speaker = await startTestSpeaker({
      tablePath: path,
      health,
    });
  });

  after(async () => {
    await speaker.stop();
    await a.close();
    await b.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('loses no new client when a backend dies, ejects it, and readmits it when it is back', {
    timeout: 20_000,
  }, async () => {
    const keyA = healthTargetKey({ type: 'tcp' }, { node: '', address: a.address, nodePort: a.port });
    await within(
      5000,
      'both backends healthy',
      Promise.all([reaches(keyA, 'healthy'), reaches(keyB, 'healthy')]),
    );
    const bAddress = b.address;
    const bPort = b.port;
    await b.close();
    // Round-robin sends every other new client to the dead backend until it is ejected.
    for (let i = 0; i < 6; i++) {
      const got = await within(5000, `client ${i}`, roundTrip(vip, port, `request ${i}`));
      assert.equal(got.error, null, `client ${i} failed: ${got.error}`);
      assert.equal(got.data.toString(), `request ${i}`);
    }
    assert.equal(health.state(keyB), 'unhealthy');
    // With fall: 3 the probes need three intervals to eject it; the clients took far less: a
    // connect failed, was retried, and the passive report ejected the backend.
    const [stats] = await speaker.plane.stats();
    assert.ok(stats!.stats.retries >= 1, `retries: ${stats!.stats.retries}`);
    assert.equal(stats!.stats.rejected['connect-failed'], 0);

    // Health probes connect too: count the clients by what they send.
    const requests: string[] = [];
    b = await startBackend({
      address: bAddress,
      port: bPort,
      onSocket: (s) => {
        s.on('data', (d: Buffer) => requests.push(d.toString()));
        s.pipe(s);
      },
    });
    await within(5000, 'the backend to rise again', reaches(keyB, 'healthy'));
    for (let i = 0; i < 4; i++) {
      const got = await within(5000, `client ${i} after the return`, roundTrip(vip, port, `again ${i}`));
      assert.equal(got.data.toString(), `again ${i}`);
    }
    assert.equal(requests.length, 2, 'round-robin gives the readmitted backend half of the new clients');
  });
});
