/**
 * The figures a scenario collects, round by round, and their medians. A round that fails still
 * takes its slot (with no figures), so round i of one path is always compared with round i of
 * another.
 */

import { PATH_NAMES, type PathName } from './paths/path.ts';
import { median } from './stats.ts';

/** Figures of one round of one path, by name (e.g. `reqPerSec`, `cpuUsPerReq`); null = not measured. */
export type Metrics = Readonly<Record<string, number | null>>;

/** A path that could not be measured, and why. */
export interface Unavailable {
  readonly available: false;
  readonly reason: string;
}

/** A measured path: medians over rounds, every round's figures, and the failures of any rounds. */
export interface Measured {
  readonly available: true;
  readonly median: Metrics;
  /** One entry per round; `{}` for a failed round. */
  readonly rounds: readonly Metrics[];
  readonly failures: readonly string[];
}

/** What a scenario reports for one path (or one point of a curve). */
export type Outcome = Measured | Unavailable;

/** Medians of every metric that appears in any round. */
export function medians(rounds: readonly Metrics[]): Metrics {
  const keys = [...new Set(rounds.flatMap((r) => Object.keys(r)))];
  return Object.fromEntries(keys.map((k) => [k, median(rounds.map((r) => r[k]))]));
}

/** Collects rounds for a set of series (paths, or path × point) and turns them into outcomes. */
export class Collector<K extends string = PathName> {
  private readonly rounds = new Map<K, Metrics[]>();
  private readonly failures = new Map<K, string[]>();
  private readonly missing = new Map<K, string>();

  /** Record the figures of the next round of `key`. */
  record(key: K, metrics: Metrics): void {
    this.list(key).push(metrics);
  }

  /** Record that the next round of `key` failed. */
  fail(key: K, message: string): void {
    this.list(key).push({});
    const f = this.failures.get(key) ?? [];
    f.push(message);
    this.failures.set(key, f);
  }

  /** Mark `key` as not measurable at all. */
  unavailable(key: K, reason: string): void {
    this.missing.set(key, reason);
  }

  /** Whether anything (a round, a failure, unavailability) was recorded for `key`. */
  has(key: K): boolean {
    return this.rounds.has(key) || this.missing.has(key);
  }

  /** Whether `key` was marked unavailable. */
  isUnavailable(key: K): boolean {
    return this.missing.has(key);
  }

  /** The outcome for `key`: unavailable, or medians over its rounds (unavailable if none succeeded). */
  outcome(key: K): Outcome {
    const reason = this.missing.get(key);
    if (reason !== undefined) return { available: false, reason };
    const rounds = this.rounds.get(key) ?? [];
    const failures = this.failures.get(key) ?? [];
    if (rounds.every((r) => Object.keys(r).length === 0)) {
      return { available: false, reason: failures[0] ?? 'not run' };
    }
    return { available: true, median: medians(rounds), rounds, failures };
  }

  private list(key: K): Metrics[] {
    const l = this.rounds.get(key) ?? [];
    this.rounds.set(key, l);
    return l;
  }
}

/** Outcomes of a scenario that measures each path once per round; a path not run is absent. */
export type PathOutcomes = Readonly<Partial<Record<PathName, Outcome>>>;

/** Outcomes of every path the collector heard of, in round order. */
export function pathOutcomes(c: Collector<PathName>): PathOutcomes {
  return Object.fromEntries(PATH_NAMES.filter((p) => c.has(p)).map((p) => [p, c.outcome(p)]));
}

/** Outcomes of a scenario that measures several points (e.g. connection counts) per path. */
export type CurveOutcomes = Readonly<Partial<Record<PathName, Readonly<Record<string, Outcome>>>>>;

/** Per-round values of one metric of an outcome; empty when unavailable. */
export function roundValues(o: Outcome | undefined, metric: string): (number | null)[] {
  return o?.available ? o.rounds.map((r) => r[metric] ?? null) : [];
}
