import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
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
        assert.equal(ending.error, 'ECONNRESET', 'a timeout is told apart from a finished exchange');
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

  it('resets a half-closed connection that moves no byte for the half-closed timeout, and counts it', {
    timeout: 10_000,
  }, async () => {
    const quiet = await startBackend({ onSocket: (s) => s.resume() });
    const vip = loopbackAddress();
    const t = table([
      listenerDoc({
        vip,
        port: await freePort(vip),
        timeouts: { halfClosed: '400ms' },
        backends: [{ address: quiet.address, nodePort: quiet.port }],
      }),
    ]);
    const fx = await startForwarder(t);
    try {
      const client = await connectClient(vip, onlyListener(t).port);
      const ending = collect(client);
      // The client is done sending; the backend never answers nor closes.
      const finSent = performance.now();
      client.end('bye');
      const { error } = await within(5000, 'half-closed connection to be closed', ending);
      const after = performance.now() - finSent;
      // A FIN would tell the client its answer was complete; it is owed one, so it gets a reset.
      assert.equal(error, 'ECONNRESET');
      // Never before the timeout; late by at most two sweeper ticks (100 ms here) and a loaded
      // machine's scheduling.
      assert.ok(after >= 400, `closed ${after.toFixed(0)} ms after the FIN, before the 400 ms timeout`);
      assert.ok(after < 400 + 200 + 2000, `closed ${after.toFixed(0)} ms after the FIN`);
      const stats = fx.stats(listenerKey(onlyListener(t)));
      assert.equal(stats.halfClosedTimeouts, 1);
      assert.equal(stats.idleTimeouts, 0);
    } finally {
      await fx.close();
      await quiet.close();
    }
  });

  // The half-closed timeout is an inactivity timeout (HAProxy's client-fin/server-fin): a download
  // after the client's FIN (`nc -N`, dump clients) or an upload after the server's FIN lives as long
  // as bytes keep moving. Each side sends for three timeouts, pausing a tenth of one between chunks.
  for (const direction of ['download', 'upload'] as const) {
    it(`carries every byte of a half-closed ${direction} that outlasts the half-closed timeout 3×`, {
      timeout: 20_000,
    }, async () => {
      const chunks = 30;
      const chunk = Buffer.alloc(1000, direction === 'download' ? 'd' : 'u');
      const send = async (s: Socket) => {
        for (let i = 0; i < chunks; i++) {
          s.write(chunk);
          await new Promise((r) => setTimeout(r, 100));
        }
        s.end();
      };
      const received: Promise<Buffer>[] = [];
      const peer = await startBackend({
        onSocket: (s) => {
          if (direction === 'download') {
            // Answer only after the client's FIN: the whole answer crosses a half-closed connection.
            s.resume();
            s.once('end', () => void send(s));
          } else {
            received.push(collect(s).then((e) => e.data));
            s.end();
          }
        },
      });
      const vip = loopbackAddress();
      const t = table([
        listenerDoc({
          vip,
          port: await freePort(vip),
          timeouts: { halfClosed: '1s' },
          backends: [{ address: peer.address, nodePort: peer.port }],
        }),
      ]);
      const fx = await startForwarder(t);
      try {
        const client = await connectClient(vip, onlyListener(t).port, { halfOpen: true });
        const ending = collect(client);
        if (direction === 'download') client.end('send it all');
        else {
          await within(5000, "the backend's FIN", once(client, 'end'));
          await send(client);
        }
        const got = await within(15_000, 'the transfer to end', ending);
        const data = direction === 'download' ? got.data : await within(5000, 'upload', received[0]!);
        assert.equal(got.error, null, 'the connection ended cleanly');
        assert.equal(data.length, chunks * chunk.length, 'every byte arrived');
        assert.equal(fx.stats(listenerKey(onlyListener(t))).halfClosedTimeouts, 0);
      } finally {
        await fx.close();
        await peer.close();
      }
    });
  }

  it('resets the connections still open at the drain deadline and counts them', {
    timeout: 10_000,
  }, async () => {
    const vip = loopbackAddress();
    const t = table([listenerDoc({ vip, port: await freePort(vip), backends })]);
    const fx = await startForwarder(t);
    try {
      const client = await openEchoed(vip, onlyListener(t).port);
      const ending = collect(client);
      // A drained listener leaves the forwarder's list; its counters stay with the runtime.
      const stats = fx.stats(listenerKey(onlyListener(t)));
      const drained = fx.forwarder.drain(300);
      const { error } = await within(5000, 'the drain deadline to end the connection', ending);
      assert.equal(error, 'ECONNRESET');
      await within(5000, 'the drain', drained);
      assert.equal(stats.drainClosed, 1);
    } finally {
      await fx.close();
    }
  });
});
