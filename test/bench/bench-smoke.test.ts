/**
 * One short round of the real benchmark: every path, four scenarios, ~1 s windows. It pins the shape
 * of bench/results/latest.json and that every figure is a sane positive number. It never asserts a
 * speed: the machine is shared and the numbers are noisy.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProcessSet } from '../../bench/processes.ts';

const repoRoot = join(import.meta.dirname, '..', '..');
const PATHS = ['switchyard', 'haproxy', 'naive', 'direct'];
const PROXIES = ['switchyard', 'haproxy', 'naive'];
/** Enough idle connections that each one's memory stands out of the noise of a fresh process. */
const IDLE_CONNECTIONS = 1000;
/** Figures each scenario must report for a measured path; `cpu` ones only for proxies. */
const FIGURES: Record<string, { all: string[]; cpu: string[] }> = {
  rr: { all: ['reqPerSec', 'p50Us', 'p99Us', 'requests'], cpu: ['cpuUsPerReq'] },
  connect: { all: ['connPerSec', 'connections'], cpu: ['cpuUsPerConn'] },
  bulk: { all: ['gbitPerSec', 'bytes'], cpu: ['cpuSecPerGB'] },
  idle: { all: ['connections'], cpu: ['kibPerConn'] },
};

type PathResult = { available: boolean; reason?: string; rounds?: unknown[] } & Record<string, unknown>;
interface Results {
  env: Record<string, unknown>;
  scenarios: Record<string, Record<string, PathResult>>;
  ratios: Record<string, number | null>;
}

const procs = new ProcessSet();
let dir = '';
let results: Results;
let output = '';

before(
  async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
    const out = join(dir, 'results.json');
    const run = procs.spawn(
      'bench',
      [
        process.execPath,
        '--import',
        'tsx',
        join(repoRoot, 'bench', 'run.ts'),
        '--scenarios',
        'rr,connect,bulk,idle',
        '--rounds',
        '1',
        '--duration',
        '1',
        '--warm',
        '0.3',
        '--max-connections',
        String(IDLE_CONNECTIONS),
        '--out',
        out,
      ],
      { cwd: repoRoot },
    );
    const exit = await run.waitForExit(100_000);
    output = run.output();
    assert.ok(exit, `the bench did not finish in 100 s:\n${output.slice(-3000)}`);
    assert.equal(exit.code, 0, `the bench failed:\n${output.slice(-3000)}`);
    results = JSON.parse(await readFile(out, 'utf8')) as Results;
  },
  { timeout: 120_000 },
);

after(async () => {
  await procs.stopAll();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('bench smoke run', { timeout: 130_000 }, () => {
  it('describes the machine and every tool version in env', () => {
    for (const k of ['cpus', 'cpuModel', 'node', 'haproxy', 'wrk', 'nginx', 'iperf3', 'date', 'quick']) {
      assert.ok(k in results.env, `env.${k}`);
    }
    assert.ok((results.env['cpus'] as number) >= 1);
    assert.match(results.env['node'] as string, /^v\d+\./);
    assert.match(results.env['haproxy'] as string, /HAProxy version \d/);
    assert.ok(!Number.isNaN(Date.parse(results.env['date'] as string)));
  });

  it('reports every path in every scenario, with positive figures or the reason it was not measured', () => {
    for (const [scenario, figures] of Object.entries(FIGURES)) {
      const s = results.scenarios[scenario];
      assert.ok(s, `scenario ${scenario}`);
      assert.deepEqual(Object.keys(s), PATHS);
      for (const path of PATHS) {
        const r: PathResult = s[path]!;
        if (!r.available) {
          // Only the speaker may be missing (before the data plane lands); it must say why.
          assert.equal(path, 'switchyard', `${scenario}/${path} unavailable: ${r.reason}`);
          assert.match(r.reason ?? '', /speaker/);
          continue;
        }
        const want = [...figures.all, ...(PROXIES.includes(path) ? figures.cpu : [])];
        for (const f of want) {
          const v = r[f];
          assert.ok(typeof v === 'number' && v > 0 && Number.isFinite(v), `${scenario}/${path}.${f} = ${v}`);
        }
        assert.equal(r.rounds?.length, 1, `${scenario}/${path} has its one round`);
      }
    }
  });

  it('has direct without proxy CPU, and latency percentiles in order', () => {
    assert.equal(results.scenarios['rr']!['direct']!['cpuUsPerReq'], null);
    for (const path of PATHS) {
      const r = results.scenarios['rr']![path]!;
      if (r.available) assert.ok((r['p99Us'] as number) >= (r['p50Us'] as number));
    }
  });

  it('holds the asked number of idle connections through each path', () => {
    for (const path of PATHS) {
      const r = results.scenarios['idle']![path]!;
      if (r.available) assert.equal(r['connections'], IDLE_CONNECTIONS);
    }
  });

  it('gives every ratio, as a positive number when the speaker ran and null when it did not', () => {
    const speaker = results.scenarios['rr']!['switchyard']!.available;
    for (const k of [
      'rr_cpu_vs_haproxy',
      'connect_cpu_vs_haproxy',
      'bulk_cpu_vs_haproxy',
      'idle_mem_vs_haproxy',
      'rr_p99_vs_haproxy',
      'rr_cpu_vs_naive',
    ]) {
      assert.ok(k in results.ratios, `ratios.${k}`);
      const v = results.ratios[k];
      if (speaker && k !== 'idle_mem_vs_haproxy') assert.ok(typeof v === 'number' && v > 0, `${k} = ${v}`);
      if (!speaker) assert.equal(v, null);
    }
  });

  it('prints a table with a row per path', () => {
    for (const path of PATHS) assert.match(output, new RegExp(`^${path}\\s`, 'm'));
  });
});
