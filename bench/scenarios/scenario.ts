/**
 * What every scenario shares: the run's context, starting the paths side by side, and the
 * interleaved round loop (A B C D, A B C D, ...) that keeps slow drifts of a shared machine from
 * landing on one path only.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BACKEND_HOST, freePort } from '../addresses.ts';
import { type NginxServer, startNginx } from '../backends/nginx.ts';
import type { BenchOptions } from '../options.ts';
import type { BenchPath, Endpoint, PathEnv, PathName, PathSetup, RunningPath } from '../paths/path.ts';
import type { Collector } from '../results.ts';

/** Everything a scenario needs. */
export interface BenchContext {
  readonly opts: BenchOptions;
  readonly env: PathEnv;
  /** Every path, in round order. */
  readonly paths: readonly BenchPath[];
  /** Paths that cannot run here at all, with the reason. */
  readonly pathProblems: ReadonlyMap<PathName, string>;
  /** The /healthz endpoint every proxy's health checks probe, up for the whole run. */
  readonly health: Endpoint;
  /** Most connections a proxy can hold under the open-file limit. */
  readonly connectionCap: number;
  /** The hard open-file limit, or null when unlimited. */
  readonly nofile: number | null;
  /** Say what is happening, for the person watching (stderr). */
  progress(message: string): void;
  /** Set on Ctrl-C: stop starting new work. */
  readonly signal: AbortSignal;
}

/** The message of any thrown value. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Throw if the run was interrupted, so the scenario unwinds into its `finally`. */
export function checkAborted(ctx: BenchContext): void {
  if (ctx.signal.aborted) throw new Error('interrupted');
}

/** Paths that started, and why the others did not. */
export interface StartedPaths {
  readonly running: Map<PathName, RunningPath>;
  readonly problems: Map<PathName, string>;
}

/**
 * Start every path for `setup`. A path that cannot run here, or fails to start, is listed in
 * `problems` with the reason; the others still run.
 */
export async function startPaths(
  ctx: BenchContext,
  setup: PathSetup,
  paths: readonly BenchPath[] = ctx.paths,
): Promise<StartedPaths> {
  const running = new Map<PathName, RunningPath>();
  const problems = new Map<PathName, string>();
  try {
    for (const path of paths) {
      checkAborted(ctx);
      const problem = ctx.pathProblems.get(path.name);
      if (problem) {
        problems.set(path.name, problem);
        continue;
      }
      try {
        running.set(path.name, await path.start(ctx.env, setup));
      } catch (err) {
        const reason = `${path.name} failed to start: ${messageOf(err)}`;
        ctx.progress(reason);
        problems.set(path.name, reason);
      }
    }
  } catch (err) {
    await stopPaths(ctx, running.values());
    throw err;
  }
  return { running, problems };
}

/** Mark every path that did not start as unavailable in `collector`. */
export function markProblems(collector: Collector<PathName>, started: StartedPaths): void {
  for (const [name, reason] of started.problems) collector.unavailable(name, reason);
}

/** Stop every started path; errors are reported, not thrown, so the rest still stop. */
export async function stopPaths(ctx: BenchContext, running: Iterable<RunningPath>): Promise<void> {
  for (const r of running) {
    await r.stop().catch((err: unknown) => ctx.progress(`stopping ${r.name}: ${messageOf(err)}`));
  }
}

/** A fresh scratch folder inside the run's folder. */
export async function scratch(ctx: Pick<BenchContext, 'env'>, name: string): Promise<string> {
  const dir = join(ctx.env.dir, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Start the nginx backend on the load CPUs with `workers` worker processes. */
export async function startBackendNginx(
  ctx: Pick<BenchContext, 'env' | 'nofile'>,
  name: string,
  workers = 1,
): Promise<NginxServer> {
  const nginx = ctx.env.tools['nginx'];
  if (!nginx) throw new Error('nginx is not installed');
  const port = await freePort(BACKEND_HOST);
  const statusPort = await freePort(BACKEND_HOST);
  return startNginx(
    ctx.env.procs,
    nginx,
    {
      dir: await scratch(ctx, name),
      host: BACKEND_HOST,
      port,
      statusPort,
      workers,
      // nginx warns (and may fail connections) past the open-file limit.
      workerConnections: ctx.nofile === null ? 20_000 : Math.max(1024, ctx.nofile - 100),
    },
    ctx.env.plan.load,
  );
}

/** The usual setup: one listener, one worker, room for the most connections the machine allows. */
export function baseSetup(ctx: BenchContext, backend: Endpoint): PathSetup {
  return { backend, health: ctx.health, listeners: 1, workers: 1, maxConnections: ctx.connectionCap };
}

/** Run `measure` for each round and each item in order: A B C D, A B C D, ... */
export async function interleave<T>(
  ctx: BenchContext,
  rounds: number,
  items: readonly T[],
  measure: (item: T, round: number) => Promise<void>,
): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (const item of items) {
      checkAborted(ctx);
      await measure(item, round);
    }
  }
}
