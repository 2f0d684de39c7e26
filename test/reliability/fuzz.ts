/**
 * Shared settings of the fuzz targets: one seed per file run (printed, and taken from
 * $RELIABILITY_SEED to replay a failure), 100,000 cases per target in full and fewer in the CI
 * variant, and checks that a Problem is a well-formed user error rather than something half-built.
 */
import assert from 'node:assert/strict';
import type { Parameters } from 'fast-check';
import type { Problem } from '../../shared/errors.ts';
import { report, scaled, suiteSeed } from './scale.ts';

/** Cases per fuzz target. */
export const CASES = scaled(1500, 100_000);

/** fast-check parameters for one target: the file's seed, CASES runs (or `runs`). */
export function fuzzParameters(seed: number, runs = CASES): Parameters<unknown> {
  return { seed, numRuns: runs, endOnFailure: true };
}

/** The file's seed, printed once with the target list so any run can be replayed. */
export function fuzzSeed(file: string): number {
  const seed = suiteSeed();
  report(file, { seed, cases: CASES, replay: `RELIABILITY_SEED=${seed}` });
  return seed;
}

/** A problem names its object, field and value, says what to do, and has a code under `prefix`. */
export function assertProblem(p: Problem, prefixes: readonly string[]): void {
  assert.ok(
    prefixes.some((x) => p.code.startsWith(x)),
    `unexpected code ${p.code}`,
  );
  for (const k of ['code', 'object', 'field', 'value', 'message'] as const) {
    assert.equal(typeof p[k], 'string', `problem ${k} is a string`);
  }
  assert.ok(p.message.length > 0, 'problem has a message');
}
