/**
 * Reset storms: thousands of connections through the real speaker are reset mid-stream (SO_LINGER 0,
 * `resetAndDestroy()`), half of them by the client and half by the backend, while data is in flight
 * both ways. The speaker must not throw, must tear down the partner socket at once (not at an idle or
 * half-closed timeout), and must come back to its baseline of descriptors and open connections.
 */
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { within } from '../speaker/loopback.ts';
import { type BackedSpeaker, startBackedSpeaker } from './backed-speaker.ts';
import { clientSources } from './load.ts';
import { report, scaled, suiteSeed } from './scale.ts';
import { metricValue } from './speaker-process.ts';

const CONNECTIONS = scaled(1000, 10_000);
const CONCURRENCY = scaled(100, 500);
/** Bytes each side writes at once on connecting, so that resets land with data in flight. */
const BURST = 128 * 1024;
/** A partner must be gone well before any timeout of the table (idle and half-closed are 60 s). */
const PARTNER_DEADLINE_MS = 5000;
const CLIENT_RESETS = 0;
const BACKEND_RESETS = 1;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

describe('reset storm through the real speaker', { timeout: scaled(120_000, 900_000) }, () => {
  let rig: BackedSpeaker;
  /** When the backend saw the close of connection `id` (client resets). */
  const backendClosedAt = new Map<number, number>();
  /** When the backend reset connection `id` (backend resets). */
  const backendResetAt = new Map<number, number>();
  /** Connections whose backend side should reset, and after how long. */
  const backendPlan = new Map<number, number>();
  const burst = Buffer.alloc(BURST, 0x5a);

  before(async () => {
    const server = createServer((s) => {
      s.on('error', () => {});
      s.once('readable', () => {
        const head = s.read(4) as Buffer | null;
        if (head === null) {
          s.destroy();
          return;
        }
        const id = head.readUInt32BE(0);
        s.on('data', () => {});
        s.on('close', () => backendClosedAt.set(id, performance.now()));
        s.write(burst);
        const delay = backendPlan.get(id);
        if (delay !== undefined)
          setTimeout(() => {
            backendResetAt.set(id, performance.now());
            s.resetAndDestroy();
          }, delay);
      });
    });
    rig = await startBackedSpeaker({
      service: 'resets/web',
      server,
      backlog: 1024,
      listener: { timeouts: { connect: '2s', idle: '60s', halfClosed: '60s', drain: '5s' } },
    });
  });

  after(async () => {
    await rig?.close();
  });

  it(`survives ${CONNECTIONS} mid-stream resets from both sides: no exception, partners closed at once, descriptors back to baseline`, {
    timeout: scaled(60_000, 600_000),
  }, async () => {
    const { speaker, vip, port } = rig;
    const seed = suiteSeed();
    let state = seed >>> 0;
    const random = () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state / 2 ** 32;
    };
    const sources = clientSources(8);
    await new Promise((r) => setTimeout(r, 300));
    const baselineFds = await speaker.fewestFds();
    const latencies: number[] = [];
    const late: string[] = [];
    let next = 0;
    const one = async (id: number): Promise<void> => {
      const who = random() < 0.5 ? CLIENT_RESETS : BACKEND_RESETS;
      const delay = Math.floor(random() * 20);
      if (who === BACKEND_RESETS) backendPlan.set(id, delay);
      const s = connect({ host: vip, port, localAddress: sources[id % sources.length]! });
      s.on('error', () => {});
      s.on('data', () => {});
      const closed = new Promise<number>((resolve) => s.once('close', () => resolve(performance.now())));
      await new Promise<void>((resolve) => s.once('connect', () => resolve()));
      const head = Buffer.alloc(4);
      head.writeUInt32BE(id, 0);
      s.write(head);
      s.write(burst);
      if (who === CLIENT_RESETS) {
        // Wait until the backend side exists, so the reset lands mid-stream rather than mid-connect.
        await new Promise<void>((resolve) => s.once('data', () => resolve()));
        await new Promise((r) => setTimeout(r, delay));
        const resetAt = performance.now();
        s.resetAndDestroy();
        for (let i = 0; i < PARTNER_DEADLINE_MS / 10 && !backendClosedAt.has(id); i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        const at = backendClosedAt.get(id);
        if (at === undefined) late.push(`#${id}: backend side still open after a client reset`);
        else latencies.push(at - resetAt);
      } else {
        const clientClosed = await within(PARTNER_DEADLINE_MS, `client of #${id} to close`, closed).catch(
          () => Number.NaN,
        );
        const at = backendResetAt.get(id);
        if (Number.isNaN(clientClosed) || at === undefined)
          late.push(`#${id}: client still open after a backend reset`);
        else latencies.push(clientClosed - at);
      }
    };
    const worker = async () => {
      while (next < CONNECTIONS) await one(next++);
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (performance.now() - started) / 1000;

    let afterSample = speaker.sample();
    for (let i = 0; i < 100 && afterSample.fds > baselineFds; i++) {
      await new Promise((r) => setTimeout(r, 50));
      afterSample = speaker.sample();
    }
    const metrics = await speaker.metrics();
    latencies.sort((a, b) => a - b);
    report('reset-storm', {
      seed,
      connections: CONNECTIONS,
      seconds: seconds.toFixed(1),
      partnerCloseMs_p50: percentile(latencies, 0.5).toFixed(1),
      partnerCloseMs_p99: percentile(latencies, 0.99).toFixed(1),
      partnerCloseMs_max: (latencies.at(-1) ?? Number.NaN).toFixed(1),
      late: late.length,
      fdsBaseline: baselineFds,
      fdsAfter: afterSample.fds,
      active: metricValue(metrics, 'switchyard_listener_connections_active'),
      accepted: metricValue(metrics, 'switchyard_listener_connections_total'),
    });
    assert.deepEqual(late.slice(0, 5), [], `partners not closed within ${PARTNER_DEADLINE_MS} ms`);
    assert.equal(latencies.length, CONNECTIONS);
    assert.equal(speaker.child.exitCode, null, 'the speaker is still running');
    assert.equal(speaker.stderr(), '', 'nothing on stderr (no uncaught exception, no warning)');
    assert.equal(
      speaker.lines.filter((l) => (l['level'] as number) >= 50).length,
      0,
      'no error or fatal log line',
    );
    assert.equal(afterSample.fds, baselineFds, 'speaker descriptors back to baseline');
    assert.equal(metricValue(metrics, 'switchyard_listener_connections_active'), 0);
  });
});
