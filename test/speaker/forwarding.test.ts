import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { listenerKey } from '../../shared/model.ts';
import { type ForwarderFixture, startForwarder } from './forwarder-fixture.ts';
import {
  type Backend,
  collect,
  connectClient,
  freePort,
  listenerDoc,
  loopbackAddress,
  onlyListener,
  startBackend,
  table,
  within,
} from './loopback.ts';

const MiB = 1024 * 1024;

/** Write `total` bytes of varied content (block index stamped in) and end; resolves with their hash. */
function sendStream(s: Socket, total: number): Promise<string> {
  const block = randomBytes(MiB);
  const hash = createHash('sha256');
  let sent = 0;
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    const pump = () => {
      while (sent < total) {
        const chunk = Buffer.from(block);
        chunk.writeUInt32BE(sent / MiB, 0);
        hash.update(chunk);
        sent += chunk.length;
        if (!s.write(chunk)) {
          s.once('drain', pump);
          return;
        }
      }
      s.end();
      resolve(hash.digest('hex'));
    };
    pump();
  });
}

/** Hash everything `s` receives until its end. */
function receiveStream(s: Socket): Promise<{ bytes: number; hash: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  s.on('data', (d: Buffer) => {
    hash.update(d);
    bytes += d.length;
  });
  return once(s, 'end').then(() => ({ bytes, hash: hash.digest('hex') }));
}

describe('forwarding between client and backend', () => {
  let backend: Backend;
  let fx: ForwarderFixture;
  let vip: string;
  let port: number;
  let key: string;
  /** What each test wants its backend to do with the next connection. */
  let onBackend: (s: Socket) => void = (s) => s.pipe(s);

  before(async () => {
    backend = await startBackend({ onSocket: (s) => onBackend(s) });
    vip = loopbackAddress();
    port = await freePort(vip);
    const t = table([
      listenerDoc({ vip, port, backends: [{ address: backend.address, nodePort: backend.port }] }),
    ]);
    key = listenerKey(onlyListener(t));
    fx = await startForwarder(t);
  });

  after(async () => {
    await fx.close();
    await backend.close();
  });

  it('carries 64 MiB each way byte-exact (SHA-256 equal at both ends)', { timeout: 60_000 }, async () => {
    const atBackend = new Promise<{ sent: string; received: Promise<{ bytes: number; hash: string }> }>(
      (resolve) => {
        onBackend = (s) => {
          const received = receiveStream(s);
          void sendStream(s, 64 * MiB).then((sent) => resolve({ sent, received }));
        };
      },
    );
    const client = await connectClient(vip, port, { halfOpen: true });
    const clientReceived = receiveStream(client);
    const clientSent = await sendStream(client, 64 * MiB);
    const b = await within(50_000, 'backend side', atBackend);
    const [gotAtClient, gotAtBackend] = await within(
      50_000,
      'both directions',
      Promise.all([clientReceived, b.received]),
    );
    assert.equal(gotAtBackend.bytes, 64 * MiB);
    assert.equal(gotAtBackend.hash, clientSent);
    assert.equal(gotAtClient.bytes, 64 * MiB);
    assert.equal(gotAtClient.hash, b.sent);
    client.destroy();
    assert.equal(fx.stats(key).bytesToBackend >= 64 * MiB, true);
    assert.equal(fx.stats(key).bytesToClient >= 64 * MiB, true);
  });

  it('stops reading the backend while the client does not read, then delivers everything', {
    timeout: 30_000,
  }, async () => {
    const total = 48 * MiB;
    let backendSent: Promise<string> = Promise.resolve('');
    const started = new Promise<void>((resolve) => {
      onBackend = (s) => {
        backendSent = sendStream(s, total);
        resolve();
      };
    });
    const client = await connectClient(vip, port, { halfOpen: true });
    client.pause();
    await started;
    const before = fx.stats(key).bytesToClient;
    // Absence of progress has no event to await: give the backend time to push while nobody reads.
    await new Promise((r) => setTimeout(r, 300));
    const pulled = fx.stats(key).bytesToClient - before;
    assert.ok(pulled < total / 2, `proxy pulled ${pulled} bytes from the backend with no reader`);
    const received = receiveStream(client);
    client.resume();
    const got = await within(20_000, 'client to drain the stream', received);
    assert.equal(got.bytes, total);
    assert.equal(got.hash, await backendSent);
    client.destroy();
  });

  it('passes a client FIN on while the backend keeps sending (half-close client side)', {
    timeout: 10_000,
  }, async () => {
    const backendSaw = new Promise<string>((resolve) => {
      onBackend = (s) => {
        const chunks: Buffer[] = [];
        s.on('data', (d: Buffer) => chunks.push(d));
        s.on('end', () => {
          // The client has finished sending; this side is still open for the answer.
          const request = Buffer.concat(chunks).toString();
          s.write(`answer to ${request}, `);
          setTimeout(() => s.end('sent after FIN'), 50);
          resolve(request);
        });
      };
    });
    const client = await connectClient(vip, port, { halfOpen: true });
    const ending = collect(client);
    client.end('request');
    assert.equal(await within(5000, 'backend to see FIN', backendSaw), 'request');
    const got = await within(5000, 'client to be answered', ending);
    assert.equal(got.error, null);
    assert.equal(got.data.toString(), 'answer to request, sent after FIN');
  });

  it('passes a backend FIN on while the client keeps sending (half-close backend side)', {
    timeout: 10_000,
  }, async () => {
    const backendGot = new Promise<string>((resolve) => {
      onBackend = (s) => {
        const chunks: Buffer[] = [];
        s.on('data', (d: Buffer) => chunks.push(d));
        s.on('end', () => resolve(Buffer.concat(chunks).toString()));
        s.end('banner');
      };
    });
    const client = await connectClient(vip, port, { halfOpen: true });
    const chunks: Buffer[] = [];
    client.on('data', (d: Buffer) => chunks.push(d));
    await within(5000, 'client to see the backend FIN', once(client, 'end'));
    assert.equal(Buffer.concat(chunks).toString(), 'banner');
    const closed = once(client, 'close');
    client.write('still ');
    client.end('talking');
    assert.equal(await within(5000, 'backend to get the late bytes', backendGot), 'still talking');
    await within(5000, 'client to close', closed);
  });

  it('turns a client reset into a backend reset', { timeout: 10_000 }, async () => {
    const backendEnding = new Promise<string | null>((resolve) => {
      onBackend = (s) => {
        let code: string | null = null;
        s.on('error', (e: NodeJS.ErrnoException) => {
          code = e.code ?? null;
        });
        s.on('close', () => resolve(code));
        s.write('hello');
      };
    });
    const client = await connectClient(vip, port, { halfOpen: true });
    await once(client, 'data');
    client.resetAndDestroy();
    assert.equal(await within(5000, 'backend to be reset', backendEnding), 'ECONNRESET');
  });

  it('turns a backend reset into a client reset', { timeout: 10_000 }, async () => {
    onBackend = (s) => {
      s.once('data', () => s.resetAndDestroy());
    };
    const client = await connectClient(vip, port, { halfOpen: true });
    const ending = collect(client);
    client.write('trigger');
    const got = await within(5000, 'client to be reset', ending);
    assert.equal(got.error, 'ECONNRESET');
  });

  it('leaves no open connection behind once every test connection closed', { timeout: 10_000 }, async () => {
    const rt = fx.runtime(key);
    const deadline = Date.now() + 5000;
    while (rt.size > 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    assert.equal(rt.size, 0);
    assert.equal(fx.stats(key).active, 0);
    assert.equal(
      rt.slots.reduce((n, s) => n + s.active, 0),
      0,
    );
  });
});

describe('forwarding over IPv6', () => {
  it('proxies a VIP on ::1 to an IPv6 backend', { timeout: 10_000 }, async () => {
    const backend = await startBackend({ address: '::1' });
    const port = await freePort('::1');
    const fx = await startForwarder(
      table([listenerDoc({ vip: '::1', port, backends: [{ address: '::1', nodePort: backend.port }] })]),
    );
    try {
      const client = await connectClient('::1', port);
      const ending = collect(client);
      client.end('six');
      const got = await within(5000, 'echo over IPv6', ending);
      assert.equal(got.data.toString(), 'six');
    } finally {
      await fx.close();
      await backend.close();
    }
  });
});
