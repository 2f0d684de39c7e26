/**
 * `npm run bench`: the same load through four paths (the speaker, HAProxy, a naive Node proxy, no
 * proxy), interleaved in rounds, with the proxy pinned apart from the load and measured by its own
 * CPU time per operation. Writes bench/results/latest.json and prints a table. See
 * docs/performance.md for the method.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VipPool } from './addresses.ts';
import { planCpus } from './cpu-plan.ts';
import { describeEnvironment } from './env.ts';
import { cpuCount, nofileHardLimit, proxiedConnectionCap } from './machine.ts';
import { type BenchOptions, parseOptions } from './options.ts';
import { directPath } from './paths/direct.ts';
import { haproxyPath } from './paths/haproxy.ts';
import { naivePath } from './paths/naive.ts';
import type { BenchPath, PathEnv, PathName } from './paths/path.ts';
import { basePath, switchyardPath } from './paths/switchyard.ts';
import { ProcessSet } from './processes.ts';
import { renderReport, resultsDocument, type ScenarioOutcomes } from './report.ts';
import { runBulk } from './scenarios/bulk.ts';
import { runConnect } from './scenarios/connect.ts';
import { runIdle } from './scenarios/idle.ts';
import { runMulticore } from './scenarios/multicore.ts';
import { runRr } from './scenarios/rr.ts';
import { runScale } from './scenarios/scale.ts';
import { type BenchContext, messageOf, startBackendNginx } from './scenarios/scenario.ts';
import { locateTools, missingToolsMessage } from './tools.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ALL_PATHS: readonly BenchPath[] = [switchyardPath, basePath, haproxyPath, naivePath, directPath];

const startedAt = performance.now();
/** Set by Ctrl-C or SIGTERM: scenarios stop starting work and unwind into their `finally`. */
const abort = new AbortController();

function progress(message: string): void {
  const t = ((performance.now() - startedAt) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`bench ${t}s: ${message}\n`);
}

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

/** Six significant digits are more than any figure here can claim. */
function roundForJson(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(6)) : value;
}

async function runScenarios(ctx: BenchContext): Promise<ScenarioOutcomes> {
  const out: ScenarioOutcomes = {};
  for (const name of ctx.opts.scenarios) {
    progress(`scenario ${name}`);
    if (name === 'rr') out.rr = await runRr(ctx);
    else if (name === 'connect') out.connect = await runConnect(ctx);
    else if (name === 'bulk') out.bulk = await runBulk(ctx);
    else if (name === 'idle') out.idle = await runIdle(ctx);
    else if (name === 'scale') out.scale = await runScale(ctx);
    else out.multicore = await runMulticore(ctx);
  }
  return out;
}

async function main(opts: BenchOptions): Promise<void> {
  const started = new Date();
  const tools = locateTools();
  const missing = missingToolsMessage(tools);
  if (missing) fail(missing);

  const procs = new ProcessSet();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (abort.signal.aborted) {
      procs.killAllNow();
      process.exit(130);
    }
    progress(`${sig}: stopping every process the benchmark started`);
    abort.abort();
    void procs.stopAll();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => procs.killAllNow());

  const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-'));
  const plan = planCpus(cpuCount(), tools['taskset'] !== null);
  const nofile = nofileHardLimit();
  const connectionCap = Math.min(
    proxiedConnectionCap(nofile),
    opts.maxConnections ?? Number.POSITIVE_INFINITY,
  );
  const env: PathEnv = {
    procs,
    plan,
    tools,
    vips: new VipPool(),
    dir,
    repoRoot,
    speakerRoot: opts.speakerRoot === null ? repoRoot : resolve(opts.speakerRoot),
    baseRoot: opts.baseRoot === null ? null : resolve(opts.baseRoot),
    node: process.execPath,
  };
  progress(
    `${plan.description}; ${connectionCap} connections at most (open-file limit ${nofile ?? 'unlimited'})`,
  );
  if (connectionCap < 10_000 && opts.maxConnections === null) {
    progress(
      `the open-file limit allows ${connectionCap} proxied connections, not 10,000: idle and scale use ${connectionCap}`,
    );
  }

  try {
    const pathProblems = new Map<PathName, string>();
    const paths = ALL_PATHS.filter((p) => opts.paths.includes(p.name));
    for (const p of paths) {
      const problem = await p.check(env);
      if (problem) {
        pathProblems.set(p.name, problem);
        progress(`${p.name}: ${problem}`);
      }
    }
    // The stand-in for kube-proxy's /healthz that every proxy's health checks probe.
    const health = await startBackendNginx({ env, nofile }, 'healthz');
    const ctx: BenchContext = {
      opts,
      env,
      paths,
      pathProblems,
      health: { host: health.host, port: health.port },
      connectionCap,
      nofile,
      progress,
      signal: abort.signal,
    };
    const outcomes = await runScenarios(ctx);
    const envBlock = await describeEnvironment(
      tools,
      {
        quick: opts.quick,
        pinning: plan.description,
        nofile,
        connections: connectionCap,
        rounds: opts.rounds,
        slowRounds: opts.slowRounds,
        durationSec: opts.durationSec,
        warmSec: opts.warmSec,
      },
      started,
    );
    const out = resolve(opts.out);
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, `${JSON.stringify(resultsDocument(envBlock, outcomes), roundForJson, 2)}\n`);
    process.stdout.write(renderReport(envBlock, outcomes));
    progress(`results written to ${out}`);
  } finally {
    await procs.stopAll();
    await rm(dir, { recursive: true, force: true });
  }
  if (abort.signal.aborted) process.exit(130);
}

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) fail(`bench: needs Node.js 24 (this is ${process.version}); run it as \`npm run bench\`.`);
let opts: BenchOptions;
try {
  opts = parseOptions();
} catch (err) {
  fail(`bench: ${messageOf(err)}`);
}
try {
  await main(opts);
} catch (err) {
  fail(
    abort.signal.aborted
      ? 'bench: interrupted; every process it started is stopped'
      : `bench: ${messageOf(err)}`,
    abort.signal.aborted ? 130 : 1,
  );
}
