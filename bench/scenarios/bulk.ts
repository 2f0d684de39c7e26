/**
 * `bulk`: one long stream, iperf3 client → path → iperf3 server. Figures: Gbit/s and proxy CPU
 * seconds per GB moved, the copy cost of the data path.
 */
import { createServer, type Server } from 'node:net';
import { BACKEND_HOST, freePort } from '../addresses.ts';
import { startIperfServer } from '../backends/iperf-server.ts';
import { runIperfClient } from '../iperf.ts';
import type { PathName, RunningPath } from '../paths/path.ts';
import { sampleTree } from '../proc-stat.ts';
import { Collector, type PathOutcomes, pathOutcomes } from '../results.ts';
import {
  type BenchContext,
  baseSetup,
  interleave,
  markProblems,
  messageOf,
  startPaths,
  stopPaths,
} from './scenario.ts';

function listenPlaceholder(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer((s) => s.destroy());
    srv.once('error', reject);
    srv.listen(port, host, () => resolve(srv));
  });
}

/** Run the bulk scenario over every path. */
export async function runBulk(ctx: BenchContext): Promise<PathOutcomes> {
  const iperf = ctx.env.tools['iperf3'];
  if (!iperf) throw new Error('iperf3 is not installed');
  const collector = new Collector<PathName>();
  // The paths point at one port; a one-off server is started there before each stream. While the
  // paths start, a placeholder accepts there, so their readiness probes find a live backend and the
  // speaker's passive health does not mark the node down before the first stream.
  const port = await freePort(BACKEND_HOST);
  const placeholder = await listenPlaceholder(BACKEND_HOST, port);
  let running: Map<PathName, RunningPath>;
  try {
    const started = await startPaths(ctx, baseSetup(ctx, { host: BACKEND_HOST, port }));
    markProblems(collector, started);
    running = started.running;
  } finally {
    await new Promise((r) => placeholder.close(r));
  }
  try {
    await interleave(ctx, ctx.opts.rounds, [...running.values()], async (path, round) => {
      const label = `bulk round ${round + 1}/${ctx.opts.rounds} ${path.name}`;
      const server = await startIperfServer(ctx.env.procs, iperf, BACKEND_HOST, port, ctx.env.plan.load);
      try {
        const c0 = path.pid === null ? null : await sampleTree(path.pid);
        const r = await runIperfClient(
          ctx.env.procs,
          iperf,
          path.front.host,
          path.front.port,
          ctx.opts.durationSec,
          ctx.env.plan.load,
        );
        const c1 = path.pid === null ? null : await sampleTree(path.pid);
        const cpu = c0 && c1 ? c1.cpuSeconds - c0.cpuSeconds : null;
        const gb = r.bytes / 1e9;
        collector.record(path.name, {
          gbitPerSec: r.bitsPerSecond / 1e9,
          cpuSecPerGB: cpu === null || gb === 0 ? null : cpu / gb,
          bytes: r.bytes,
          cpuSeconds: cpu,
        });
        ctx.progress(`${label}: ${(r.bitsPerSecond / 1e9).toFixed(2)} Gbit/s`);
      } catch (err) {
        ctx.progress(`${label} failed: ${messageOf(err)}`);
        collector.fail(path.name, messageOf(err));
      } finally {
        await ctx.env.procs.stop(server.child);
      }
    });
  } finally {
    await stopPaths(ctx, running.values());
  }
  return pathOutcomes(collector);
}
