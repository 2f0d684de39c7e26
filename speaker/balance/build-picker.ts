/** Chooses the picker class for a listener's algorithm. */
import type { Algorithm } from '../../shared/model.ts';
import { LeastConnectionsPicker } from './least-connections.ts';
import { type BackendSlot, EMPTY_PICKER, type Picker } from './picker.ts';
import { RoundRobinPicker } from './round-robin.ts';
import { SourceHashPicker } from './source-hash.ts';

/** Build the picker of `algorithm` over the eligible slots, in table order. */
export function buildPicker(algorithm: Algorithm, eligible: readonly BackendSlot[]): Picker {
  if (eligible.length === 0) return EMPTY_PICKER;
  switch (algorithm) {
    case 'round-robin':
      return new RoundRobinPicker(eligible);
    case 'least-connections':
      return new LeastConnectionsPicker(eligible);
    case 'source-hash':
      return new SourceHashPicker(eligible);
  }
}
