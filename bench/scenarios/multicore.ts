/**
 * `multicore` (`--workers-scan`): the speaker with 1, 2, ... N data-plane workers under the rr load,
 * with the proxy given half the machine's CPUs and the load generator and nginx the other half.
 * Figures per worker count: requests per second and CPU µs per request. Only the speaker is scanned.
 */
import { BACKEND_HOST } from '../addresses.ts';
import { planCpus } from '../cpu-plan.ts';
import { cpuCount } from '../machine.ts';
import type { RunningPath } from '../paths/path.ts';
import { switchyardPath } from '../paths/switchyard.ts';
import { Collector, type Metrics, type Outcome } from '../results.ts';
import { rrMetrics } from './rr.ts';
import { type BenchContext, baseSetup, interleave, messageOf, startBackendNginx } from './scenario.ts';
import { measureWrkWindow } from './wrk-window.ts';

/** Kept-alive connections of the scan's load, the same at every worker count. */
export const MULTICORE_CONNECTIONS = 1000;

/** Worker counts to scan: 1..max, where max defaults to the proxy's CPUs (at least 2). */
export function workerCounts(proxyCpus: number, maxWorkers: number | null): number[] {
  const max = maxWorkers ?? Math.max(2, proxyCpus);
  return Array.from({ length: max }, (_, i) => i + 1);
}

/** Run the scan; the result is keyed `workers1`, `workers2`, ... */
export async function runMulticore(ctx: BenchContext): Promise<{ switchyard: Record<string, Outcome> }> {
  const plan = planCpus(cpuCount(), ctx.env.tools['taskset'] !== null, Math.floor(cpuCount() / 2));
  const scan: BenchContext = { ...ctx, env: { ...ctx.env, plan } };
  const counts = workerCounts(plan.proxyCount, ctx.opts.maxWorkers);
  const collector = new Collector<string>();
  const key = (n: number): string => `workers${n}`;
  const problem = ctx.pathProblems.get('switchyard');
  if (problem) {
    for (const n of counts) collector.unavailable(key(n), problem);
    return { switchyard: Object.fromEntries(counts.map((n) => [key(n), collector.outcome(key(n))])) };
  }
  ctx.progress(`multicore: ${plan.description}; workers ${counts.join(', ')}`);
  const nginx = await startBackendNginx(scan, 'multicore-nginx', plan.loadCount);
  const running = new Map<number, RunningPath>();
  try {
    for (const n of counts) {
      try {
        const setup = { ...baseSetup(scan, { host: BACKEND_HOST, port: nginx.port }), workers: n };
        running.set(n, await switchyardPath.start(scan.env, setup));
      } catch (err) {
        collector.unavailable(key(n), `switchyard with ${n} workers failed to start: ${messageOf(err)}`);
      }
    }
    const rounds = ctx.opts.rounds;
    await interleave(scan, rounds, [...running.entries()], async ([n, path], round) => {
      const label = `multicore round ${round + 1}/${rounds} ${n} workers`;
      try {
        const w = await measureWrkWindow(
          scan,
          nginx,
          { front: path.front, connections: MULTICORE_CONNECTIONS, awaitBackendConnections: true },
          path.pid,
        );
        const m: Metrics = { ...rrMetrics(w), workers: n };
        collector.record(key(n), m);
        ctx.progress(`${label}: ${Math.round(m['reqPerSec'] ?? 0)} req/s`);
      } catch (err) {
        ctx.progress(`${label} failed: ${messageOf(err)}`);
        collector.fail(key(n), messageOf(err));
      }
    });
  } finally {
    for (const r of running.values()) await r.stop().catch(() => {});
    await ctx.env.procs.stop(nginx.child);
  }
  return { switchyard: Object.fromEntries(counts.map((n) => [key(n), collector.outcome(key(n))])) };
}
