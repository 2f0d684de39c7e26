/** The benchmark's command line, parsed once into plain options. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_PATHS, PATH_NAMES, type PathName } from './paths/path.ts';

/** Scenarios that `npm run bench` runs unless `--scenarios` says otherwise. */
export const DEFAULT_SCENARIOS = ['rr', 'connect', 'bulk', 'idle', 'scale'] as const;
/** Every scenario; `multicore` also runs when `--workers-scan` is given. */
export const ALL_SCENARIOS = [...DEFAULT_SCENARIOS, 'multicore'] as const;

/** Name of a scenario. */
export type ScenarioName = (typeof ALL_SCENARIOS)[number];

/** How long and how often to measure. */
export interface BenchOptions {
  readonly scenarios: readonly ScenarioName[];
  /** Rounds for rr, connect, bulk and multicore. */
  readonly rounds: number;
  /** Rounds for the slow scenarios (idle, scale). */
  readonly slowRounds: number;
  /** Seconds of each measured window. */
  readonly durationSec: number;
  /** Seconds of load before each window opens (connections set up, JIT warm). */
  readonly warmSec: number;
  readonly quick: boolean;
  /** Highest worker count of the multicore scan; null = as many as the proxy has CPUs (at least 2). */
  readonly maxWorkers: number | null;
  /** Cap on the connection counts of idle and scale (the smoke test keeps them small); null = none. */
  readonly maxConnections: number | null;
  /**
   * The checkout whose `bin/switchyard.mjs` is the speaker under test; null = this one. Pointing it
   * at another build gives a base-vs-change comparison in one interleaved run.
   */
  readonly speakerRoot: string | null;
  /** The checkout whose speaker runs as the `base` path beside this one's; null = no base path. */
  readonly baseRoot: string | null;
  /** The paths measured, in round order. */
  readonly paths: readonly PathName[];
  /** Where the JSON results go. */
  readonly out: string;
}

/** Parse argv (without node and the script). Throws a message for a person on a bad flag. */
export function parseOptions(argv: readonly string[] = hideBin(process.argv)): BenchOptions {
  const a = yargs([...argv])
    .scriptName('npm run bench --')
    .usage('Load benchmark: the speaker against HAProxy, a naive Node proxy and no proxy.')
    .option('quick', { type: 'boolean', default: false, describe: 'Fewer, shorter rounds (under 3 minutes)' })
    .option('scenarios', {
      type: 'string',
      describe: `Comma-separated: ${ALL_SCENARIOS.join(', ')} (default: ${DEFAULT_SCENARIOS.join(',')})`,
    })
    .option('rounds', { type: 'number', describe: 'Rounds of A B C D (default 5, --quick 2)' })
    .option('duration', { type: 'number', describe: 'Seconds per measured window (default 5, --quick 1)' })
    .option('warm', {
      type: 'number',
      describe: 'Seconds of load before each window (default 1, --quick 0.5)',
    })
    .option('workers-scan', { type: 'boolean', default: false, describe: 'Also run the multicore scan' })
    .option('max-workers', { type: 'number', describe: 'Highest worker count of the multicore scan' })
    .option('max-connections', {
      type: 'number',
      describe:
        'Cap the connection counts of idle and scale (default 10,000 or what the open-file limit allows)',
    })
    .option('speaker-root', {
      type: 'string',
      describe: 'Checkout whose bin/switchyard.mjs is benchmarked (default: this one)',
    })
    .option('base-root', {
      type: 'string',
      describe: 'Another checkout whose speaker runs as the `base` path in the same rounds',
    })
    .option('paths', {
      type: 'string',
      describe: `Comma-separated: ${PATH_NAMES.join(', ')} (default: ${DEFAULT_PATHS.join(',')}, plus base with --base-root)`,
    })
    .option('out', {
      type: 'string',
      default: 'bench/results/latest.json',
      describe: 'Where to write the JSON',
    })
    .strict()
    .help()
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .parseSync();
  const quick = a.quick;
  const names = a.scenarios
    ? a.scenarios
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    : [...DEFAULT_SCENARIOS];
  for (const n of names) {
    if (!(ALL_SCENARIOS as readonly string[]).includes(n)) {
      throw new Error(`unknown scenario "${n}"; choose from ${ALL_SCENARIOS.join(', ')}`);
    }
  }
  const scenarios = names as ScenarioName[];
  if (a['workers-scan'] && !scenarios.includes('multicore')) scenarios.push('multicore');
  const rounds = positiveInt(a.rounds, quick ? 2 : 5, '--rounds');
  const baseRoot = a['base-root'] ?? null;
  return {
    scenarios,
    rounds,
    slowRounds: a.rounds !== undefined ? rounds : quick ? 1 : 5,
    durationSec: positive(a.duration, quick ? 1 : 5, '--duration'),
    warmSec: positive(a.warm, quick ? 0.5 : 1, '--warm', true),
    quick,
    maxWorkers: a['max-workers'] === undefined ? null : positiveInt(a['max-workers'], 1, '--max-workers'),
    maxConnections:
      a['max-connections'] === undefined
        ? null
        : positiveInt(a['max-connections'], 1, '--max-connections', 10_000),
    speakerRoot: a['speaker-root'] ?? null,
    baseRoot,
    paths: parsePaths(a.paths, baseRoot !== null),
    out: a.out,
  };
}

/** The `--paths` list in round order; `base` needs `--base-root`. */
function parsePaths(text: string | undefined, hasBase: boolean): PathName[] {
  if (text === undefined)
    return PATH_NAMES.filter((p) => DEFAULT_PATHS.includes(p) || (p === 'base' && hasBase));
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const n of names) {
    if (!(PATH_NAMES as readonly string[]).includes(n)) {
      throw new Error(`unknown path "${n}"; choose from ${PATH_NAMES.join(', ')}`);
    }
  }
  if (names.includes('base') && !hasBase) throw new Error('the base path needs --base-root DIR');
  if (names.length === 0) throw new Error('--paths names no path');
  return PATH_NAMES.filter((p) => names.includes(p));
}

function positive(v: number | undefined, fallback: number, flag: string, zeroOk = false): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v < 0 || (v === 0 && !zeroOk) || v > 600) {
    throw new Error(`${flag} must be a number of seconds between 0 and 600`);
  }
  return v;
}

function positiveInt(v: number | undefined, fallback: number, flag: string, max = 100): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1 || v > max)
    throw new Error(`${flag} must be an integer from 1 to ${max}`);
  return v;
}
