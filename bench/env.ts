/** The `env` block of the results: what machine and which tool versions produced the figures. */
import { cpuCount, cpuModel } from './machine.ts';
import { TOOLS, type ToolPaths, toolVersion } from './tools.ts';

/** The machine and software a run was measured on. */
export interface BenchEnv {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly haproxy: string | null;
  readonly wrk: string | null;
  readonly nginx: string | null;
  readonly iperf3: string | null;
  /** ISO 8601 start time of the run. */
  readonly date: string;
  readonly quick: boolean;
  /** How the proxy and the load were pinned to CPUs. */
  readonly pinning: string;
  /** Hard open-file limit (null = unlimited), which caps the connection counts. */
  readonly nofile: number | null;
  /** Connections the idle and 10k scale points actually hold. */
  readonly connections: number;
  readonly rounds: number;
  readonly slowRounds: number;
  readonly durationSec: number;
  readonly warmSec: number;
}

/** Versions of every tool, by command name. */
async function versions(paths: ToolPaths): Promise<Record<string, string | null>> {
  const entries = await Promise.all(
    TOOLS.map(async (t) => [t.command, await toolVersion(paths[t.command] ?? null, t)]),
  );
  return Object.fromEntries(entries);
}

/** Gather the `env` block. */
export async function describeEnvironment(
  paths: ToolPaths,
  run: Pick<
    BenchEnv,
    'quick' | 'pinning' | 'nofile' | 'connections' | 'rounds' | 'slowRounds' | 'durationSec' | 'warmSec'
  >,
  date: Date,
): Promise<BenchEnv> {
  const v = await versions(paths);
  return {
    cpus: cpuCount(),
    cpuModel: cpuModel(),
    node: process.version,
    haproxy: v['haproxy'] ?? null,
    wrk: v['wrk'] ?? null,
    nginx: v['nginx'] ?? null,
    iperf3: v['iperf3'] ?? null,
    date: date.toISOString(),
    ...run,
  };
}
