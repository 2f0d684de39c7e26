/**
 * Source hashing for `sessionAffinity: ClientIP`: the same client address goes to the same backend
 * while that backend stays eligible. The picker precomputes a lookup table of TABLE_SIZE slots; each
 * slot belongs to the eligible backend with the highest rendezvous score for that slot. Because the
 * owner of a slot is a maximum over backends, removing a backend moves only the slots (so only the
 * clients) it owned, and adding one takes slots only for itself. A pick is one table lookup.
 */
import { mix32 } from './hash.ts';
import { type BackendSlot, type Picker, wasTried } from './picker.ts';

/** Lookup-table slots; a power of two, so a slot is `hash & (TABLE_SIZE - 1)`. */
export const TABLE_SIZE = 4096;
const MASK = TABLE_SIZE - 1;
/** Odd step that visits every slot before repeating, used to find a fallback for a retry. */
const PROBE_STEP = 0x9e3779b1 | 1;

/** Rendezvous score of `backend` for `slot`; ties are broken by identity hash. */
function score(slot: number, identityHash: number): number {
  return mix32(Math.imul(slot + 1, 0x9e3779b1) ^ identityHash);
}

/** Source-hash picker over a fixed list of eligible backends. */
export class SourceHashPicker implements Picker {
  readonly size: number;
  readonly #slots: readonly BackendSlot[];
  /** Index into `#slots` of each table slot's owner. */
  readonly #owner: Uint16Array;

  constructor(eligible: readonly BackendSlot[]) {
    this.#slots = eligible;
    this.size = eligible.length;
    this.#owner = new Uint16Array(TABLE_SIZE);
    for (let s = 0; s < TABLE_SIZE; s++) {
      let best = 0;
      let bestScore = -1;
      for (let i = 0; i < eligible.length; i++) {
        const slot = eligible[i]!;
        const sc = score(s, slot.identityHash);
        if (sc > bestScore || (sc === bestScore && slot.identityHash > eligible[best]!.identityHash)) {
          best = i;
          bestScore = sc;
        }
      }
      this.#owner[s] = best;
    }
  }

  /** The backend owning the client's slot; on a retry, the owner of the next slot not yet tried. */
  pick(clientHash: number, tried: readonly BackendSlot[] | null): BackendSlot | null {
    let s = mix32(clientHash) & MASK;
    const first = this.#slots[this.#owner[s]!]!;
    if (!wasTried(tried, first)) return first;
    // A retry: walk a fixed probe sequence so that the same client retries the same way; bounded.
    for (let i = 0; i < 64; i++) {
      s = (s + PROBE_STEP) & MASK;
      const slot = this.#slots[this.#owner[s]!]!;
      if (!wasTried(tried, slot)) return slot;
    }
    for (const slot of this.#slots) if (!wasTried(tried, slot)) return slot;
    return null;
  }

  /** Table slot of a client hash, exposed for tests of minimal movement. */
  static slotOf(clientHash: number): number {
    return mix32(clientHash) & MASK;
  }
}
