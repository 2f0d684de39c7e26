/** Messages between the speaker's main thread and its worker threads. */
import type { LogFormat } from '../../shared/log.ts';
import type { ForwardingTable } from '../../shared/model.ts';
import type { BindReport } from '../forward/forwarder.ts';
import type { RelayIoImplementation } from '../forward/io/relay-io.ts';
import type { ListenerStatsEntry } from '../forward/listener-stats.ts';
import type { HealthChange, HealthState } from '../health/health-target.ts';

/** `workerData` of a worker thread. */
export interface WorkerInit {
  readonly index: number;
  readonly logLevel: string;
  readonly logFormat: LogFormat;
  /** Speaker-wide open-connection count and limit (`newLimitCell`), on a SharedArrayBuffer. */
  readonly speakerLimit: Int32Array;
  /** The relay's I/O the main thread chose (io/choose.ts). */
  readonly implementation: RelayIoImplementation;
}

/** Main thread to worker. Requests carry a sequence number that the reply echoes. */
export type ToWorker =
  | {
      readonly type: 'apply';
      readonly seq: number;
      readonly table: ForwardingTable;
      readonly health: readonly (readonly [string, HealthState])[];
      /** Shared per-listener counters (their memory is shared, not copied). */
      readonly counters: readonly (readonly [string, Int32Array])[];
    }
  | { readonly type: 'health'; readonly changes: readonly HealthChange[] }
  | { readonly type: 'stats'; readonly seq: number }
  | { readonly type: 'drain'; readonly seq: number; readonly timeoutMs: number };

/** Worker to main thread. */
export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'applied'; readonly seq: number; readonly reports: readonly BindReport[] }
  | { readonly type: 'stats'; readonly seq: number; readonly entries: readonly ListenerStatsEntry[] }
  | { readonly type: 'drained'; readonly seq: number }
  | { readonly type: 'connect-failure'; readonly key: string };
