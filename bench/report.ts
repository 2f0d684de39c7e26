/**
 * Turns scenario outcomes into the results document (bench/results/latest.json) and the table on
 * stdout. Ratios are switchyard ÷ other per round, then the median over rounds: lower is better.
 */
import type { BenchEnv } from './env.ts';
import { PATH_NAMES, type PathName } from './paths/path.ts';
import type { CurveOutcomes, Outcome, PathOutcomes } from './results.ts';
import { roundValues } from './results.ts';
import { median, roundRatios } from './stats.ts';

/** What the scenarios produced, by scenario name; absent when not run. */
export interface ScenarioOutcomes {
  rr?: PathOutcomes;
  connect?: PathOutcomes;
  bulk?: PathOutcomes;
  idle?: PathOutcomes;
  scale?: CurveOutcomes;
  multicore?: { readonly switchyard: Readonly<Record<string, Outcome>> };
}

/** The ratios quoted: scenario, metric and the path switchyard is divided by. */
export const RATIOS = {
  rr_cpu_vs_haproxy: { scenario: 'rr', metric: 'cpuUsPerReq', other: 'haproxy' },
  connect_cpu_vs_haproxy: { scenario: 'connect', metric: 'cpuUsPerConn', other: 'haproxy' },
  bulk_cpu_vs_haproxy: { scenario: 'bulk', metric: 'cpuSecPerGB', other: 'haproxy' },
  idle_mem_vs_haproxy: { scenario: 'idle', metric: 'kibPerConn', other: 'haproxy' },
  rr_p99_vs_haproxy: { scenario: 'rr', metric: 'p99Us', other: 'haproxy' },
  rr_cpu_vs_naive: { scenario: 'rr', metric: 'cpuUsPerReq', other: 'naive' },
} as const;

/** Name of a quoted ratio. */
export type RatioName = keyof typeof RATIOS;

/**
 * This checkout's speaker against the base checkout's (`--base-root`), round by round: the figure
 * a change to the hot path is judged by. Reported only when the base path ran.
 */
export const BASE_RATIOS = {
  rr_cpu_vs_base: { scenario: 'rr', metric: 'cpuUsPerReq', other: 'base' },
  connect_cpu_vs_base: { scenario: 'connect', metric: 'cpuUsPerConn', other: 'base' },
  bulk_cpu_vs_base: { scenario: 'bulk', metric: 'cpuSecPerGB', other: 'base' },
  idle_mem_vs_base: { scenario: 'idle', metric: 'kibPerConn', other: 'base' },
  rr_p99_vs_base: { scenario: 'rr', metric: 'p99Us', other: 'base' },
} as const;

/** Name of a base-vs-change ratio. */
export type BaseRatioName = keyof typeof BASE_RATIOS;

type RatioSpec = {
  readonly scenario: 'rr' | 'connect' | 'bulk' | 'idle';
  readonly metric: string;
  readonly other: PathName;
};

function roundsOf<N extends string>(
  s: ScenarioOutcomes,
  specs: Record<N, RatioSpec>,
): Record<N, (number | null)[]> {
  const out = {} as Record<N, (number | null)[]>;
  for (const [name, r] of Object.entries(specs) as [N, RatioSpec][]) {
    const outcomes = s[r.scenario];
    out[name] = outcomes
      ? roundRatios(roundValues(outcomes.switchyard, r.metric), roundValues(outcomes[r.other], r.metric))
      : [];
  }
  return out;
}

/** Per-round switchyard ÷ other values of every ratio (empty when a side is missing). */
export function ratioRounds(s: ScenarioOutcomes): Record<RatioName, (number | null)[]> {
  return roundsOf(s, RATIOS);
}

/** Per-round switchyard ÷ base values; empty when the base path did not run. */
export function baseRatioRounds(s: ScenarioOutcomes): Record<BaseRatioName, (number | null)[]> {
  return roundsOf(s, BASE_RATIOS);
}

/** Whether the base path ran in any scenario. */
function hasBase(s: ScenarioOutcomes): boolean {
  return (['rr', 'connect', 'bulk', 'idle'] as const).some((n) => s[n]?.base !== undefined);
}

/** The median of each ratio's per-round values; null where it could not be measured. */
export function ratioMedians<N extends string>(
  rounds: Record<N, (number | null)[]>,
): Record<N, number | null> {
  return Object.fromEntries(
    Object.entries<(number | null)[]>(rounds).map(([k, v]) => [k, median(v)]),
  ) as Record<N, number | null>;
}

/** The paths of `o` that ran, in round order. */
function presentPaths(o: PathOutcomes): [PathName, Outcome][] {
  return PATH_NAMES.flatMap((p) => {
    const out = o[p];
    return out === undefined ? [] : [[p, out] as [PathName, Outcome]];
  });
}

function outcomeJson(o: Outcome): Record<string, unknown> {
  if (!o.available) return { available: false, reason: o.reason };
  return {
    available: true,
    ...o.median,
    rounds: o.rounds,
    ...(o.failures.length > 0 ? { failures: o.failures } : {}),
  };
}

function curveJson(c: Readonly<Record<string, Readonly<Record<string, Outcome>>>>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(c).map(([path, points]) => [
      path,
      Object.fromEntries(Object.entries(points).map(([k, o]) => [k, outcomeJson(o)])),
    ]),
  );
}

/** The results document: `env`, `scenarios`, `ratios` (medians), and `ratioRounds` (per round). */
export function resultsDocument(env: BenchEnv, s: ScenarioOutcomes): Record<string, unknown> {
  const scenarios: Record<string, unknown> = {};
  for (const name of ['rr', 'connect', 'bulk', 'idle'] as const) {
    const o = s[name];
    if (o) scenarios[name] = Object.fromEntries(presentPaths(o).map(([p, out]) => [p, outcomeJson(out)]));
  }
  if (s.scale) scenarios['scale'] = curveJson(s.scale);
  if (s.multicore) scenarios['multicore'] = curveJson(s.multicore);
  const rounds = ratioRounds(s);
  const doc: Record<string, unknown> = { env, scenarios, ratios: ratioMedians(rounds), ratioRounds: rounds };
  if (hasBase(s)) {
    const base = baseRatioRounds(s);
    doc['baseRatios'] = ratioMedians(base);
    doc['baseRatioRounds'] = base;
  }
  return doc;
}

/** A number for a person: thousands grouped, `decimals` places, `-` when missing. */
export function formatNumber(v: number | null | undefined, decimals: number): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '-';
  return v.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

type Column = readonly [metric: string, header: string, decimals: number];

/** Align columns; a row of two cells (name and a note) is written as it is and sets no width. */
function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const full = rows.filter((r) => r.length === headers.length || headers.length <= 2);
  const widths = headers.map((h, i) => Math.max(h.length, ...full.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

function cellsOf(o: Outcome | undefined, columns: readonly Column[]): string[] {
  if (!o) return columns.map(() => '-');
  if (!o.available) return [`unavailable: ${o.reason.split('\n')[0]}`];
  return columns.map(([m, , d]) => formatNumber(o.median[m], d));
}

function pathTable(title: string, o: PathOutcomes, columns: readonly Column[]): string {
  const rows = presentPaths(o).map(([p, out]) => [p, ...cellsOf(out, columns)]);
  return `${title}\n${table(['path', ...columns.map((c) => c[1])], rows)}`;
}

function curveTable(
  title: string,
  c: Readonly<Record<string, Readonly<Record<string, Outcome>>>>,
  metric: Column,
): string {
  const keys = [...new Set(Object.values(c).flatMap((points) => Object.keys(points)))];
  const rows = Object.entries(c).map(([path, points]) => [
    path,
    ...keys.map((k) => {
      const o = points[k];
      if (!o) return '-';
      return o.available ? formatNumber(o.median[metric[0]], metric[2]) : 'n/a';
    }),
  ]);
  return `${title} — ${metric[1]}\n${table(['path', ...keys], rows)}`;
}

/** CPU per request at each point relative to 100 connections on one listener: flat is 1.00. */
function flatnessTable(c: CurveOutcomes): string {
  const keys = [...new Set(Object.values(c).flatMap((points) => Object.keys(points)))];
  const cpu = (o: Outcome | undefined): number | null =>
    o?.available ? (o.median['cpuUsPerReq'] ?? null) : null;
  const rows = Object.entries(c).map(([path, points]) => {
    const base = cpu(points['conn100']);
    return [
      path,
      ...keys.map((k) => {
        const v = cpu(points[k]);
        return v !== null && base !== null && base > 0 ? formatNumber(v / base, 2) : '-';
      }),
    ];
  });
  return `scale — CPU µs/req relative to conn100 (flat = 1.00)\n${table(['path', ...keys], rows)}`;
}

function reasons(s: ScenarioOutcomes): string[] {
  const seen = new Set<string>();
  const all: Outcome[] = [
    ...(['rr', 'connect', 'bulk', 'idle'] as const).flatMap((n) => Object.values(s[n] ?? {})),
    ...Object.values(s.scale ?? {}).flatMap((pts) => Object.values(pts)),
    ...Object.values(s.multicore?.switchyard ?? {}),
  ];
  for (const o of all) if (!o.available) seen.add(o.reason.split('\n')[0] ?? '');
  return [...seen];
}

/** The whole report for stdout. */
export function renderReport(env: BenchEnv, s: ScenarioOutcomes): string {
  const parts: string[] = [
    `Switchyard benchmark — ${env.date} — ${env.cpus} × ${env.cpuModel}, Node ${env.node}, ${env.pinning}`,
    `rounds ${env.rounds} (idle/scale ${env.slowRounds}), ${env.durationSec} s windows after ${env.warmSec} s warm-up; medians over rounds`,
  ];
  const us: Column = ['cpuUsPerReq', 'CPU µs/req', 1];
  if (s.rr) {
    parts.push(
      pathTable('rr: kept-alive request/response', s.rr, [
        ['reqPerSec', 'req/s', 0],
        us,
        ['p50Us', 'p50 µs', 0],
        ['p99Us', 'p99 µs', 0],
        ['errors', 'errors', 0],
      ]),
    );
  }
  if (s.connect) {
    parts.push(
      pathTable('connect: one connection per request', s.connect, [
        ['connPerSec', 'conn/s', 0],
        ['cpuUsPerConn', 'CPU µs/conn', 1],
        ['p99Us', 'p99 µs', 0],
        ['errors', 'errors', 0],
      ]),
    );
  }
  if (s.bulk) {
    parts.push(
      pathTable('bulk: one iperf3 stream', s.bulk, [
        ['gbitPerSec', 'Gbit/s', 2],
        ['cpuSecPerGB', 'CPU s/GB', 3],
      ]),
    );
  }
  if (s.idle) {
    parts.push(
      pathTable(`idle: ${env.connections} idle connections held`, s.idle, [
        ['connections', 'connections', 0],
        ['kibPerConn', 'KiB/conn', 2],
      ]),
    );
  }
  if (s.scale) {
    parts.push(curveTable('scale', s.scale, us));
    parts.push(curveTable('scale', s.scale, ['reqPerSec', 'req/s', 0]));
    parts.push(curveTable('scale', s.scale, ['backendConnections', 'connections held at the backend', 0]));
    parts.push(flatnessTable(s.scale));
  }
  if (s.multicore) {
    parts.push(curveTable('multicore', s.multicore, us));
    parts.push(curveTable('multicore', s.multicore, ['reqPerSec', 'req/s', 0]));
  }
  const ratios = ratioMedians(ratioRounds(s));
  parts.push(
    `ratios (switchyard ÷ other, median of per-round ratios; lower is better)\n${table(
      ['ratio', 'median'],
      Object.entries(ratios).map(([k, v]) => [k, formatNumber(v, 2)]),
    )}`,
  );
  if (hasBase(s)) {
    parts.push(
      `base ratios (switchyard ÷ base, median of per-round ratios; lower is better)\n${table(
        ['ratio', 'median'],
        Object.entries(ratioMedians(baseRatioRounds(s))).map(([k, v]) => [k, formatNumber(v, 2)]),
      )}`,
    );
  }
  const why = reasons(s);
  if (why.length > 0) parts.push(`not measured:\n${why.map((r) => `  - ${r}`).join('\n')}`);
  return `${parts.join('\n\n')}\n`;
}
