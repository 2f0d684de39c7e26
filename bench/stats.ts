/** Medians and per-round ratios: the only statistics the report quotes. */

/** Median of the finite values; null when there are none. */
export function median(values: readonly (number | null | undefined)[]): number | null {
  const xs = values
    .filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
    .sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

/** `a[i] / b[i]` per round; null for a round where either is missing or `b` is not positive. */
export function roundRatios(
  a: readonly (number | null | undefined)[],
  b: readonly (number | null | undefined)[],
): (number | null)[] {
  const n = Math.min(a.length, b.length);
  const out: (number | null)[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    out.push(typeof x === 'number' && typeof y === 'number' && y > 0 ? x / y : null);
  }
  return out;
}
