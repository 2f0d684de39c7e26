import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { listenerKey } from '../../shared/model.ts';
import { startForwarder } from './forwarder-fixture.ts';
import {
  type Backend,
  collect,
  connectClient,
  freePort,
  listenerDoc,
  loopbackAddress,
  onlyListener,
  silentClient,
  startBackend,
  table,
  within,
} from './loopback.ts';

/** Connect and prove the connection is proxied with one echoed message. */
async function openEchoed(host: string, port: number): Promise<Socket> {
  const s = await connectClient(host, port);
  s.write('ping');
  const [d] = (await within(5000, 'echo', once(s, 'data'))) as [Buffer];
  assert.equal(d.toString(), 'ping');
  return s;
}

describe('limits, source ranges and timeouts', () => {
  let backend: Backend;
  let backends: { address: string; nodePort: number }[];
  before(async () => {
    backend = await startBackend();
    backends = [{ address: backend.address, nodePort: backend.port }];
  });
  after(async () => {
    await backend.close();
  });

  it('resets a client over the listener maxConnections at once and counts it', {
    timeout: 10_000,
  }, async () => {
    const vip = loopbackAddress();
    const t = table([listenerDoc({ vip, port: await freePort(vip), maxConnections: 2, backends })]);
    const { port } = onlyListener(t);
    const fx = await startForwarder(t);
    try {
      const a = await openEchoed(vip, port);
      const b = await openEchoed(vip, port);
      const over = await within(2000, 'third client', silentClient(vip, port));
      assert.equal(over.error, 'ECONNRESET');
      assert.equal(fx.stats(listenerKey(onlyListener(t))).rejected.limit, 1);
      const closed = once(a, 'close');
      a.destroy();
      await closed;
      // The slot frees once the proxy has seen the close; retry until it has (bounded).
      let c: Socket | null = null;
      for (let i = 0; i < 50 && c === null; i++) {
        const s = connect({ host: vip, port });
        const ending = collect(s);
        s.write('ping');
        const first = await Promise.race([
          new Promise((resolve) => s.once('data', () => resolve('data'))),
          ending.then(() => 'closed'),
        ]);
        if (first === 'data') c = s;
      }
      assert.ok(c, 'a new client is served once one has left');
      c.destroy();
      b.destroy();
    } finally {
      await fx.close();
    }
  });

  it('resets a client over the speaker-wide limit across listeners and counts it', {
    timeout: 10_000,
  }, async () => {
    const vip1 = loopbackAddress();
    const vip2 = loopbackAddress();
    const t = table([
      listenerDoc({ vip: vip1, port: await freePort(vip1), backends }),
      listenerDoc({ vip: vip2, port: await freePort(vip2), backends }),
    ]);
    const [l1, l2] = t.listeners;
    const fx = await startForwarder(t, { speakerMax: 1 });
    try {
      const a = await openEchoed(vip1, l1!.port);
      const over = await within(2000, 'client of the other listener', silentClient(vip2, l2!.port));
      assert.equal(over.error, 'ECONNRESET');
      assert.equal(fx.stats(listenerKey(l2!)).rejected['speaker-limit'], 1);
      a.destroy();
    } finally {
      await fx.close();
    }
  });

  it('resets a client outside loadBalancerSourceRanges and serves one inside', {
    timeout: 10_000,
  }, async () => {
    const vip = loopbackAddress();
    const t = table([
      listenerDoc({ vip, port: await freePort(vip), loadBalancerSourceRanges: ['127.77.0.0/16'], backends }),
    ]);
    const { port } = onlyListener(t);
    const fx = await startForwarder(t);
    try {
      const inside = connect({ host: vip, port, localAddress: '127.77.1.1' });
      const insideEnding = collect(inside);
      inside.end('allowed');
      assert.equal((await within(5000, 'allowed client', insideEnding)).data.toString(), 'allowed');
      const outside = await within(
        2000,
        'denied client',
        collect(connect({ host: vip, port, localAddress: '127.78.1.1' })),
      );
      assert.equal(outside.error, 'ECONNRESET');
      assert.equal(fx.stats(listenerKey(onlyListener(t))).rejected['source-range'], 1);
    } finally {
      await fx.close();
    }
  });

  it('closes a silent client after the idle timeout but not a chatty one', { timeout: 10_000 }, async () => {
    const vip = loopbackAddress();
    // The idle timeout is ten chatty intervals, so a scheduling stall of several hundred ms (a
    // loaded CI machine) cannot make the chatty client look idle; the silent one still goes.
    const t = table([listenerDoc({ vip, port: await freePort(vip), timeouts: { idle: '1s' }, backends })]);
    const { port } = onlyListener(t);
    const fx = await startForwarder(t);
    try {
      const chatty = await openEchoed(vip, port);
      const chattyEnding = collect(chatty);
      let chattyClosed = false;
      void chattyEnding.then(() => {
        chattyClosed = true;
      });
      const silent = connect({ host: vip, port });
      const silentEnding = collect(silent);
      const ticker = setInterval(() => chatty.write('.'), 100);
      try {
        const ending = await within(5000, 'silent client to be closed', silentEnding);
        assert.equal(ending.data.length, 0);
        assert.equal(chattyClosed, false, 'a client sending every 100 ms is not idle');
      } finally {
        clearInterval(ticker);
      }
      assert.equal(fx.stats(listenerKey(onlyListener(t))).idleTimeouts, 1);
      chatty.destroy();
    } finally {
      await fx.close();
    }
  });

  it('closes a half-closed connection after the half-closed timeout', { timeout: 10_000 }, async () => {
    const quiet = await startBackend({ onSocket: (s) => s.resume() });
    const vip = loopbackAddress();
    const t = table([
      listenerDoc({
        vip,
        port: await freePort(vip),
        timeouts: { halfClosed: '300ms' },
        backends: [{ address: quiet.address, nodePort: quiet.port }],
      }),
    ]);
    const fx = await startForwarder(t);
    try {
      const client = await connectClient(vip, onlyListener(t).port);
      const ending = collect(client);
      // The client is done sending; the backend never answers nor closes.
      client.end('bye');
      await within(5000, 'half-closed connection to be closed', ending);
      assert.equal(fx.stats(listenerKey(onlyListener(t))).halfClosedTimeouts, 1);
    } finally {
      await fx.close();
      await quiet.close();
    }
  });
});
