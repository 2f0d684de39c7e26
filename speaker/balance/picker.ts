/**
 * The contract between a listener and its balancing algorithm. A picker is built from the backends
 * that are eligible right now (health not `unhealthy`) and is replaced, never edited, when health or
 * the table changes; a pick is index math over arrays computed at build time.
 */
import type { Backend } from '../../shared/model.ts';

/** One backend of one listener as the pickers see it; `active` is this worker's live connection count. */
export interface BackendSlot {
  readonly backend: Backend;
  /** Key of the health target that decides whether this backend gets traffic. */
  readonly healthKey: string;
  /** Stable identity hash (address and NodePort), the basis of consistent hashing. */
  readonly identityHash: number;
  /** Connections open to this backend from this worker; kept across picker rebuilds. */
  active: number;
}

/** Chooses the backend for a new connection, or for a retry after a failed connect. */
export interface Picker {
  /** How many backends are eligible; 0 means every backend is down. */
  readonly size: number;
  /**
   * A backend not in `tried` (the backends that already failed for this connection), or null when
   * none is left. `clientHash` matters to source hashing only.
   */
  pick(clientHash: number, tried: readonly BackendSlot[] | null): BackendSlot | null;
}

/** The picker with nothing eligible: every pick resets the client at once. */
export const EMPTY_PICKER: Picker = {
  size: 0,
  pick: () => null,
};

/** Whether `slot` is among the backends that already failed for this connection. */
export function wasTried(tried: readonly BackendSlot[] | null, slot: BackendSlot): boolean {
  return tried === null ? false : tried.includes(slot);
}
