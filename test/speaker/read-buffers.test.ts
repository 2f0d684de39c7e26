import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { listenerKey } from '../../shared/model.ts';
import {
  BULK_BUFFER_SIZE,
  BULK_LIMIT,
  readBufferCounts,
  releaseBuffer,
  takeBulkBuffer,
} from '../../speaker/forward/read-buffers.ts';
import { eventually } from '../harness/wait.ts';
import { type ForwarderFixture, startForwarder } from './forwarder-fixture.ts';
import {
  type Backend,
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

/** Send `total` random bytes in 1 MiB writes, then FIN; resolves with their SHA-256. */
async function send(s: Socket, total: number): Promise<string> {
  const hash = createHash('sha256');
  for (let sent = 0; sent < total; sent += MiB) {
    const chunk = randomBytes(MiB);
    hash.update(chunk);
    if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
  }
  s.end();
  return hash.digest('hex');
}

/** SHA-256 and length of everything `s` delivers until its FIN. */
function receive(s: Socket): Promise<{ bytes: number; hash: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  s.on('data', (d: Buffer) => {
    hash.update(d);
    bytes += d.length;
  });
  return new Promise((resolve) => s.once('end', () => resolve({ bytes, hash: hash.digest('hex') })));
}

describe('read buffers', () => {
  let backend: Backend;
  let fx: ForwarderFixture;
  let vip: string;
  let port: number;
  let key: string;
  let backendSide: Promise<{ sent: string; got: { bytes: number; hash: string } }> | null = null;

  before(async () => {
    backend = await startBackend({
      onSocket: (s) => {
        backendSide = (async () => {
          const got = receive(s);
          const sent = await send(s, 16 * MiB);
          return { sent, got: await got };
        })();
      },
    });
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

  it('moves a stream to bulk buffers, byte-exact both ways, and gets every buffer back at the end', {
    timeout: 30_000,
  }, async () => {
    const client = await connectClient(vip, port, { halfOpen: true });
    const atClient = receive(client);
    const clientSent = await send(client, 16 * MiB);
    const got = await within(20_000, 'the stream to the client', atClient);
    const b = await within(20_000, 'the stream to the backend', backendSide!);
    assert.equal(got.bytes, 16 * MiB);
    assert.equal(got.hash, b.sent);
    assert.equal(b.got.bytes, 16 * MiB);
    assert.equal(b.got.hash, clientSent);
    assert.ok(readBufferCounts().bulk > 0, 'a 16 MiB stream never moved to a bulk buffer');
    client.end();
    // Polled every 10 ms: closing has no event to await here.
    await eventually(() => fx.runtime(key).size === 0, 5000, 'the connection to close', 10);
    const c = readBufferCounts();
    assert.equal(c.spareBulk, c.bulk, 'a bulk buffer was not given back');
    assert.equal(c.spare, c.allocated, 'a normal buffer was not given back');
  });

  it('hands out at most BULK_LIMIT bulk buffers per thread, then none until one is given back', () => {
    const taken: Buffer[] = [];
    for (let b = takeBulkBuffer(); b !== null; b = takeBulkBuffer()) taken.push(b);
    assert.equal(readBufferCounts().bulk, BULK_LIMIT);
    assert.ok(taken.every((b) => b.length === BULK_BUFFER_SIZE));
    releaseBuffer(taken.pop()!);
    const again = takeBulkBuffer();
    assert.notEqual(again, null);
    taken.push(again!);
    assert.equal(takeBulkBuffer(), null);
    for (const b of taken) releaseBuffer(b);
    assert.equal(readBufferCounts().spareBulk, BULK_LIMIT);
  });
});
