/**
 * The real speaker as operators run it (`node bin/switchyard.mjs speaker --table FILE ...`), spawned
 * with a chosen descriptor limit, with its NDJSON log lines, its /metrics text, its /proc figures and
 * (with the heap probe preloaded) its V8 heap. Stopped by PID in `stop()`/`kill()`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { within } from '../speaker/loopback.ts';
import { HEAP_PROBE_PREFIX } from './heap-probe.ts';
import { type ProcSample, sampleProc } from './proc-stats.ts';

const root = resolve(import.meta.dirname, '../..');
/** Node 24 from the install (the system node may be older). */
export const NODE = join(root, 'node_modules/.bin/node');
const BIN = join(root, 'bin/switchyard.mjs');
const HEAP_PROBE = join(import.meta.dirname, 'heap-probe.ts');

/** How a speaker process is started. */
export interface SpeakerProcessOptions {
  /** The table document (written as JSON to `tablePath`). */
  readonly table: Record<string, unknown>;
  readonly tablePath: string;
  readonly workers?: number;
  readonly maxConnections?: number;
  readonly drainTimeout?: string;
  /** Soft and hard RLIMIT_NOFILE of the process (prlimit); unchanged when absent. */
  readonly nofile?: number;
  /** Preload the heap probe so `heap()` works. */
  readonly heapProbe?: boolean;
  readonly logLevel?: string;
  /** Extra environment. */
  readonly env?: Readonly<Record<string, string>>;
}

/** V8 heap in use, main thread and workers, in bytes. */
export interface HeapSample {
  readonly main: number;
  readonly workers: readonly number[];
  readonly total: number;
}

/** A running speaker process. */
export interface SpeakerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly lines: Record<string, unknown>[];
  /** Everything written to stderr that is not a heap-probe line. */
  stderr(): string;
  readonly exited: Promise<number | null>;
  /** Resolves with the `count`th log line whose `event` is `event` (bounded by `ms`). */
  waitFor(event: string, count?: number, ms?: number): Promise<Record<string, unknown>>;
  /** `host:port` of /metrics, once started. */
  readonly metricsUrl: string;
  /** The /metrics text, over a connection closed after the answer. */
  metrics(): Promise<string>;
  /** /proc figures now. */
  sample(): ProcSample;
  /**
   * Open descriptors, the fewest of five samples 30 ms apart: a health probe in flight holds one for
   * a moment, and a baseline taken during it would be one too high.
   */
  fewestFds(): Promise<number>;
  /** The V8 heap (needs `heapProbe`). */
  heap(): Promise<HeapSample>;
  /** SIGTERM and wait for the exit code (bounded). */
  stop(ms?: number): Promise<number | null>;
  /** SIGKILL if still running. */
  kill(): void;
}

/** Write the table and start the speaker; resolves once it logged `speaker-started`. */
export async function startSpeakerProcess(opts: SpeakerProcessOptions): Promise<SpeakerProcess> {
  await writeFile(opts.tablePath, JSON.stringify(opts.table));
  const nodeArgs = opts.heapProbe ? ['--import', 'tsx', '--import', HEAP_PROBE] : [];
  const speakerArgs = [
    BIN,
    'speaker',
    '--table',
    opts.tablePath,
    '--workers',
    String(opts.workers ?? 1),
    '--metrics-address',
    '127.0.0.1:0',
    '--log-level',
    opts.logLevel ?? 'info',
    ...(opts.maxConnections !== undefined ? ['--max-connections', String(opts.maxConnections)] : []),
    ...(opts.drainTimeout !== undefined ? ['--drain-timeout', opts.drainTimeout] : []),
  ];
  // prlimit execs the program, so the child's PID is the speaker's own.
  const [program, args] =
    opts.nofile !== undefined
      ? ['prlimit', [`--nofile=${opts.nofile}:${opts.nofile}`, NODE, ...nodeArgs, ...speakerArgs]]
      : [NODE, [...nodeArgs, ...speakerArgs]];
  const child = spawn(program, args as string[], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: { event: string; count: number; resolve: (l: Record<string, unknown>) => void }[] = [];
  const nth = (event: string, count: number) => lines.filter((l) => l['event'] === event)[count - 1];
  const heapWaiters: ((h: HeapSample) => void)[] = [];
  let stderr = '';
  let outBuf = '';
  child.stdout!.on('data', (d: Buffer) => {
    outBuf += d.toString();
    for (let nl = outBuf.indexOf('\n'); nl >= 0; nl = outBuf.indexOf('\n')) {
      const line = outBuf.slice(0, nl);
      outBuf = outBuf.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        continue;
      }
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i]!;
        const hit = nth(w.event, w.count);
        if (hit) {
          waiters.splice(i, 1);
          w.resolve(hit);
        }
      }
    }
  });
  let errBuf = '';
  child.stderr!.on('data', (d: Buffer) => {
    errBuf += d.toString();
    for (let nl = errBuf.indexOf('\n'); nl >= 0; nl = errBuf.indexOf('\n')) {
      const line = errBuf.slice(0, nl);
      errBuf = errBuf.slice(nl + 1);
      if (line.startsWith(HEAP_PROBE_PREFIX)) {
        const h = JSON.parse(line.slice(HEAP_PROBE_PREFIX.length)) as { main: number; workers: number[] };
        const sample = { ...h, total: h.main + h.workers.reduce((a, b) => a + b, 0) };
        heapWaiters.shift()?.(sample);
      } else stderr += `${line}\n`;
    }
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const waitFor = (event: string, count = 1, ms = 30_000) => {
    const seen = nth(event, count);
    if (seen) return Promise.resolve(seen);
    const p = new Promise<Record<string, unknown>>((res) => waiters.push({ event, count, resolve: res }));
    return within(ms, `speaker log event ${event} #${count} (stderr: ${stderr.slice(-500)})`, p);
  };
  const started = await Promise.race([
    waitFor('speaker-started', 1, 60_000),
    exited.then((code) => {
      throw new Error(`speaker exited with ${code} before starting: ${stderr}`);
    }),
  ]);
  const m = started['metrics'] as { address: string; port: number };
  const metricsUrl = `http://${m.address}:${m.port}/metrics`;
  const proc: SpeakerProcess = {
    child,
    pid: child.pid!,
    lines,
    stderr: () => stderr,
    exited,
    waitFor,
    metricsUrl,
    // Connection: close, so that no idle keep-alive connection stays in the speaker and goes away
    // seconds later: the descriptor counts the tests compare would move with it.
    metrics: async () => (await fetch(metricsUrl, { headers: { connection: 'close' } })).text(),
    sample: () => sampleProc(child.pid!),
    fewestFds: async () => {
      let fewest = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 5; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 30));
        fewest = Math.min(fewest, sampleProc(child.pid!).fds);
      }
      return fewest;
    },
    heap: () => {
      const p = new Promise<HeapSample>((res) => heapWaiters.push(res));
      child.kill('SIGUSR2');
      return within(10_000, 'a heap-probe line', p);
    },
    stop: async (ms = 30_000) => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return within(ms, 'the speaker to exit after SIGTERM', exited);
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
  return proc;
}

/** The sum of the series of `name` whose labels include every `label="value"` of `labels`; NaN if none. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    found = true;
  }
  return found ? sum : Number.NaN;
}

/** A backend address as the reliability scenarios start them. */
export interface BackendAddress {
  readonly address: string;
  readonly port: number;
}

/**
 * The table of one listener `service` on `vip:port` over `backends` (nodes n1, n2, ...) with TCP
 * health checks every 2 s; `extra` adds or overrides listener fields (limits, timeouts).
 */
export function singleListenerTable(
  service: string,
  vip: string,
  port: number,
  backends: readonly BackendAddress[],
  extra: Record<string, unknown> = {},
): SpeakerProcessOptions['table'] {
  return {
    version: 1,
    listeners: [
      {
        service,
        vip,
        port,
        backends: backends.map((b, i) => ({ node: `n${i + 1}`, address: b.address, nodePort: b.port })),
        healthCheck: { type: 'tcp', interval: '2s', timeout: '1s' },
        ...extra,
      },
    ],
  };
}
