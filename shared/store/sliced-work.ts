/**
 * Long loops on the control side (encoding or validating thousands of listeners) run in slices that
 * give the event loop back between them, so a big table never stalls the data plane that shares
 * the process.
 */

/** Time one slice may run before it yields; far below the 50 ms a publish may block at most. */
export const SLICE_BUDGET_MS = 8;

/** Resolve on the next turn of the event loop, after pending I/O callbacks. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Call `fn` on every item, yielding to the event loop whenever a slice has run `budgetMs`. */
export async function forEachSliced<T>(
  items: Iterable<T>,
  fn: (item: T) => void,
  budgetMs: number = SLICE_BUDGET_MS,
): Promise<void> {
  let sliceStart = performance.now();
  for (const item of items) {
    fn(item);
    if (performance.now() - sliceStart >= budgetMs) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
  }
}
