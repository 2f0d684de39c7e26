/**
 * `connect`: a new connection for every request (wrk with `Connection: close`), the cost of accept,
 * backend connect and teardown. Figures: connections per second, proxy CPU µs per connection.
 */
import type { Metrics, PathOutcomes } from '../results.ts';
import { wrkErrorCount } from '../wrk-parse.ts';
import { perRequest } from './rr.ts';
import type { BenchContext } from './scenario.ts';
import { runWrkScenario } from './wrk-scenario.ts';
import type { WrkWindow } from './wrk-window.ts';

/** Concurrent connections of the connect load; each carries one request and closes. */
export const CONNECT_CONNECTIONS = 50;

/** The connect figures of one window: one request is one connection. */
export function connectMetrics(w: WrkWindow): Metrics {
  const { reqPerSec, cpuUsPerReq } = perRequest(w);
  return {
    connPerSec: reqPerSec,
    cpuUsPerConn: cpuUsPerReq,
    p50Us: w.wrk.p50Us,
    p99Us: w.wrk.p99Us,
    connections: w.requests,
    cpuSeconds: w.cpuSeconds,
    errors: wrkErrorCount(w.wrk),
  };
}

/** Run the connect scenario over every path. */
export function runConnect(ctx: BenchContext): Promise<PathOutcomes> {
  return runWrkScenario(ctx, {
    name: 'connect',
    load: { connections: CONNECT_CONNECTIONS, headers: ['Connection: close'], warmSeparately: true },
    metrics: connectMetrics,
    headline: 'connPerSec',
  });
}
