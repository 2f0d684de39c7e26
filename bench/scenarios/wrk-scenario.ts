/**
 * The shape shared by the wrk scenarios (rr, connect): one nginx backend, every path started once
 * and kept up across rounds, then interleaved measured windows.
 */
import { BACKEND_HOST } from '../addresses.ts';
import type { PathName } from '../paths/path.ts';
import { Collector, type Metrics, type PathOutcomes, pathOutcomes } from '../results.ts';
import {
  type BenchContext,
  baseSetup,
  interleave,
  markProblems,
  messageOf,
  startBackendNginx,
  startPaths,
  stopPaths,
} from './scenario.ts';
import { measureWrkWindow, type WrkLoad, type WrkWindow } from './wrk-window.ts';

/** What distinguishes one wrk scenario from another. */
export interface WrkScenario {
  readonly name: string;
  readonly load: Omit<WrkLoad, 'front'>;
  /** Turn a window into the scenario's figures. */
  metrics(w: WrkWindow): Metrics;
  /** The figure named in progress lines. */
  readonly headline: string;
}

/** Run a wrk scenario over every path. */
export async function runWrkScenario(ctx: BenchContext, s: WrkScenario): Promise<PathOutcomes> {
  const collector = new Collector<PathName>();
  const nginx = await startBackendNginx(ctx, `${s.name}-nginx`);
  try {
    const backend = { host: BACKEND_HOST, port: nginx.port };
    const started = await startPaths(ctx, baseSetup(ctx, backend));
    markProblems(collector, started);
    const running = started.running;
    try {
      await interleave(ctx, ctx.opts.rounds, [...running.values()], async (path, round) => {
        const label = `${s.name} round ${round + 1}/${ctx.opts.rounds} ${path.name}`;
        try {
          const m = s.metrics(await measureWrkWindow(ctx, nginx, { ...s.load, front: path.front }, path.pid));
          collector.record(path.name, m);
          ctx.progress(`${label}: ${Math.round(m[s.headline] ?? 0)} ${s.headline}`);
        } catch (err) {
          ctx.progress(`${label} failed: ${messageOf(err)}`);
          collector.fail(path.name, messageOf(err));
        }
      });
    } finally {
      await stopPaths(ctx, running.values());
    }
  } finally {
    await ctx.env.procs.stop(nginx.child);
  }
  return pathOutcomes(collector);
}
