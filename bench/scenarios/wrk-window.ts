/**
 * One measured wrk run. wrk starts, the connections are set up and the proxy warms up; then a window
 * of `durationSec` is measured by reading the proxy's CPU time and nginx's request counter at both
 * ends; then wrk is stopped with SIGINT (it prints its latency report on SIGINT). Connection set-up
 * and JIT warm-up therefore stay out of the per-request CPU figure.
 *
 * wrk's latency percentiles cover its whole run. Where they are quoted (`warmSeparately`), the
 * warm-up is a wrk run of its own, stopped before the measured one starts, so a proxy that is slow
 * while its JIT warms up (the Node paths) is not charged for it in p99 and a proxy with nothing to
 * warm (HAProxy) is not flattered by the comparison.
 */

import type { NginxServer } from '../backends/nginx.ts';
import { launch } from '../cpu-plan.ts';
import type { Endpoint } from '../paths/path.ts';
import { sampleTree } from '../proc-stat.ts';
import { parseWrkOutput, type WrkReport } from '../wrk-parse.ts';
import type { BenchContext } from './scenario.ts';

/** How long to wait for connections to come and go; `--quick` trades completeness for time. */
interface Waits {
  /** Longest wait for the backend to see the wanted number of connections. */
  readonly connectMs: number;
  /**
   * The connection count is taken as final when it has grown less than 1% in this long. Clients
   * whose SYNs were dropped retry after 1, 3, 7, 15 s, so growth comes in bursts seconds apart.
   */
  readonly plateauMs: number;
  /** Longest wait for the previous run's connections to be gone from the backend. */
  readonly settleMs: number;
}

const FULL_WAITS: Waits = { connectMs: 30_000, plateauMs: 10_000, settleMs: 20_000 };
const QUICK_WAITS: Waits = { connectMs: 12_000, plateauMs: 4000, settleMs: 8000 };
/**
 * Connections the backend may still hold and count as settled: 1% of the next load, at least 5. A
 * Node proxy hit by a 10,000-connection burst keeps a few dozen late-accepted ones for seconds after
 * the client is gone; they are idle, and the next run's count is taken relative to them.
 */
function settledConnections(nextLoad: number): number {
  return Math.max(5, Math.floor(nextLoad / 100));
}
/** Time wrk gets to print its report after SIGINT. */
const WRK_EXIT_MS = 15_000;
/** Interval between reads of nginx's counters while waiting. */
const POLL_MS = 100;

/** One wrk load. */
export interface WrkLoad {
  readonly front: Endpoint;
  readonly connections: number;
  /** Extra request headers, e.g. `Connection: close`. */
  readonly headers?: readonly string[];
  /** Wait until nginx holds about this many connections before warming up (kept-alive loads). */
  readonly awaitBackendConnections?: boolean;
  /**
   * Warm up with a wrk run of its own, so that the measured run's latency percentiles cover only
   * a warm proxy (its connection set-up and the window). For small loads: the connections are set
   * up twice.
   */
  readonly warmSeparately?: boolean;
}

/** What one window measured. */
export interface WrkWindow {
  /** Requests nginx answered inside the window. */
  readonly requests: number;
  readonly seconds: number;
  /** Connections this load held at nginx when the window opened. */
  readonly backendConnections: number;
  /** Proxy CPU seconds inside the window; null without a proxy. */
  readonly cpuSeconds: number | null;
  /** wrk's own report of the whole run (latency, errors). */
  readonly wrk: WrkReport;
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Wait until nginx holds about `want` more connections than `baseline`. A proxy with a short accept
 * queue takes connections slowly in a 10,000-connection burst (clients back off on dropped SYNs),
 * so the wait also ends once the count stops growing, and the window reports what was really held.
 */
async function waitForBackendConnections(
  ctx: BenchContext,
  nginx: NginxServer,
  want: number,
  baseline: number,
  waits: Waits,
): Promise<void> {
  const start = Date.now();
  // 2% slack: a few sockets may still be in the accept queue; the warm-up covers them.
  const enough = Math.floor(want * 0.98);
  let held = 0;
  let best = 0;
  let bestAt = start;
  while (Date.now() - start < waits.connectMs && !ctx.signal.aborted) {
    held = (await nginx.status()).active - baseline;
    if (held >= enough) return;
    if (held > best * 1.01) {
      best = held;
      bestAt = Date.now();
    } else if (Date.now() - bestAt > waits.plateauMs) break;
    await pause(POLL_MS);
  }
  ctx.progress(`nginx holds ${held} of ${want} connections, no longer growing; measuring at that`);
}

/**
 * Wait until the previous run's connections have left nginx (closing 10,000 of them keeps the
 * backend busy for a while, which must not land in the next path's window). Resolves with the
 * connections still there, the baseline the next run's count is taken from.
 */
async function waitForBackendIdle(
  ctx: BenchContext,
  nginx: NginxServer,
  nextLoad: number,
  waits: Waits,
): Promise<number> {
  const start = Date.now();
  const settled = settledConnections(nextLoad);
  let active = (await nginx.status()).active;
  while (active > settled && Date.now() - start < waits.settleMs && !ctx.signal.aborted) {
    await pause(POLL_MS);
    active = (await nginx.status()).active;
  }
  return active;
}

function sleep(ctx: BenchContext, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      ctx.signal.removeEventListener('abort', done);
      resolve();
    }
    ctx.signal.addEventListener('abort', done, { once: true });
  });
}

function wrkArgv(ctx: BenchContext, wrkPath: string, load: WrkLoad, bound: number): string[] {
  const threads = Math.min(ctx.env.plan.loadCount, load.connections);
  return [
    wrkPath,
    `-t${threads}`,
    `-c${load.connections}`,
    `-d${bound}s`,
    '--timeout',
    '5s',
    '--latency',
    ...(load.headers ?? []).flatMap((h) => ['-H', h]),
    `http://${load.front.host}:${load.front.port}/`,
  ];
}

/** Run wrk against `load.front` and measure one window. `proxyPid` null means no proxy (direct). */
export async function measureWrkWindow(
  ctx: BenchContext,
  nginx: NginxServer,
  load: WrkLoad,
  proxyPid: number | null,
): Promise<WrkWindow> {
  const wrkPath = ctx.env.tools['wrk'];
  if (!wrkPath) throw new Error('wrk is not installed');
  const { warmSec, durationSec } = ctx.opts;
  const waits = ctx.opts.quick ? QUICK_WAITS : FULL_WAITS;
  // A hard bound on wrk's run; normally SIGINT ends it long before.
  const bound = Math.ceil(waits.connectMs / 1000 + warmSec + durationSec + 10);
  const argv = wrkArgv(ctx, wrkPath, load, bound);
  if (load.warmSeparately && warmSec > 0) {
    const baseline = await waitForBackendIdle(ctx, nginx, load.connections, waits);
    const warm = ctx.env.procs.spawn('wrk (warm-up)', launch(argv, ctx.env.plan.load));
    try {
      if (load.awaitBackendConnections) {
        await waitForBackendConnections(ctx, nginx, load.connections, baseline, waits);
      }
      await sleep(ctx, warmSec * 1000);
      if (warm.hasExited) throw new Error(warm.describeExit());
      warm.process.kill('SIGINT');
      await warm.waitForExit(WRK_EXIT_MS);
    } finally {
      await ctx.env.procs.stop(warm);
    }
  }
  // The status request itself is one of the connections nginx reports.
  const baseline = await waitForBackendIdle(ctx, nginx, load.connections, waits);
  const wrk = ctx.env.procs.spawn('wrk', launch(argv, ctx.env.plan.load));
  try {
    if (load.awaitBackendConnections) {
      await waitForBackendConnections(ctx, nginx, load.connections, baseline, waits);
    }
    if (!load.warmSeparately) await sleep(ctx, warmSec * 1000);
    if (wrk.hasExited) throw new Error(wrk.describeExit());
    const s0 = await nginx.status();
    const c0 = proxyPid === null ? null : await sampleTree(proxyPid);
    const t0 = performance.now();
    await sleep(ctx, durationSec * 1000);
    const s1 = await nginx.status();
    const c1 = proxyPid === null ? null : await sampleTree(proxyPid);
    const t1 = performance.now();
    if (wrk.hasExited) throw new Error(wrk.describeExit());
    wrk.process.kill('SIGINT');
    await wrk.waitForExit(WRK_EXIT_MS);
    return {
      // The second status request counted itself.
      requests: Math.max(0, s1.requests - s0.requests - 1),
      seconds: (t1 - t0) / 1000,
      backendConnections: Math.max(0, s0.active - baseline),
      cpuSeconds: c0 && c1 ? c1.cpuSeconds - c0.cpuSeconds : null,
      wrk: parseWrkOutput(wrk.output()),
    };
  } finally {
    await ctx.env.procs.stop(wrk);
  }
}
