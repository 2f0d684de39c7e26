/** The `direct` path: no proxy at all, the load generator talks to the backend. */
import type { BenchPath } from './path.ts';

/** Clients connect straight to the backend; there is no proxy process to measure. */
export const directPath: BenchPath = {
  name: 'direct',
  check: () => Promise.resolve(null),
  start: (_env, setup) =>
    Promise.resolve({ name: 'direct', front: setup.backend, pid: null, stop: () => Promise.resolve() }),
};
