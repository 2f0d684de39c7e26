/**
 * One switch for the size of the reliability suite: `RELIABILITY=full` (what `npm run
 * test:reliability` sets) runs every item at the size docs/reliability.md reports; anything else runs
 * the same code scaled down so that `npm test` exercises it in CI on every change.
 */

/** Whether the suite runs at full size. */
export const FULL = process.env['RELIABILITY'] === 'full';

/** `fast` in the CI variant, `full` under RELIABILITY=full. */
export function scaled<T>(fast: T, full: T): T {
  return FULL ? full : fast;
}

/** The variant's name, printed with every figure. */
export const VARIANT = FULL ? 'full' : 'fast';

/**
 * The seed of every randomised item: $RELIABILITY_SEED when set (to replay a failure), else a fresh
 * one. Printed by each item so that any run can be reproduced.
 */
export function suiteSeed(): number {
  const fromEnv = process.env['RELIABILITY_SEED'];
  if (fromEnv !== undefined && fromEnv !== '') {
    const n = Number(fromEnv);
    if (!Number.isInteger(n)) throw new Error(`RELIABILITY_SEED must be an integer, got ${fromEnv}`);
    return n;
  }
  return Math.floor(Math.random() * 2 ** 31);
}

/** Print one figure line in a stable, greppable shape: `[reliability] item variant: key=value ...`. */
export function report(item: string, figures: Record<string, string | number | boolean>): void {
  const parts = Object.entries(figures).map(([k, v]) => `${k}=${v}`);
  console.log(`[reliability] ${item} ${VARIANT}: ${parts.join(' ')}`);
}
