/**
 * Waiting for things in tests without fixed sleeps: a queue of events to await with a deadline, and
 * a bounded poll for state that only a store query can reveal (e.g. a TTL running out).
 */

/** Events pushed by a callback, awaited in order with a deadline. */
export class EventQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: { pred: (t: T) => boolean; resolve: (t: T) => void }[] = [];

  /** Record an event (use as the callback). */
  readonly push = (item: T): void => {
    const i = this.waiters.findIndex((w) => w.pred(item));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w!.resolve(item);
      return;
    }
    this.items.push(item);
  };

  /** Every event recorded and not yet taken. */
  pending(): readonly T[] {
    return this.items;
  }

  /** The first event (already recorded or coming) matching `pred`; rejects after `timeoutMs`. */
  next(pred: (t: T) => boolean = () => true, timeoutMs = 5000, what = 'event'): Promise<T> {
    const i = this.items.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.items.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (t: T) => {
          clearTimeout(timer);
          resolve(t);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}

// Re-exported for the store, status and controller tests that import it from here.
export { eventually } from '../harness/wait.ts';
