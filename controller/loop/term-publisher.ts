/**
 * The store as one leadership term's publisher. Every write carries the term, which the store checks
 * atomically with the write (a newer leader's term refuses it), and the term's abort signal, which
 * abandons a write not yet committed once the term has ended. docs/store.md, "Controller terms".
 */
import type { Store } from '../../shared/store/store.ts';
import type { TablePublisher } from './controller-loop.ts';

/** The part of the store the controller writes through. */
export type ControllerStore = Pick<
  Store,
  'publishTable' | 'publishNodeStates' | 'publishPoolStatuses' | 'controllerTerm' | 'onReconnect'
>;

/** The loop's publisher for `term`; its writes stop once `signal` aborts. */
export function termPublisher(store: ControllerStore, term: number, signal?: AbortSignal): TablePublisher {
  const fence = { term, ...(signal ? { signal } : {}) };
  return {
    publish: async (table, opts) => {
      await store.publishTable(table, { ...fence, full: opts?.full ?? false });
    },
    publishNodeStates: (states) => store.publishNodeStates(states, fence),
    publishPoolStatuses: (statuses) => store.publishPoolStatuses(statuses, fence),
    onReconnect: (listener) => store.onReconnect(listener),
  };
}

/**
 * The lowest term a new leadership may take: one above the highest the store accepted. A controller
 * without leader election takes exactly this at start, so a restarted (or replacing) controller is
 * never refused, and one still running from before is refused from then on. A leader elected through
 * the Lease takes at least this (the Lease's counter restarts when the Lease is deleted).
 */
export async function nextTerm(store: Pick<Store, 'controllerTerm'>): Promise<number> {
  return (await store.controllerTerm()) + 1;
}
