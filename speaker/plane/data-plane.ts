/**
 * How the speaker's main thread drives the data plane, whether it runs in the main thread itself
 * (`--workers 0`) or in worker threads. Health probing stays in the main thread either way; the data
 * plane only hears about state changes and reports failed connects back.
 */
import type { ForwardingTable } from '../../shared/model.ts';
import type { BindReport } from '../forward/forwarder.ts';
import type { ListenerStatsEntry } from '../forward/listener-stats.ts';
import type { HealthChange, HealthState } from '../health/health-target.ts';

/** The data plane as the main thread sees it. */
export interface DataPlane {
  /** How many threads forward traffic (1 for in-process). */
  readonly threads: number;
  /**
   * Serve `table` with the given health view and shared per-listener connection counters. Resolves
   * once every thread has applied it, with one report per listener (failed if any thread failed).
   */
  apply(
    table: ForwardingTable,
    health: ReadonlyMap<string, HealthState>,
    counters: ReadonlyMap<string, Int32Array>,
  ): Promise<BindReport[]>;
  /** Pass health changes on to every thread. */
  setHealth(changes: readonly HealthChange[]): void;
  /** Every listener's counters, summed over threads. */
  stats(): Promise<ListenerStatsEntry[]>;
  /** Stop accepting; let connections finish for up to `timeoutMs`; then close them. */
  drain(timeoutMs: number): Promise<void>;
  /** Release the threads (after a drain). */
  close(): Promise<void>;
}

/** Callbacks from the data plane to the main thread. */
export interface DataPlaneEvents {
  /** A backend connect failed; `healthKey` names its probe target. */
  readonly onConnectFailure: (healthKey: string) => void;
  /** A worker thread died: the speaker cannot go on forwarding correctly. */
  readonly onFatal: (err: Error) => void;
}

/** Combine the bind reports of several threads: a listener failed if it failed anywhere. */
export function mergeBindReports(perThread: readonly (readonly BindReport[])[]): BindReport[] {
  const byKey = new Map<string, BindReport>();
  for (const reports of perThread) {
    for (const r of reports) {
      const seen = byKey.get(r.key);
      if (!seen || (seen.failure === null && r.failure !== null)) byKey.set(r.key, r);
    }
  }
  return [...byKey.values()];
}
