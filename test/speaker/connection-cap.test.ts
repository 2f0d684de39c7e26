/**
 * The speaker-wide cap sized from the descriptor budget follows the sockets each table makes the
 * speaker hold (one per listener and worker thread, one per health target), and the worker threads
 * enforce the new cap at once.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Speaker } from '../../speaker/speaker.ts';
import { startTestSpeaker } from '../harness/speaker.ts';
import { dataPlaneUnderTest } from './forwarder-fixture.ts';
import {
  type Backend,
  connectClient,
  freePort,
  listenerDoc,
  loopbackAddress,
  startBackend,
  table,
  within,
} from './loopback.ts';
import { RecordingHealth } from './recording-health.ts';

const WORKERS = 2;
/** A budget of 14 connections, less one per other socket. */
const budget = (sockets: number) => Math.max(1, 14 - sockets);

describe('speaker-wide cap that follows the sockets a table needs', { timeout: 30_000 }, () => {
  let backend: Backend;
  let speaker: Speaker;
  const listeners: Record<string, unknown>[] = [];

  before(async () => {
    backend = await startBackend();
    for (let i = 0; i < 3; i++) {
      const vip = loopbackAddress();
      listeners.push(
        listenerDoc({
          service: `default/web-${i}`,
          vip,
          port: await freePort(vip),
          backends: [{ address: backend.address, nodePort: backend.port }],
        }),
      );
    }
    speaker = await startTestSpeaker({
      workers: WORKERS,
      dataPlane: dataPlaneUnderTest(),
      maxConnections: budget,
      health: new RecordingHealth(),
    });
  });

  after(async () => {
    await speaker?.stop();
    await backend?.close();
  });

  it('is sized for each table and enforced by every worker', async () => {
    await speaker.serve(table(listeners.slice(0, 1), 1), 'test');
    // Every listener has the same one backend: one health target.
    assert.equal(speaker.maxConnections, 14 - 1 * WORKERS - 1);
    await speaker.serve(table(listeners, 2), 'test');
    assert.equal(speaker.maxConnections, 14 - 3 * WORKERS - 1);

    // The cap's worth admitted (whichever worker accepts), the next one reset.
    const cap = speaker.maxConnections;
    const vip = listeners[0]!['vip'] as string;
    const port = listeners[0]!['port'] as number;
    const open: Socket[] = [];
    for (let i = 0; i < cap; i++) {
      const s = await connectClient(vip, port);
      open.push(s);
      s.write('x');
      await within(5000, `client ${i + 1} to be proxied`, once(s, 'data'));
    }
    // The reset may come before or after the client saw its connect complete.
    const extra = connect({ host: vip, port });
    const ended = await within(
      5000,
      'the client over the cap to be reset',
      new Promise<string>((resolve) => {
        extra.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        extra.on('close', () => resolve('closed'));
      }),
    );
    assert.match(ended, /ECONNRESET|closed/);
    const rejected = (await speaker.plane.stats()).map((l) => l.stats.rejected['speaker-limit']);
    assert.equal(
      rejected.reduce((a, b) => a + b, 0),
      1,
    );
    for (const s of open) s.destroy();
  });
});
