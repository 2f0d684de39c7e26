/**
 * Rise/fall thresholds as a pure state machine: the checker feeds it probe results and passive
 * failures, and emits a change whenever the state it returns differs from the one it had.
 */
import type { HealthTiming } from '../../shared/model.ts';
import type { HealthState } from './health-target.ts';

/** A target's state and the streak of identical results that may change it. */
export interface HealthStreak {
  readonly state: HealthState;
  /** Consecutive successes while unhealthy (counts towards `rise`). */
  readonly successes: number;
  /** Consecutive failures while healthy (counts towards `fall`). */
  readonly failures: number;
}

/** A target that has not been probed yet. */
export const UNKNOWN_STREAK: HealthStreak = { state: 'unknown', successes: 0, failures: 0 };

/**
 * The streak after one active probe. From `unknown` the first result decides, so a new node gets
 * traffic (or not) after one probe; after that `fall` failures in a row eject a healthy target and
 * `rise` successes in a row restore an unhealthy one. Thresholds below 1 count as 1.
 */
export function afterProbe(
  s: HealthStreak,
  ok: boolean,
  timing: Pick<HealthTiming, 'rise' | 'fall'>,
): HealthStreak {
  if (s.state === 'unknown') return { state: ok ? 'healthy' : 'unhealthy', successes: 0, failures: 0 };
  if (s.state === 'healthy') {
    if (ok) return s.failures === 0 ? s : { state: 'healthy', successes: 0, failures: 0 };
    const failures = s.failures + 1;
    return failures >= Math.max(1, timing.fall)
      ? { state: 'unhealthy', successes: 0, failures: 0 }
      : { state: 'healthy', successes: 0, failures };
  }
  if (!ok) return s.successes === 0 ? s : { state: 'unhealthy', successes: 0, failures: 0 };
  const successes = s.successes + 1;
  return successes >= Math.max(1, timing.rise)
    ? { state: 'healthy', successes: 0, failures: 0 }
    : { state: 'unhealthy', successes, failures: 0 };
}

/** The streak after a passive connect failure: unhealthy at once, and it must rise from zero. */
export const EJECTED_STREAK: HealthStreak = { state: 'unhealthy', successes: 0, failures: 0 };
