/**
 * Counters of one listener in one worker. They are plain numbers bumped on the hot path and read
 * only when metrics are scraped, when the main thread adds up every worker's copy.
 */

/** Why a client connection was reset instead of proxied. */
export type RejectReason =
  | 'limit'
  | 'speaker-limit'
  | 'source-range'
  | 'no-backend'
  | 'connect-failed'
  | 'local-resources'
  | 'draining';

/** Every reject reason, in a stable order for metrics. */
export const REJECT_REASONS: readonly RejectReason[] = [
  'limit',
  'speaker-limit',
  'source-range',
  'no-backend',
  'connect-failed',
  'local-resources',
  'draining',
];

/** Counters of one listener; `active` and `failingOpen` are gauges, everything else only grows. */
export interface ListenerStats {
  active: number;
  /** 1 while every backend fails its health checks and the listener fails open (summed: threads). */
  failingOpen: number;
  total: number;
  bytesToBackend: number;
  bytesToClient: number;
  connectFailures: number;
  retries: number;
  connectTimeouts: number;
  idleTimeouts: number;
  halfClosedTimeouts: number;
  drainClosed: number;
  acceptErrors: number;
  rejected: Record<RejectReason, number>;
}

/** A zeroed set of counters with a fixed shape (so the hot path stays monomorphic). */
export function newListenerStats(): ListenerStats {
  return {
    active: 0,
    failingOpen: 0,
    total: 0,
    bytesToBackend: 0,
    bytesToClient: 0,
    connectFailures: 0,
    retries: 0,
    connectTimeouts: 0,
    idleTimeouts: 0,
    halfClosedTimeouts: 0,
    drainClosed: 0,
    acceptErrors: 0,
    rejected: {
      limit: 0,
      'speaker-limit': 0,
      'source-range': 0,
      'no-backend': 0,
      'connect-failed': 0,
      'local-resources': 0,
      draining: 0,
    },
  };
}

/** Add `from` into `into` (used to sum workers at scrape time). */
export function addListenerStats(into: ListenerStats, from: ListenerStats): void {
  into.active += from.active;
  into.failingOpen += from.failingOpen;
  into.total += from.total;
  into.bytesToBackend += from.bytesToBackend;
  into.bytesToClient += from.bytesToClient;
  into.connectFailures += from.connectFailures;
  into.retries += from.retries;
  into.connectTimeouts += from.connectTimeouts;
  into.idleTimeouts += from.idleTimeouts;
  into.halfClosedTimeouts += from.halfClosedTimeouts;
  into.drainClosed += from.drainClosed;
  into.acceptErrors += from.acceptErrors;
  for (const r of REJECT_REASONS) into.rejected[r] += from.rejected[r];
}

/** One listener's counters as reported by a worker: its key and Service name travel with them. */
export interface ListenerStatsEntry {
  readonly key: string;
  readonly service: string;
  readonly bound: boolean;
  readonly stats: ListenerStats;
}

/** Add up the entries of several threads by listener key; a listener is bound only if bound in all. */
export function mergeStatsEntries(
  perThread: readonly (readonly ListenerStatsEntry[])[],
): ListenerStatsEntry[] {
  const byKey = new Map<string, { key: string; service: string; bound: boolean; stats: ListenerStats }>();
  for (const entries of perThread) {
    for (const e of entries) {
      let sum = byKey.get(e.key);
      if (!sum) {
        sum = { key: e.key, service: e.service, bound: e.bound, stats: newListenerStats() };
        byKey.set(e.key, sum);
      } else sum.bound = sum.bound && e.bound;
      addListenerStats(sum.stats, e.stats);
    }
  }
  return [...byKey.values()];
}
