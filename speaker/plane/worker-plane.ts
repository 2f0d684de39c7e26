/**
 * The data plane in worker threads (`--workers N`): every worker binds its own SO_REUSEPORT socket
 * for each listener, so the kernel spreads new connections over the workers. The main thread keeps
 * health probing and broadcasts state changes; workers send failed connects back.
 */
import { Worker } from 'node:worker_threads';
import type { LogFormat, Logger } from '../../shared/log.ts';
import type { ForwardingTable } from '../../shared/model.ts';
import type { BindReport } from '../forward/forwarder.ts';
import type { RelayIoImplementation } from '../forward/io/relay-io.ts';
import { type ListenerStatsEntry, mergeStatsEntries } from '../forward/listener-stats.ts';
import type { HealthChange, HealthState } from '../health/health-target.ts';
import { type DataPlane, type DataPlaneEvents, mergeBindReports } from './data-plane.ts';
import type { FromWorker, ToWorker, WorkerInit } from './messages.ts';

/** How long a worker may take to come up before the speaker gives up starting. */
export const WORKER_START_TIMEOUT_MS = 30_000;

/** Options of the worker pool. */
export interface WorkerPlaneOptions {
  readonly count: number;
  readonly logger: Logger;
  readonly logLevel: string;
  readonly logFormat: LogFormat;
  /** Speaker-wide open-connection count and limit (`newLimitCell`). */
  readonly speakerLimit: Int32Array;
  readonly events: DataPlaneEvents;
  /** The relay's I/O every worker loads: the one the main thread chose. */
  readonly implementation: RelayIoImplementation;
}

/** The worker script next to this file: TypeScript when running from source (needs tsx), else JS. */
function workerScript(): { url: URL; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(fromSource ? './worker-entry.ts' : './worker-entry.js', import.meta.url);
  // tsx registers its loader per thread: a TypeScript worker needs it in its own execArgv.
  return { url, execArgv: fromSource ? ['--import', import.meta.resolve('tsx')] : [] };
}

interface Pending {
  resolve: (msg: FromWorker) => void;
}

class WorkerHandle {
  readonly worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  exiting = false;

  constructor(worker: Worker) {
    this.worker = worker;
  }

  request<T extends FromWorker>(msg: (seq: number) => ToWorker): Promise<T> {
    const seq = ++this.#seq;
    return new Promise<T>((resolve) => {
      this.#pending.set(seq, { resolve: resolve as (m: FromWorker) => void });
      this.worker.postMessage(msg(seq));
    });
  }

  reply(msg: FromWorker & { seq: number }): void {
    const p = this.#pending.get(msg.seq);
    if (!p) return;
    this.#pending.delete(msg.seq);
    p.resolve(msg);
  }
}

/** N worker threads, each with a Forwarder. */
export class WorkerPlane implements DataPlane {
  readonly threads: number;
  readonly #workers: WorkerHandle[];

  private constructor(workers: WorkerHandle[]) {
    this.#workers = workers;
    this.threads = workers.length;
  }

  /** Start `count` workers and wait until each is ready. */
  static async start(opts: WorkerPlaneOptions): Promise<WorkerPlane> {
    const { url, execArgv } = workerScript();
    const handles: WorkerHandle[] = [];
    const ready: Promise<void>[] = [];
    for (let index = 0; index < opts.count; index++) {
      const init: WorkerInit = {
        index,
        logLevel: opts.logLevel,
        logFormat: opts.logFormat,
        speakerLimit: opts.speakerLimit,
        implementation: opts.implementation,
      };
      const worker = new Worker(url, { workerData: init, execArgv, name: `switchyard-worker-${index}` });
      const h = new WorkerHandle(worker);
      handles.push(h);
      ready.push(
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`worker ${index} did not start in ${WORKER_START_TIMEOUT_MS} ms`)),
            WORKER_START_TIMEOUT_MS,
          );
          worker.on('message', (msg: FromWorker) => {
            if (msg.type === 'ready') {
              clearTimeout(timer);
              resolve();
            } else if (msg.type === 'connect-failure') opts.events.onConnectFailure(msg.key);
            else h.reply(msg);
          });
          worker.on('error', (err) => {
            clearTimeout(timer);
            reject(err);
            opts.events.onFatal(err);
          });
          worker.on('exit', (code) => {
            clearTimeout(timer);
            if (h.exiting) return;
            const err = new Error(`worker ${index} exited with code ${code}`);
            reject(err);
            opts.events.onFatal(err);
          });
        }),
      );
    }
    try {
      await Promise.all(ready);
    } catch (err) {
      for (const h of handles) {
        h.exiting = true;
        void h.worker.terminate();
      }
      throw err;
    }
    opts.logger.info({ event: 'workers-started', workers: opts.count });
    return new WorkerPlane(handles);
  }

  async apply(
    table: ForwardingTable,
    health: ReadonlyMap<string, HealthState>,
    counters: ReadonlyMap<string, Int32Array>,
  ): Promise<BindReport[]> {
    const healthList = [...health];
    const counterList = [...counters];
    const replies = await Promise.all(
      this.#workers.map((w) =>
        w.request<Extract<FromWorker, { type: 'applied' }>>((seq) => ({
          type: 'apply',
          seq,
          table,
          health: healthList,
          counters: counterList,
        })),
      ),
    );
    return mergeBindReports(replies.map((r) => r.reports));
  }

  setHealth(changes: readonly HealthChange[]): void {
    const msg: ToWorker = { type: 'health', changes };
    for (const w of this.#workers) w.worker.postMessage(msg);
  }

  async stats(): Promise<ListenerStatsEntry[]> {
    const replies = await Promise.all(
      this.#workers.map((w) =>
        w.request<Extract<FromWorker, { type: 'stats' }>>((seq) => ({ type: 'stats', seq })),
      ),
    );
    return mergeStatsEntries(replies.map((r) => r.entries));
  }

  async drain(timeoutMs: number): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.request((seq) => ({ type: 'drain', seq, timeoutMs }))));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#workers.map((w) => {
        w.exiting = true;
        return w.worker.terminate();
      }),
    );
  }
}
