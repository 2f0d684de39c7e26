/**
 * Soak: thousands of idle connections held through the real speaker process while a steady stream
 * of short connections runs beside them. No connection may fail, resident memory and V8 heap must
 * stay flat after warm-up, and the speaker's descriptors must come back to their baseline.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, loopbackAddress, within } from '../speaker/loopback.ts';
import { type BackendProcess, startBackendProcess } from './backend-process.ts';
import { clientSources, closeAll, echoOnce, openIdle, steadyStream } from './load.ts';
import { hardFdLimit, type ProcSample } from './proc-stats.ts';
import { report, scaled } from './scale.ts';
import {
  type HeapSample,
  type SpeakerProcess,
  singleListenerTable,
  startSpeakerProcess,
} from './speaker-process.ts';

/** Descriptors the speaker needs besides two per proxied connection (runtime, workers, stream). */
const FD_HEADROOM = 400;
const FD_LIMIT = hardFdLimit();
/** 10,000 in full, or as many as two descriptors each allow under this machine's hard limit. */
const IDLE = scaled(1000, Math.min(10_000, Math.floor((FD_LIMIT - FD_HEADROOM) / 2)));
const DURATION_MS = scaled(16_000, 600_000);
const RATE = scaled(40, 200);
const SAMPLES = 20;
/** Samples in the first quarter are warm-up; growth is judged on the rest. */
const WARMUP_SAMPLES = 5;
const MAX_GROWTH = 0.05;

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

describe('soak: idle connections and a steady stream through the real speaker', {
  timeout: DURATION_MS + 600_000,
}, () => {
  let dir: string;
  let backends: BackendProcess;
  let speaker: SpeakerProcess;
  let vip: string;
  let port: number;
  let idle: Socket[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-soak-'));
    backends = await startBackendProcess([loopbackAddress(), loopbackAddress(), loopbackAddress()], FD_LIMIT);
    vip = loopbackAddress();
    port = await freePort(vip);
    speaker = await startSpeakerProcess({
      tablePath: join(dir, 'table.json'),
      // Idle clients must outlive the run; the default idle timeout (5 min) would close them.
      table: singleListenerTable('soak/web', vip, port, backends.listeners, {
        timeouts: { connect: '2s', idle: '1h', halfClosed: '1m', drain: '5s' },
      }),
      workers: 1,
      nofile: FD_LIMIT,
      heapProbe: true,
    });
  });

  after(async () => {
    await closeAll(idle);
    speaker?.kill();
    await backends?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(`holds ${IDLE} idle connections and ${RATE} new connections/s for ${DURATION_MS / 1000} s: none fails, RSS and heap flat, descriptors back to baseline`, {
    timeout: DURATION_MS + 300_000,
  }, async () => {
    const sources = clientSources(16);
    // Warm the speaker's lazily opened descriptors and code paths before the baseline.
    for (let i = 0; i < 20; i++) await echoOnce(vip, port, sources[i % sources.length]!, 'warm');
    await new Promise((r) => setTimeout(r, 500));
    const baseline = speaker.sample();
    const baselineFds = await speaker.fewestFds();

    const opening = performance.now();
    idle = await within(300_000, 'the idle connections to open', openIdle(IDLE, vip, port, sources));
    const openMs = performance.now() - opening;
    const withIdle = speaker.sample();
    assert.ok(withIdle.fds >= baselineFds + 2 * IDLE, `speaker holds ${withIdle.fds} fds`);

    const samples: { proc: ProcSample; heap: HeapSample }[] = [];
    let sampling = true;
    const sampler = (async () => {
      const every = DURATION_MS / SAMPLES;
      while (sampling) {
        await new Promise((r) => setTimeout(r, every));
        if (!sampling) break;
        samples.push({ proc: speaker.sample(), heap: await speaker.heap() });
      }
    })();
    const stream = await steadyStream({ host: vip, port, sources, rate: RATE, durationMs: DURATION_MS });
    sampling = false;
    await sampler;

    // Every idle connection is still proxied after the run.
    let idleAlive = 0;
    await Promise.all(
      idle.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.destroyed) return resolve();
            const t = setTimeout(resolve, 10_000);
            s.once('data', () => {
              idleAlive++;
              clearTimeout(t);
              resolve();
            });
            s.write('a');
          }),
      ),
    );

    await closeAll(idle);
    idle = [];
    let after = speaker.sample();
    for (let i = 0; i < 200 && after.fds > baselineFds; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = speaker.sample();
    }

    const judged = samples.slice(WARMUP_SAMPLES);
    const third = Math.max(1, Math.floor(judged.length / 3));
    const rssFirst = mean(judged.slice(0, third).map((s) => s.proc.rssKiB));
    const rssLast = mean(judged.slice(-third).map((s) => s.proc.rssKiB));
    // The heap in use right after a collection is the floor of a window's samples.
    const heapFirst = Math.min(...judged.slice(0, third).map((s) => s.heap.total));
    const heapLast = Math.min(...judged.slice(-third).map((s) => s.heap.total));
    const rssGrowth = (rssLast - rssFirst) / rssFirst;
    const heapGrowth = (heapLast - heapFirst) / heapFirst;
    const cpu =
      (samples.at(-1)!.proc.cpuMs - samples[0]!.proc.cpuMs) / (samples.at(-1)!.proc.at - samples[0]!.proc.at);
    report('soak', {
      idle: IDLE,
      rate: RATE,
      seconds: DURATION_MS / 1000,
      attempted: stream.attempted,
      failed: stream.failed,
      idleAlive,
      openIdleMs: Math.round(openMs),
      rssMiB_baseline: (baseline.rssKiB / 1024).toFixed(1),
      rssMiB_first: (rssFirst / 1024).toFixed(1),
      rssMiB_last: (rssLast / 1024).toFixed(1),
      rssGrowthPct: (rssGrowth * 100).toFixed(2),
      heapMiB_first: (heapFirst / 2 ** 20).toFixed(1),
      heapMiB_last: (heapLast / 2 ** 20).toFixed(1),
      heapGrowthPct: (heapGrowth * 100).toFixed(2),
      kiBPerIdle: ((withIdle.rssKiB - baseline.rssKiB) / IDLE).toFixed(2),
      cpuCores: cpu.toFixed(3),
      fdsBaseline: baselineFds,
      fdsWithIdle: withIdle.fds,
      fdsAfter: after.fds,
    });
    assert.equal(stream.failed, 0, `failed connections: ${JSON.stringify([...stream.failures])}`);
    assert.equal(idleAlive, IDLE, 'every idle connection still proxied after the run');
    assert.ok(stream.attempted >= (RATE * DURATION_MS) / 1000 / 2, `only ${stream.attempted} attempted`);
    assert.ok(rssGrowth < MAX_GROWTH, `RSS grew ${(rssGrowth * 100).toFixed(2)} % after warm-up`);
    assert.ok(heapGrowth < MAX_GROWTH, `heap grew ${(heapGrowth * 100).toFixed(2)} % after warm-up`);
    assert.equal(after.fds, baselineFds, 'speaker descriptors back to baseline');
  });
});
