/**
 * Preloaded into a speaker under test (`node --import tsx --import heap-probe.ts ...`): on SIGUSR2 it
 * writes one stderr line `heap-probe {"main":N,"workers":[N,...]}` with the V8 heap in use of the
 * main thread and of every live worker thread, which /proc cannot tell apart from the rest of RSS.
 * Worker threads are tracked by wrapping the Worker constructor before the speaker imports it.
 */
import { syncBuiltinESMExports } from 'node:module';
import { getHeapStatistics } from 'node:v8';
import workerThreads from 'node:worker_threads';

/** The stderr prefix of a probe line. */
export const HEAP_PROBE_PREFIX = 'heap-probe ';

const live = new Set<workerThreads.Worker>();
const Original = workerThreads.Worker;

class TrackedWorker extends Original {
  constructor(...args: ConstructorParameters<typeof Original>) {
    super(...args);
    live.add(this);
    this.once('exit', () => live.delete(this));
  }
}
workerThreads.Worker = TrackedWorker;
// ESM importers of node:worker_threads see the replaced constructor only after this.
syncBuiltinESMExports();

process.on('SIGUSR2', () => {
  void Promise.all([...live].map((w) => w.getHeapStatistics().then((s) => s.used_heap_size))).then(
    (workers) => {
      const main = getHeapStatistics().used_heap_size;
      process.stderr.write(`${HEAP_PROBE_PREFIX}${JSON.stringify({ main, workers })}\n`);
    },
  );
});
