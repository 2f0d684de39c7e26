import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listenerKey } from '../../shared/model.ts';
import { healthTargetKey } from '../../speaker/health/health-target.ts';
import { startForwarder } from './forwarder-fixture.ts';
import {
  type Backend,
  freePort,
  listenerDoc,
  loopbackAddress,
  onlyListener,
  roundTrip,
  silentClient,
  startBackend,
  startBlackhole,
  table,
  within,
} from './loopback.ts';

/** An address and port where nothing listens: connects are refused at once. */
async function deadBackend(): Promise<{ address: string; nodePort: number }> {
  const address = loopbackAddress();
  return { address, nodePort: await freePort(address) };
}

const tcpKey = (b: { address: string; nodePort: number }) =>
  healthTargetKey({ type: 'tcp' }, { node: '', address: b.address, nodePort: b.nodePort });

describe('connect failures', () => {
  let live: Backend;
  before(async () => {
    live = await startBackend();
  });
  after(async () => {
    await live.close();
  });

  it('retries a refused connect on the live backend, reports the dead one once and stops picking it', {
    timeout: 15_000,
  }, async () => {
    const dead = await deadBackend();
    const vip = loopbackAddress();
    const t = table([
      listenerDoc({
        vip,
        port: await freePort(vip),
        backends: [dead, { address: live.address, nodePort: live.port }],
      }),
    ]);
    const fx = await startForwarder(t);
    try {
      for (let i = 0; i < 6; i++) {
        const got = await within(5000, `client ${i}`, roundTrip(vip, onlyListener(t).port, `hello ${i}`));
        assert.equal(got.error, null, `client ${i} saw an error`);
        assert.equal(got.data.toString(), `hello ${i}`);
      }
      const stats = fx.stats(listenerKey(onlyListener(t)));
      assert.deepEqual(fx.failures, [tcpKey(dead)]);
      assert.equal(stats.connectFailures, 1);
      assert.equal(stats.retries, 1);
      assert.equal(stats.rejected['connect-failed'], 0);
    } finally {
      await fx.close();
    }
  });

  it('times out a connect that gets no answer exactly once, then retries elsewhere', {
    timeout: 15_000,
  }, async () => {
    const hole = await startBlackhole();
    const vip = loopbackAddress();
    const t = table([
      listenerDoc({
        vip,
        port: await freePort(vip),
        // The connect timeout also bounds the retry on the live backend, so it must outlast a
        // scheduling stall there; the blackholed connect still times out (after 1 to 1.5 s).
        timeouts: { connect: '1s' },
        backends: [
          { address: hole.address, nodePort: hole.port },
          { address: live.address, nodePort: live.port },
        ],
      }),
    ]);
    const fx = await startForwarder(t);
    try {
      // Round-robin sends one of two sequential clients to the blackhole first.
      for (let i = 0; i < 2; i++) {
        const got = await within(5000, `client ${i}`, roundTrip(vip, onlyListener(t).port, `ping ${i}`));
        assert.equal(got.data.toString(), `ping ${i}`);
      }
      const stats = fx.stats(listenerKey(onlyListener(t)));
      assert.equal(stats.connectTimeouts, 1);
      assert.equal(stats.connectFailures, 1);
      assert.deepEqual(fx.failures, [tcpKey({ address: hole.address, nodePort: hole.port })]);
    } finally {
      await fx.close();
      await hole.close();
    }
  });

  it('fails open when every backend fails its health checks: serves through one whose NodePort accepts', {
    timeout: 10_000,
  }, async () => {
    const vip = loopbackAddress();
    const backends = [{ address: live.address, nodePort: live.port }];
    const t = table([listenerDoc({ vip, port: await freePort(vip), backends })]);
    const fx = await startForwarder(t, { health: new Map([[tcpKey(backends[0]!), 'unhealthy']]) });
    try {
      const got = await within(5000, 'client to be served', roundTrip(vip, onlyListener(t).port, 'open'));
      assert.equal(got.error, null);
      assert.equal(got.data.toString(), 'open');
      const stats = fx.stats(listenerKey(onlyListener(t)));
      assert.equal(stats.failingOpen, 1);
      assert.equal(stats.rejected['no-backend'], 0);
    } finally {
      await fx.close();
    }
  });

  it('resets the client after connectAttempts refused connects, then refuses new clients at once', {
    timeout: 10_000,
  }, async () => {
    const dead = [await deadBackend(), await deadBackend(), await deadBackend()];
    const vip = loopbackAddress();
    const t = table([listenerDoc({ vip, port: await freePort(vip), connectAttempts: 3, backends: dead })]);
    const fx = await startForwarder(t);
    try {
      const first = await within(5000, 'first client', silentClient(vip, onlyListener(t).port));
      assert.equal(first.error, 'ECONNRESET');
      assert.deepEqual([...fx.failures].sort(), dead.map(tcpKey).sort());
      const second = await within(5000, 'second client', silentClient(vip, onlyListener(t).port));
      assert.equal(second.error, 'ECONNRESET');
      const stats = fx.stats(listenerKey(onlyListener(t)));
      assert.equal(
        stats.connectFailures,
        3,
        'no connect was sprayed at the dead backends for the second client',
      );
      assert.equal(stats.rejected['connect-failed'], 1);
      assert.equal(stats.rejected['no-backend'], 1);
    } finally {
      await fx.close();
    }
  });
});
