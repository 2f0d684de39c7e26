/**
 * Over the connection limit: with the listener full, every excess client of a burst is reset at
 * once (its first event is the reset, never data) and counted under reason="limit", while the
 * connections already admitted keep moving data without a single error.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, loopbackAddress, within } from '../speaker/loopback.ts';
import { type BackendProcess, startBackendProcess } from './backend-process.ts';
import { clientSources, closeAll, openIdle } from './load.ts';
import { report, scaled } from './scale.ts';
import {
  metricValue,
  type SpeakerProcess,
  singleListenerTable,
  startSpeakerProcess,
} from './speaker-process.ts';

const LIMIT = scaled(100, 1000);
const EXCESS = scaled(300, 5000);
/** An excess client must be reset long before any timeout could explain it. */
const RESET_DEADLINE_MS = 5000;

/** A connection that echoes a counter back and forth until stopped; counts round trips and errors. */
class PingPong {
  rounds = 0;
  errors = 0;
  #stopped = false;
  constructor(s: Socket) {
    s.on('error', () => {
      this.errors++;
    });
    s.on('close', () => {
      if (!this.#stopped) this.errors++;
    });
    s.on('data', () => {
      this.rounds++;
      if (!this.#stopped) s.write('p');
    });
    s.write('p');
  }
  stop(): void {
    this.#stopped = true;
  }
}

/** Connect and say how the connection ended: reset before any data, or something else. */
function excessClient(
  host: string,
  port: number,
  localAddress: string,
): Promise<{ first: string; ms: number }> {
  const start = performance.now();
  return new Promise((resolve) => {
    const s = connect({ host, port, localAddress });
    let first: string | null = null;
    const note = (what: string) => {
      first ??= what;
    };
    s.on('connect', () => s.write('x'));
    s.on('data', () => note('data'));
    s.on('error', (e: NodeJS.ErrnoException) => note(e.code ?? 'error'));
    s.on('close', () => resolve({ first: first ?? 'close', ms: performance.now() - start }));
    setTimeout(() => s.destroy(), RESET_DEADLINE_MS).unref();
  });
}

describe('over the connection limit (real speaker)', { timeout: 240_000 }, () => {
  let dir: string;
  let backends: BackendProcess;
  let speaker: SpeakerProcess;
  let vip: string;
  let port: number;
  let sockets: Socket[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-limit-'));
    backends = await startBackendProcess([loopbackAddress()]);
    vip = loopbackAddress();
    port = await freePort(vip);
    speaker = await startSpeakerProcess({
      tablePath: join(dir, 'table.json'),
      table: singleListenerTable('limit/web', vip, port, backends.listeners, { maxConnections: LIMIT }),
      workers: 1,
    });
  });

  after(async () => {
    await closeAll(sockets);
    speaker?.kill();
    await backends?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(`resets ${EXCESS} clients over maxConnections=${LIMIT} at once and counts them; the ${LIMIT} admitted keep moving data`, {
    timeout: 120_000,
  }, async () => {
    const sources = clientSources(8);
    sockets = await within(60_000, 'the admitted connections', openIdle(LIMIT, vip, port, sources));
    const admitted = sockets.map((s) => new PingPong(s));
    await new Promise((r) => setTimeout(r, 300));
    const roundsBefore = admitted.map((p) => p.rounds);

    const outcomes = await within(
      60_000,
      'every excess client to end',
      Promise.all(
        Array.from({ length: EXCESS }, (_, i) => excessClient(vip, port, sources[i % sources.length]!)),
      ),
    );
    await new Promise((r) => setTimeout(r, 300));
    const roundsAfter = admitted.map((p) => p.rounds);
    const metrics = await speaker.metrics();
    for (const p of admitted) p.stop();

    const firsts = new Map<string, number>();
    for (const o of outcomes) firsts.set(o.first, (firsts.get(o.first) ?? 0) + 1);
    const slowest = Math.max(...outcomes.map((o) => o.ms));
    const stalled = admitted.filter((_, i) => roundsAfter[i]! <= roundsBefore[i]!).length;
    const errors = admitted.reduce((n, p) => n + p.errors, 0);
    report('connection-limit', {
      limit: LIMIT,
      excess: EXCESS,
      outcomes: [...firsts].map(([k, v]) => `${k}:${v}`).join(','),
      slowestResetMs: slowest.toFixed(0),
      rejectedLimit: metricValue(metrics, 'switchyard_listener_rejected_total', { reason: 'limit' }),
      active: metricValue(metrics, 'switchyard_listener_connections_active'),
      admittedErrors: errors,
      admittedStalled: stalled,
      roundTripsDuringBurst: roundsAfter.reduce((a, b) => a + b, 0) - roundsBefore.reduce((a, b) => a + b, 0),
    });
    assert.deepEqual([...firsts], [['ECONNRESET', EXCESS]], 'every excess client is reset before any data');
    assert.equal(metricValue(metrics, 'switchyard_listener_rejected_total', { reason: 'limit' }), EXCESS);
    assert.equal(metricValue(metrics, 'switchyard_listener_connections_active'), LIMIT);
    assert.equal(errors, 0, 'no admitted connection failed');
    assert.equal(stalled, 0, 'every admitted connection kept moving data during the burst');
  });
});
