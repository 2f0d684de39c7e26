/**
 * The shared coarse timer of a thread. One interval ticks for every connection of every listener:
 * each tick refreshes a coarse clock (which the hot path stamps on connections instead of calling a
 * clock per chunk) and lets each registered owner sweep its connections for connect, idle and
 * half-closed timeouts. No socket ever gets its own timer.
 */

import { performance } from 'node:perf_hooks';

/** The coarse clock: milliseconds from `performance.now()`, refreshed on every tick. */
export const coarseClock = { now: performance.now() };

/** Something with connections to sweep, e.g. a listener. */
export interface Sweepable {
  sweep(now: number): void;
}

/** Shortest tick; the tick is a quarter of the shortest timeout in use, within these bounds. */
export const MIN_TICK_MS = 10;
/** Longest tick. */
export const MAX_TICK_MS = 1000;

/** The tick for a given shortest timeout. */
export function tickFor(shortestTimeoutMs: number): number {
  return Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, Math.floor(shortestTimeoutMs / 4)));
}

/** One interval per thread that sweeps every registered owner. */
export class Sweeper {
  readonly #owners = new Set<Sweepable>();
  #timer: NodeJS.Timeout | null = null;
  #tickMs = MAX_TICK_MS;

  /** The current tick; timeouts fire between their deadline and two ticks after it. */
  get tickMs(): number {
    return this.#tickMs;
  }

  /** Start sweeping `owner` on every tick. */
  add(owner: Sweepable): void {
    this.#owners.add(owner);
    this.#ensure();
  }

  /** Stop sweeping `owner`. */
  delete(owner: Sweepable): void {
    this.#owners.delete(owner);
    if (this.#owners.size === 0) this.stop();
  }

  /** Change the tick (when the shortest timeout in use changes). */
  setTick(ms: number): void {
    if (ms === this.#tickMs) return;
    this.#tickMs = ms;
    if (this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
      this.#ensure();
    }
  }

  /** Stop the interval. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #ensure(): void {
    if (this.#timer || this.#owners.size === 0) return;
    this.#timer = setInterval(() => this.#tick(), this.#tickMs);
    // The listeners keep the thread alive; the sweeper alone must not.
    this.#timer.unref();
  }

  #tick(): void {
    const now = performance.now();
    coarseClock.now = now;
    for (const owner of this.#owners) owner.sweep(now);
  }
}
