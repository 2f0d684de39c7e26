/**
 * When probes run. Every delay takes a random number in [0, 1) so tests can pin it and so a speaker
 * with a thousand targets spreads its probes instead of sending them in one burst.
 */

/** Each interval is stretched or shrunk by up to this fraction (±10 %) so targets drift apart. */
export const INTERVAL_JITTER = 0.1;

/** A new target's first probe runs within this long (or within one interval, if shorter). */
export const FIRST_PROBE_SPREAD_MS = 1000;

/** After a passive connect failure the target is re-probed within this long (or one interval). */
export const RECHECK_SPREAD_MS = 100;

/** Floor under any interval, so a hand-built target with interval 0 cannot spin the event loop. */
export const MIN_INTERVAL_MS = 10;

/** Clamp an injected random value into [0, 1); a broken source must not produce a wild delay. */
function unit(r: number): number {
  return Number.isFinite(r) ? Math.min(Math.max(r, 0), 1 - Number.EPSILON) : 0.5;
}

/** Delay between the end of one probe and the start of the next: the interval ±10 %. */
export function nextProbeDelay(intervalMs: number, random: number): number {
  return Math.max(intervalMs, MIN_INTERVAL_MS) * (1 + INTERVAL_JITTER * (2 * unit(random) - 1));
}

/** Delay before a newly added target's first probe: spread over [0, min(interval, 1 s)). */
export function firstProbeDelay(intervalMs: number, random: number): number {
  return unit(random) * Math.min(intervalMs, FIRST_PROBE_SPREAD_MS);
}

/** Delay before the prompt probe that follows a passive failure: spread over [0, min(interval, 100 ms)). */
export function recheckDelay(intervalMs: number, random: number): number {
  return unit(random) * Math.min(intervalMs, RECHECK_SPREAD_MS);
}
