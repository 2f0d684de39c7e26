/**
 * One measured wrk run. wrk starts, the connections are set up and the proxy warms up; then a window
 * of `windowSec` is measured by reading the proxy's CPU time and nginx's request counter at both
 * ends; then wrk is stopped with SIGINT (it prints its latency report on SIGINT). Connection set-up
 * and JIT warm-up therefore stay out of the per-request CPU figure.
 */

import type { NginxServer } from '../backends/nginx.ts';
import { launch } from '../cpu-plan.ts';
import type { Endpoint } from '../paths/path.ts';
import { sampleTree } from '../proc-stat.ts';
import { parseWrkOutput, type WrkReport } from '../wrk-parse.ts';
import type { BenchContext } from './scenario.ts';

/** Longest wait for the backend to see the wanted number of connections before warm-up starts. */
const CONNECT_WAIT_MS = 30_000;
/**
 * The connection count is taken as final when it has grown less than 1% in this long. Clients whose
 * SYNs were dropped retry after 1, 3, 7, 15 s, so growth comes in bursts up to 8 s apart.
 */
const PLATEAU_MS = 10_000;
/** Longest wait for the connections of the previous run to be gone from the backend. */
const SETTLE_MS = 20_000;
/** Connections the backend may still hold and count as idle (stragglers, the status request). */
const SETTLED_CONNECTIONS = 5;
/** Time wrk gets to print its report after SIGINT. */
const WRK_EXIT_MS = 15_000;

/** One wrk load. */
export interface WrkLoad {
  readonly front: Endpoint;
  readonly connections: number;
  /** Extra request headers, e.g. `Connection: close`. */
  readonly headers?: readonly string[];
  /** Wait until nginx holds about this many connections before warming up (kept-alive loads). */
  readonly awaitBackendConnections?: boolean;
}

/** What one window measured. */
export interface WrkWindow {
  /** Requests nginx answered inside the window. */
  readonly requests: number;
  readonly seconds: number;
  /** Connections nginx held when the window opened (the status request's own left out). */
  readonly backendConnections: number;
  /** Proxy CPU seconds inside the window; null without a proxy. */
  readonly cpuSeconds: number | null;
  /** wrk's own report of the whole run (latency, errors). */
  readonly wrk: WrkReport;
}

/**
 * Wait until nginx holds about `want` connections. A proxy with a short accept queue takes
 * connections slowly in a 10,000-connection burst (clients back off on dropped SYNs), so the wait
 * also ends once the count stops growing, and the window then reports how many were really held.
 */
async function waitForBackendConnections(ctx: BenchContext, nginx: NginxServer, want: number): Promise<void> {
  const deadline = Date.now() + CONNECT_WAIT_MS;
  // 2% slack: a few sockets may still be in the accept queue; the warm-up covers them.
  const enough = Math.floor(want * 0.98);
  let active = 0;
  let best = 0;
  let bestAt = Date.now();
  while (Date.now() < deadline && !ctx.signal.aborted) {
    active = (await nginx.status()).active;
    if (active >= enough) return;
    if (active > best * 1.01) {
      best = active;
      bestAt = Date.now();
    } else if (Date.now() - bestAt > PLATEAU_MS) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  ctx.progress(`nginx holds ${active} of ${want} connections, no longer growing; measuring at that`);
}

/**
 * Wait until the previous run's connections have left nginx: closing 10,000 of them keeps the
 * backend busy for a while, and that must not land in the next path's window.
 */
async function waitForBackendIdle(ctx: BenchContext, nginx: NginxServer): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  while (Date.now() < deadline && !ctx.signal.aborted) {
    if ((await nginx.status()).active <= SETTLED_CONNECTIONS) return;
    await new Promise((r) => setTimeout(r, 100));
  }
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
  // A hard bound on wrk's run; normally SIGINT ends it long before.
  const bound = Math.ceil(CONNECT_WAIT_MS / 1000 + warmSec + durationSec + 10);
  const threads = Math.min(ctx.env.plan.loadCount, load.connections);
  const argv = [
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
  await waitForBackendIdle(ctx, nginx);
  const wrk = ctx.env.procs.spawn('wrk', launch(argv, ctx.env.plan.load));
  try {
    if (load.awaitBackendConnections) await waitForBackendConnections(ctx, nginx, load.connections);
    await sleep(ctx, warmSec * 1000);
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
    const report = parseWrkOutput(wrk.output());
    return {
      // The second status request counted itself.
      requests: Math.max(0, s1.requests - s0.requests - 1),
      seconds: (t1 - t0) / 1000,
      backendConnections: Math.max(0, s0.active - 1),
      cpuSeconds: c0 && c1 ? c1.cpuSeconds - c0.cpuSeconds : null,
      wrk: report,
    };
  } finally {
    await ctx.env.procs.stop(wrk);
  }
}
