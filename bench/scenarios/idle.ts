/**
 * `idle`: 10,000 concurrent idle connections held through the path. Figure: the proxy's resident
 * memory per connection (RSS with them open minus RSS before, divided by their number). Each round
 * starts every proxy fresh, so memory left over from earlier load does not hide the cost.
 */
import { join } from 'node:path';
import { BACKEND_HOST, IDLE_CLIENT_SOURCES } from '../addresses.ts';
import { launch } from '../cpu-plan.ts';
import type { BenchPath, PathName, RunningPath } from '../paths/path.ts';
import { sampleTree } from '../proc-stat.ts';
import type { Child } from '../processes.ts';
import { Collector, type Metrics, type PathOutcomes, pathOutcomes } from '../results.ts';
import { type BenchContext, baseSetup, checkAborted, interleave, messageOf } from './scenario.ts';

/** Bound on opening every connection and seeing them all at the backend. */
const HOLD_TIMEOUT_MS = 90_000;

function script(ctx: BenchContext, name: string, args: readonly string[]): string[] {
  return launch(
    [ctx.env.node, '--import', 'tsx', join(ctx.env.repoRoot, 'bench', name), ...args],
    ctx.env.plan.load,
  );
}

async function measureOnce(ctx: BenchContext, path: BenchPath, connections: number): Promise<Metrics> {
  const procs = ctx.env.procs;
  const sink = procs.spawn(
    'idle sink',
    script(ctx, 'idle-sink.ts', ['--listen', `${BACKEND_HOST}:0`, '--expect', String(connections)]),
    { cwd: ctx.env.repoRoot },
  );
  let client: Child | null = null;
  let running: RunningPath | null = null;
  try {
    const m = await sink.waitForLine(/^listening (\S+):(\d+)$/, 30_000);
    running = await path.start(ctx.env, baseSetup(ctx, { host: m[1]!, port: Number(m[2]) }));
    checkAborted(ctx);
    const before = running.pid === null ? null : await sampleTree(running.pid);
    client = procs.spawn(
      'idle client',
      script(ctx, 'idle-client.ts', [
        '--target',
        `${running.front.host}:${running.front.port}`,
        '--connections',
        String(connections),
        '--sources',
        IDLE_CLIENT_SOURCES.join(','),
      ]),
      { cwd: ctx.env.repoRoot },
    );
    const opened = await client.waitForLine(/^(open|failed) .*$/, HOLD_TIMEOUT_MS);
    if (opened[1] !== 'open') throw new Error(`idle client ${opened[0]}`);
    await sink.waitForLine(/^held \d+$/, HOLD_TIMEOUT_MS);
    const after = running.pid === null ? null : await sampleTree(running.pid);
    return {
      connections,
      kibPerConn: before && after ? (after.rssKiB - before.rssKiB) / connections : null,
      rssBeforeKiB: before?.rssKiB ?? null,
      rssAfterKiB: after?.rssKiB ?? null,
    };
  } finally {
    if (client) await procs.stop(client);
    await running?.stop();
    await procs.stop(sink);
  }
}

/** Run the idle scenario over every path. */
export async function runIdle(ctx: BenchContext): Promise<PathOutcomes> {
  const collector = new Collector<PathName>();
  const paths: BenchPath[] = [];
  for (const p of ctx.paths) {
    const problem = ctx.pathProblems.get(p.name);
    if (problem) collector.unavailable(p.name, problem);
    else paths.push(p);
  }
  const connections = ctx.connectionCap;
  const rounds = ctx.opts.slowRounds;
  await interleave(ctx, rounds, paths, async (path, round) => {
    const label = `idle round ${round + 1}/${rounds} ${path.name}`;
    try {
      const m = await measureOnce(ctx, path, connections);
      collector.record(path.name, m);
      const kib = m['kibPerConn'];
      ctx.progress(
        `${label}: ${connections} connections${typeof kib === 'number' ? `, ${kib.toFixed(2)} KiB each` : ''}`,
      );
    } catch (err) {
      ctx.progress(`${label} failed: ${messageOf(err)}`);
      collector.fail(path.name, messageOf(err));
    }
  });
  return pathOutcomes(collector);
}
