/**
 * Least-connections: a new connection goes to the eligible backend with the fewest open connections
 * from this worker. Up to EXACT_LIMIT backends are scanned exactly (a bounded, constant-size scan);
 * beyond that the picker uses the power of two random choices, which keeps a pick O(1) and is known
 * to stay within a small factor of the exact minimum.
 */
import { type BackendSlot, type Picker, wasTried } from './picker.ts';

/** Largest eligible set scanned exactly. */
export const EXACT_LIMIT = 16;

/** Least-connections over a fixed list of eligible backends. */
export class LeastConnectionsPicker implements Picker {
  readonly size: number;
  readonly #slots: readonly BackendSlot[];
  /** Rotates the scan's starting point so that ties spread evenly instead of piling on the first. */
  #start = 0;

  constructor(eligible: readonly BackendSlot[]) {
    this.#slots = eligible;
    this.size = eligible.length;
  }

  /** The untried backend with the fewest active connections (exact, or best of two random ones). */
  pick(_clientHash: number, tried: readonly BackendSlot[] | null): BackendSlot | null {
    if (this.size > EXACT_LIMIT && tried === null) {
      const a = this.#slots[Math.floor(Math.random() * this.size)]!;
      const b = this.#slots[Math.floor(Math.random() * this.size)]!;
      return b.active < a.active ? b : a;
    }
    let best: BackendSlot | null = null;
    const start = this.#start;
    this.#start = start + 1 >= this.size ? 0 : start + 1;
    for (let i = 0; i < this.size; i++) {
      const slot = this.#slots[(start + i) % this.size]!;
      if (wasTried(tried, slot)) continue;
      if (best === null || slot.active < best.active) best = slot;
    }
    return best;
  }
}
