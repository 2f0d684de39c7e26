/** Round-robin: each new connection goes to the next eligible backend in turn. */
import { type BackendSlot, type Picker, wasTried } from './picker.ts';

/** Round-robin over a fixed list of eligible backends; the cursor is the only mutable state. */
export class RoundRobinPicker implements Picker {
  readonly size: number;
  readonly #slots: readonly BackendSlot[];
  #cursor: number;

  constructor(eligible: readonly BackendSlot[]) {
    this.#slots = eligible;
    this.size = eligible.length;
    // Every worker (and every rebuild) starts at a random place so that workers do not move in step.
    this.#cursor = Math.floor(Math.random() * eligible.length);
  }

  /** The next backend in turn that has not failed for this connection. */
  pick(_clientHash: number, tried: readonly BackendSlot[] | null): BackendSlot | null {
    for (let i = 0; i < this.size; i++) {
      const slot = this.#slots[this.#cursor]!;
      this.#cursor = this.#cursor + 1 === this.size ? 0 : this.#cursor + 1;
      if (!wasTried(tried, slot)) return slot;
    }
    return null;
  }
}
