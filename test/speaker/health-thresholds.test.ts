import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  afterProbe,
  EJECTED_STREAK,
  type HealthStreak,
  UNKNOWN_STREAK,
} from '../../speaker/health/health-thresholds.ts';
import {
  FIRST_PROBE_SPREAD_MS,
  firstProbeDelay,
  INTERVAL_JITTER,
  MIN_INTERVAL_MS,
  nextProbeDelay,
  RECHECK_SPREAD_MS,
  recheckDelay,
} from '../../speaker/health/probe-schedule.ts';

const timing = { rise: 2, fall: 3 };

/** Feed results one by one; each step names the state that must follow. */
function run(steps: readonly (readonly [string, boolean | 'passive', HealthStreak['state']])[]): void {
  let s: HealthStreak = UNKNOWN_STREAK;
  for (const [what, input, want] of steps) {
    s = input === 'passive' ? EJECTED_STREAK : afterProbe(s, input, timing);
    assert.equal(s.state, want, what);
  }
}

describe('health thresholds (rise 2, fall 3)', () => {
  it('lets the first result decide from unknown: success is healthy at once', () => {
    run([['first probe succeeds', true, 'healthy']]);
  });

  it('lets the first result decide from unknown: failure is unhealthy at once', () => {
    run([['first probe fails', false, 'unhealthy']]);
  });

  it('ejects after exactly `fall` consecutive failures and a success resets the count', () => {
    run([
      ['up', true, 'healthy'],
      ['fail 1', false, 'healthy'],
      ['fail 2', false, 'healthy'],
      ['success resets the fall streak', true, 'healthy'],
      ['fail 1 again', false, 'healthy'],
      ['fail 2 again', false, 'healthy'],
      ['fail 3 ejects', false, 'unhealthy'],
    ]);
  });

  it('restores after exactly `rise` consecutive successes and a failure resets the count', () => {
    run([
      ['down', false, 'unhealthy'],
      ['success 1', true, 'unhealthy'],
      ['failure resets the rise streak', false, 'unhealthy'],
      ['success 1 again', true, 'unhealthy'],
      ['success 2 restores', true, 'healthy'],
    ]);
  });

  it('ejects at once on a passive failure, which then must rise from zero', () => {
    run([
      ['up', true, 'healthy'],
      ['passive failure ejects', 'passive', 'unhealthy'],
      ['success 1', true, 'unhealthy'],
      ['passive failure resets the rise streak', 'passive', 'unhealthy'],
      ['success 1 again', true, 'unhealthy'],
      ['success 2 restores', true, 'healthy'],
    ]);
  });

  it('treats thresholds below 1 as 1', () => {
    const up = afterProbe(UNKNOWN_STREAK, true, { rise: 0, fall: 0 });
    assert.equal(afterProbe(up, false, { rise: 0, fall: 0 }).state, 'unhealthy');
    assert.equal(afterProbe(EJECTED_STREAK, true, { rise: 0, fall: 0 }).state, 'healthy');
  });
});

describe('probe schedule jitter', () => {
  const interval = fc.integer({ min: MIN_INTERVAL_MS, max: 3_600_000 });
  const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

  it('keeps every interval within ±10 % of the configured interval', () => {
    fc.assert(
      fc.property(interval, unit, (i, r) => {
        const d = nextProbeDelay(i, r);
        return d >= i * (1 - INTERVAL_JITTER) && d <= i * (1 + INTERVAL_JITTER);
      }),
    );
    assert.equal(nextProbeDelay(1000, 0), 900);
    assert.equal(nextProbeDelay(1000, 0.5), 1000);
  });

  it('spreads first probes over [0, min(interval, 1 s)) and rechecks over [0, min(interval, 100 ms))', () => {
    fc.assert(
      fc.property(interval, unit, (i, r) => {
        const first = firstProbeDelay(i, r);
        const recheck = recheckDelay(i, r);
        return (
          first >= 0 &&
          first < Math.min(i, FIRST_PROBE_SPREAD_MS) &&
          recheck >= 0 &&
          recheck < Math.min(i, RECHECK_SPREAD_MS)
        );
      }),
    );
    assert.equal(firstProbeDelay(10_000, 0.5), 500);
  });

  it('never schedules below the 10 ms floor, even for an interval of 0', () => {
    assert.ok(nextProbeDelay(0, 0) >= MIN_INTERVAL_MS * (1 - INTERVAL_JITTER));
    assert.ok(nextProbeDelay(-5, 0.5) >= MIN_INTERVAL_MS * (1 - INTERVAL_JITTER));
  });

  it('stays within bounds when the injected random source misbehaves (1, negative, NaN)', () => {
    for (const r of [1, 7, -3, Number.NaN, Number.POSITIVE_INFINITY]) {
      const d = nextProbeDelay(1000, r);
      assert.ok(d >= 900 && d <= 1100, `interval for random ${r}: ${d}`);
      const f = firstProbeDelay(1000, r);
      assert.ok(f >= 0 && f < 1000, `first delay for random ${r}: ${f}`);
    }
  });
});
