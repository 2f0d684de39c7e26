/**
 * `scale`: proxy CPU per request as the load grows to 100, 1,000 and 10,000 concurrent kept-alive
 * connections, and with 1,000 listeners in the table instead of one (speaker and HAProxy). A proxy
 * that scales keeps this curve flat: holding more connections or more listeners must not make each
 * request cost more.
 */
import { BACKEND_HOST } from '../addresses.ts';
import { PATH_NAMES, type PathName, type RunningPath } from '../paths/path.ts';
import { Collector, type CurveOutcomes, type Metrics, type Outcome } from '../results.ts';
import { rrMetrics } from './rr.ts';
import {
  type BenchContext,
  baseSetup,
  interleave,
  messageOf,
  startBackendNginx,
  startPaths,
  stopPaths,
} from './scenario.ts';
import { measureWrkWindow } from './wrk-window.ts';

/** Listeners in the large table. */
export const MANY_LISTENERS = 1000;
/** Paths whose config can hold many listeners (the naive proxy and `direct` have one). */
const MANY_LISTENER_PATHS: readonly PathName[] = ['switchyard', 'base', 'haproxy'];

/** One point of the curve. */
interface Point {
  /** Key in the results, e.g. `conn1000`. */
  readonly key: string;
  readonly connections: number;
  readonly listeners: number;
}

/** The points measured, given how many connections a proxy can hold here. */
export function scalePoints(connectionCap: number): Point[] {
  const counts = [100, 1000, 10_000];
  return [
    ...counts.map((c) => ({ key: `conn${c}`, connections: Math.min(c, connectionCap), listeners: 1 })),
    {
      key: `listeners${MANY_LISTENERS}`,
      connections: Math.min(100, connectionCap),
      listeners: MANY_LISTENERS,
    },
  ];
}

type Key = `${PathName}|${string}`;

/** Run the scale scenario. */
export async function runScale(ctx: BenchContext): Promise<CurveOutcomes> {
  const points = scalePoints(ctx.connectionCap);
  const collector = new Collector<Key>();
  const nginx = await startBackendNginx(ctx, 'scale-nginx');
  const backend = { host: BACKEND_HOST, port: nginx.port };
  const byListeners = new Map<number, Map<PathName, RunningPath>>();
  try {
    for (const listeners of new Set(points.map((p) => p.listeners))) {
      const paths =
        listeners === 1 ? ctx.paths : ctx.paths.filter((p) => MANY_LISTENER_PATHS.includes(p.name));
      const started = await startPaths(ctx, { ...baseSetup(ctx, backend), listeners }, paths);
      byListeners.set(listeners, started.running);
      // A path that did not start is unavailable at every point of its table size.
      for (const [name, reason] of started.problems) {
        for (const pt of points)
          if (pt.listeners === listeners) collector.unavailable(`${name}|${pt.key}`, reason);
      }
    }
    const runs = points.flatMap((pt) =>
      [...(byListeners.get(pt.listeners)?.values() ?? [])].map((path) => ({ pt, path })),
    );
    const rounds = ctx.opts.slowRounds;
    await interleave(ctx, rounds, runs, async ({ pt, path }, round) => {
      const label = `scale round ${round + 1}/${rounds} ${pt.key} ${path.name}`;
      try {
        const w = await measureWrkWindow(
          ctx,
          nginx,
          { front: path.front, connections: pt.connections, awaitBackendConnections: true },
          path.pid,
        );
        const m: Metrics = { ...rrMetrics(w), connections: pt.connections, listeners: pt.listeners };
        collector.record(`${path.name}|${pt.key}`, m);
        const cpu = m['cpuUsPerReq'];
        const cpuText = typeof cpu === 'number' ? `, ${cpu.toFixed(1)} µs CPU/req` : '';
        ctx.progress(`${label}: ${Math.round(m['reqPerSec'] ?? 0)} req/s${cpuText}`);
      } catch (err) {
        ctx.progress(`${label} failed: ${messageOf(err)}`);
        collector.fail(`${path.name}|${pt.key}`, messageOf(err));
      }
    });
  } finally {
    for (const running of byListeners.values()) await stopPaths(ctx, running.values());
    await ctx.env.procs.stop(nginx.child);
  }
  const out: Partial<Record<PathName, Record<string, Outcome>>> = {};
  for (const p of PATH_NAMES) {
    if (!ctx.paths.some((path) => path.name === p)) continue;
    const curve: Record<string, Outcome> = {};
    for (const pt of points) {
      if (pt.listeners !== 1 && !MANY_LISTENER_PATHS.includes(p)) continue;
      curve[pt.key] = collector.outcome(`${p}|${pt.key}`);
    }
    out[p] = curve;
  }
  return out;
}
