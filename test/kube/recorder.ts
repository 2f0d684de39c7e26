/**
 * Records what callbacks saw and lets a test await a condition on the record, bounded in time,
 * instead of sleeping: each push re-checks the waiting conditions.
 */

/** An append-only record of events with awaitable conditions. */
export class Recorder<T> {
  readonly events: T[] = [];
  readonly #waiters: { check: () => boolean; resolve: () => void }[] = [];

  /** Append one event and wake the conditions it satisfies. */
  push = (e: T): void => {
    this.events.push(e);
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const w = this.#waiters[i]!;
      if (w.check()) {
        this.#waiters.splice(i, 1);
        w.resolve();
      }
    }
  };

  /** Resolve once `pred` holds for the record; reject after `timeoutMs` naming `what`. */
  until(pred: (events: readonly T[]) => boolean, what: string, timeoutMs = 5000): Promise<void> {
    if (pred(this.events)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; saw ${JSON.stringify(this.events)}`,
          ),
        );
      }, timeoutMs);
      const waiter = {
        check: () => pred(this.events),
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiters.push(waiter);
    });
  }
}
