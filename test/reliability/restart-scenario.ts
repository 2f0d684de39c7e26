/**
 * The speaker restart (or upgrade) scenario, runnable on its own so that the test can run it inside
 * a network namespace of its own (where net.ipv4.tcp_migrate_req can be set without touching the
 * host): an old speaker serves a steady stream of new connections and some long-lived ones; a new
 * speaker starts on the same table (SO_REUSEPORT), then the old one gets SIGTERM and drains. Repeated
 * `restarts` times. Prints one JSON line with the figures when run as a program:
 *
 *   node --import tsx test/reliability/restart-scenario.ts '{"rate":500,"restarts":1,...}'
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, loopbackAddress } from '../speaker/loopback.ts';
import { startBackendProcess } from './backend-process.ts';
import { clientSources, closeAll, openIdle, steadyStream } from './load.ts';
import { type SpeakerProcess, startSpeakerProcess } from './speaker-process.ts';

/** What to run. */
export interface RestartOptions {
  /** New connections per second during the whole run. */
  readonly rate: number;
  /** How many times a new speaker replaces the old one. */
  readonly restarts: number;
  /** --drain-timeout of every speaker, in ms (the table's drain is the same). */
  readonly drainMs: number;
  /** Long-lived connections held through the first speaker's drain. */
  readonly longLived: number;
  /** Time with both speakers up before the old one gets SIGTERM. */
  readonly overlapMs: number;
}

/** What happened. */
export interface RestartResult {
  readonly attempted: number;
  readonly failed: number;
  readonly failures: Record<string, number>;
  /** Long-lived connections closed before the first drain's deadline (should be 0). */
  readonly longClosedEarly: number;
  /** Long-lived connections still open 3 s after the deadline (should be 0). */
  readonly longNotClosed: number;
  /** Long-lived connections that moved data after SIGTERM. */
  readonly longMovedDuringDrain: number;
  /** Earliest and latest close of a long-lived connection, ms after SIGTERM. */
  readonly longClosedFromMs: number;
  readonly longClosedToMs: number;
  /** Exit codes of the replaced speakers. */
  readonly exitCodes: readonly (number | null)[];
  readonly seconds: number;
}

/** Ping-pong on a connection; counts rounds and remembers when it closed. */
class LongLived {
  rounds = 0;
  closedAt = Number.NaN;
  constructor(s: Socket) {
    s.on('data', () => {
      this.rounds++;
      // Paced, so a few long-lived connections do not eat the CPU the stream needs.
      setTimeout(() => s.writable && s.write('p'), 20);
    });
    s.on('close', () => {
      this.closedAt = performance.now();
    });
    s.write('p');
  }
}

/** Run the scenario in this process's network namespace. */
export async function runRestartScenario(o: RestartOptions): Promise<RestartResult> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-restart-'));
  const backends = await startBackendProcess([loopbackAddress(), loopbackAddress()]);
  const vip = loopbackAddress();
  const port = await freePort(vip);
  const table = {
    version: 1,
    listeners: [
      {
        service: 'restart/web',
        vip,
        port,
        backends: backends.listeners.map((b, i) => ({ node: `n${i}`, address: b.address, nodePort: b.port })),
        healthCheck: { type: 'tcp', interval: '2s', timeout: '1s' },
        timeouts: { connect: '2s', idle: '60s', halfClosed: '60s', drain: o.drainMs },
      },
    ],
  };
  const start = (i: number) =>
    startSpeakerProcess({
      tablePath: join(dir, `table-${i}.json`),
      table,
      workers: 1,
      drainTimeout: `${o.drainMs}ms`,
    });
  const running: SpeakerProcess[] = [];
  let long: Socket[] = [];
  try {
    let current = await start(0);
    running.push(current);
    const sources = clientSources(16);
    long = await openIdle(o.longLived, vip, port, sources);
    const lived = long.map((s) => new LongLived(s));
    const began = performance.now();
    const cycleMs = o.overlapMs + o.drainMs + 1000;
    const stream = steadyStream({
      host: vip,
      port,
      sources,
      rate: o.rate,
      durationMs: 1000 + o.restarts * cycleMs + 1000,
      timeoutMs: 5000,
    });
    await new Promise((r) => setTimeout(r, 1000));
    const exitCodes: (number | null)[] = [];
    let firstTerm = Number.NaN;
    let roundsAtTerm: number[] = [];
    for (let i = 1; i <= o.restarts; i++) {
      const cycleStart = performance.now();
      const next = await start(i);
      running.push(next);
      await new Promise((r) => setTimeout(r, o.overlapMs));
      if (i === 1) {
        firstTerm = performance.now();
        roundsAtTerm = lived.map((l) => l.rounds);
      }
      exitCodes.push(await current.stop(o.drainMs + 30_000));
      current = next;
      const left = cycleMs - (performance.now() - cycleStart);
      if (left > 0) await new Promise((r) => setTimeout(r, left));
    }
    const result = await stream;
    const deadline = firstTerm + o.drainMs;
    // A little before the deadline: the sweeper closes them on its first tick after it.
    const early = lived.filter((l) => l.closedAt < deadline - 100).length;
    const notClosed = lived.filter((l) => Number.isNaN(l.closedAt) || l.closedAt > deadline + 3000).length;
    const closedTimes = lived.map((l) => l.closedAt - firstTerm).filter((x) => !Number.isNaN(x));
    return {
      attempted: result.attempted,
      failed: result.failed,
      failures: Object.fromEntries(result.failures),
      longClosedEarly: early,
      longNotClosed: notClosed,
      longMovedDuringDrain: lived.filter((l, i) => l.rounds > (roundsAtTerm[i] ?? 0)).length,
      longClosedFromMs: Math.round(Math.min(...closedTimes)),
      longClosedToMs: Math.round(Math.max(...closedTimes)),
      exitCodes,
      seconds: (performance.now() - began) / 1000,
    };
  } finally {
    await closeAll(long);
    for (const s of running) s.kill();
    await backends.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const opts = JSON.parse(process.argv[2] ?? '{}') as RestartOptions;
  const result = await runRestartScenario(opts);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
