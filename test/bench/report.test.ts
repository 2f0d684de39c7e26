import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BenchEnv } from '../../bench/env.ts';
import type { PathName } from '../../bench/paths/path.ts';
import {
  baseRatioRounds,
  formatNumber,
  ratioMedians,
  ratioRounds,
  renderReport,
  resultsDocument,
} from '../../bench/report.ts';
import { Collector, type Outcome, type PathOutcomes, pathOutcomes } from '../../bench/results.ts';
import { median, roundRatios } from '../../bench/stats.ts';

const env: BenchEnv = {
  cpus: 2,
  cpuModel: 'test cpu',
  node: 'v24.0.0',
  haproxy: 'HAProxy version 2.6',
  wrk: 'wrk 4.1.0',
  nginx: 'nginx/1.22.1',
  iperf3: 'iperf 3.12',
  date: '2026-01-01T00:00:00.000Z',
  quick: true,
  pinning: 'proxy on CPU 0',
  nofile: 20_000,
  connections: 9_950,
  rounds: 3,
  slowRounds: 1,
  durationSec: 1,
  warmSec: 0.5,
};

function rr(sw: number[], hp: number[], naive: number[]): PathOutcomes {
  const c = new Collector<PathName>();
  const n = Math.max(sw.length, hp.length);
  for (let i = 0; i < n; i++) {
    const s = sw[i];
    if (s === undefined) c.fail('switchyard', `round ${i} broke`);
    else c.record('switchyard', { cpuUsPerReq: s, p99Us: s * 100 });
    c.record('haproxy', { cpuUsPerReq: hp[i]!, p99Us: hp[i]! * 100 });
    c.record('naive', { cpuUsPerReq: naive[i]!, p99Us: 1 });
    c.record('direct', { cpuUsPerReq: null, p99Us: 1 });
  }
  return pathOutcomes(c);
}

describe('median and roundRatios', () => {
  it('takes the middle of odd and the mean of the two middles of even counts, ignoring gaps', () => {
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([null, 7, undefined]), 7);
    assert.equal(median([]), null);
  });

  it('divides round by round and leaves a gap where either side is missing', () => {
    assert.deepEqual(roundRatios([2, 3, null], [1, 0, 4]), [2, null, null]);
  });
});

describe('ratios', () => {
  it('is the median of per-round switchyard ÷ other, not the ratio of medians', () => {
    // Per-round ratios 2, 1, 3 have median 2; the ratio of medians would be 4 / 3.
    const s = { rr: rr([2, 4, 9], [1, 4, 3], [4, 4, 4]) };
    const rounds = ratioRounds(s);
    assert.deepEqual(rounds.rr_cpu_vs_haproxy, [2, 1, 3]);
    const m = ratioMedians(rounds);
    assert.equal(m.rr_cpu_vs_haproxy, 2);
    assert.equal(m.rr_p99_vs_haproxy, 2);
    assert.equal(m.rr_cpu_vs_naive, 1);
    assert.equal(m.connect_cpu_vs_haproxy, null, 'connect was not run');
  });

  it('keeps a failed round in its slot so later rounds still pair with the same round', () => {
    const s = { rr: rr([3], [1, 5], [1, 1]) };
    assert.deepEqual(ratioRounds(s).rr_cpu_vs_haproxy, [3, null]);
  });

  it('is null when the speaker is unavailable', () => {
    const c = new Collector<PathName>();
    c.unavailable('switchyard', 'the speaker is unavailable: not built');
    c.record('haproxy', { cpuUsPerReq: 5 });
    assert.equal(ratioMedians(ratioRounds({ rr: pathOutcomes(c) })).rr_cpu_vs_haproxy, null);
  });
});

describe('resultsDocument', () => {
  it('has env, scenarios with all four paths, ratios, and the per-round figures', () => {
    const doc = resultsDocument(env, { rr: rr([2, 4, 8], [1, 4, 2], [4, 4, 4]) }) as {
      env: BenchEnv;
      scenarios: { rr: Record<string, { available: boolean; cpuUsPerReq?: number; rounds?: unknown[] }> };
      ratios: Record<string, number | null>;
      ratioRounds: Record<string, unknown[]>;
    };
    assert.equal(doc.env.quick, true);
    assert.deepEqual(Object.keys(doc.scenarios.rr), ['switchyard', 'haproxy', 'naive', 'direct']);
    assert.equal(doc.scenarios.rr['switchyard']!.cpuUsPerReq, 4);
    assert.equal(doc.scenarios.rr['switchyard']!.rounds!.length, 3);
    assert.deepEqual(Object.keys(doc.ratios).sort(), [
      'bulk_cpu_vs_haproxy',
      'connect_cpu_vs_haproxy',
      'idle_mem_vs_haproxy',
      'rr_cpu_vs_haproxy',
      'rr_cpu_vs_naive',
      'rr_p99_vs_haproxy',
    ]);
    assert.deepEqual(doc.ratioRounds['rr_cpu_vs_haproxy'], [2, 1, 4]);
  });
});

describe('renderReport', () => {
  it('prints each path with its figures and says why an unavailable path was not measured', () => {
    const c = new Collector<PathName>();
    c.unavailable('switchyard', 'the speaker is unavailable: no speaker in this build');
    c.record('haproxy', { reqPerSec: 12345.6, cpuUsPerReq: 7.04, p50Us: 600, p99Us: 2000, errors: 0 });
    const text = renderReport(env, { rr: pathOutcomes(c) });
    assert.match(text, /^haproxy\s+12,346\s+7\.0\s+600\s+2,000\s+0$/m);
    assert.match(text, /^switchyard\s+unavailable: the speaker is unavailable/m);
    assert.match(text, /not measured:\n\s+- the speaker is unavailable: no speaker in this build/);
  });

  it('shows the scale curve relative to 100 connections, so a flat curve reads 1.00', () => {
    const point = (cpu: number): Outcome => ({
      available: true,
      median: { cpuUsPerReq: cpu },
      rounds: [{ cpuUsPerReq: cpu }],
      failures: [],
    });
    const scale = {
      switchyard: { conn100: point(10), conn10000: point(15), listeners1000: point(10) },
      haproxy: { conn100: point(8), conn10000: point(8), listeners1000: point(8) },
      naive: { conn100: point(12), conn10000: point(24) },
      direct: {},
    };
    const text = renderReport(env, { scale });
    const flat = text.slice(text.indexOf('relative to conn100'));
    assert.match(flat, /^switchyard\s+1\.00\s+1\.50\s+1\.00$/m);
    assert.match(flat, /^haproxy\s+1\.00\s+1\.00\s+1\.00$/m);
    assert.match(flat, /^naive\s+1\.00\s+2\.00\s+-$/m);
  });

  it('formats missing numbers as a dash', () => {
    assert.equal(formatNumber(null, 2), '-');
    assert.equal(formatNumber(1234.567, 1), '1,234.6');
  });
});

describe('base ratios', () => {
  it('compare switchyard with the base checkout round by round, and appear only when base ran', () => {
    const c = new Collector<PathName>();
    for (const [sw, base] of [
      [2, 4],
      [3, 3],
      [1, 4],
    ] as const) {
      c.record('switchyard', { cpuUsPerReq: sw, p99Us: 10 });
      c.record('base', { cpuUsPerReq: base, p99Us: 20 });
    }
    const withBase = { rr: pathOutcomes(c) };
    assert.deepEqual(baseRatioRounds(withBase).rr_cpu_vs_base, [0.5, 1, 0.25]);
    const doc = resultsDocument(env, withBase) as { baseRatios?: Record<string, number | null> };
    assert.equal(doc.baseRatios?.['rr_cpu_vs_base'], 0.5);
    assert.equal(doc.baseRatios?.['rr_p99_vs_base'], 0.5);
    assert.match(renderReport(env, withBase), /^rr_cpu_vs_base\s+0\.50$/m);

    const without = { rr: rr([2, 4, 9], [1, 4, 3], [4, 4, 4]) };
    assert.equal((resultsDocument(env, without) as { baseRatios?: unknown }).baseRatios, undefined);
    assert.doesNotMatch(renderReport(env, without), /vs_base/);
  });

  it('leaves paths that did not run out of the results instead of listing them as missing', () => {
    const c = new Collector<PathName>();
    c.record('switchyard', { cpuUsPerReq: 1 });
    c.record('haproxy', { cpuUsPerReq: 1 });
    assert.deepEqual(Object.keys(pathOutcomes(c)), ['switchyard', 'haproxy']);
  });
});
