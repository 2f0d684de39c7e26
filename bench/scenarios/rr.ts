/**
 * `rr`: small requests and responses over kept-alive connections (wrk → path → nginx `200 ok`).
 * Figures: requests per second, proxy CPU µs per request, p50/p99 latency.
 */
import type { Metrics, PathOutcomes } from '../results.ts';
import { wrkErrorCount } from '../wrk-parse.ts';
import type { BenchContext } from './scenario.ts';
import { runWrkScenario } from './wrk-scenario.ts';
import type { WrkWindow } from './wrk-window.ts';

/** Concurrent kept-alive connections of the rr load. */
export const RR_CONNECTIONS = 100;

/** Requests per second and proxy CPU µs per request of one window (CPU null without a proxy). */
export function perRequest(w: WrkWindow): { reqPerSec: number; cpuUsPerReq: number | null } {
  return {
    reqPerSec: w.requests / w.seconds,
    cpuUsPerReq: w.cpuSeconds === null || w.requests === 0 ? null : (w.cpuSeconds * 1e6) / w.requests,
  };
}

/** The rr figures of one window. */
export function rrMetrics(w: WrkWindow): Metrics {
  return {
    ...perRequest(w),
    p50Us: w.wrk.p50Us,
    p99Us: w.wrk.p99Us,
    requests: w.requests,
    backendConnections: w.backendConnections,
    cpuSeconds: w.cpuSeconds,
    errors: wrkErrorCount(w.wrk),
  };
}

/** Run the rr scenario over every path. */
export function runRr(ctx: BenchContext): Promise<PathOutcomes> {
  return runWrkScenario(ctx, {
    name: 'rr',
    load: { connections: RR_CONNECTIONS, awaitBackendConnections: true, warmSeparately: true },
    metrics: rrMetrics,
    headline: 'reqPerSec',
  });
}
