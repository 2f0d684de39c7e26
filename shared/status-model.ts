/**
 * The status report: what `GET /status` of a speaker or of `switchyard run` answers, and what
 * `switchyard status -o json` prints. One shape for all three, so a script reads any of them the
 * same way; docs/operations.md ("Status") documents it.
 */
import type { PoolStatus } from './store/store.ts';

/** Version of the report's shape; bumped only by a change that breaks readers. */
export const STATUS_REPORT_VERSION = 1;

/** Health of one backend as the report shows it: `up`, `down`, or `unknown` (not probed yet). */
export type BackendHealth = 'up' | 'down' | 'unknown';

/** One backend of a listener: a node's NodePort and whether the speaker sends it traffic. */
export interface BackendStatus {
  readonly node: string;
  readonly address: string;
  readonly nodePort: number;
  readonly health: BackendHealth;
}

/** Connection counters of one listener, summed over the speakers that answered. */
export interface ConnectionCounts {
  /** Open client connections now. */
  readonly active: number;
  /** Client connections accepted since the speaker(s) started. */
  readonly total: number;
  /** Bytes from clients to backends. */
  readonly bytesIn: number;
  /** Bytes from backends to clients. */
  readonly bytesOut: number;
}

/** One VIP:port listener of the forwarding table. */
export interface ListenerStatus {
  /** `namespace/name` of the Service. */
  readonly service: string;
  readonly vip: string;
  readonly port: number;
  readonly protocol: string;
  /** The node holding the VIP's lease; null when no node holds it (or the source cannot know). */
  readonly owner: string | null;
  readonly backends: readonly BackendStatus[];
  /** Null when no speaker reported counters for this listener (unreachable, or not bound there). */
  readonly connections: ConnectionCounts | null;
}

/** A VIP as one speaker holds it. */
export interface SpeakerVip {
  readonly vip: string;
  /** `owned`: lease held; `suspended`: kept while the store is unreachable. */
  readonly state: string;
  readonly epoch: number;
}

/** One speaker: its registration and, when it answered, what it holds. */
export interface SpeakerStatus {
  readonly node: string;
  readonly address: string;
  readonly version: string;
  /** When the speaker process started, ISO 8601. */
  readonly startedAt: string;
  /** Where its `GET /status` answers; null when it advertises none. */
  readonly statusUrl: string | null;
  /** Whether its status endpoint answered; null when it was not asked. */
  readonly reachable: boolean | null;
  readonly vips: readonly SpeakerVip[];
}

/** The whole report. */
export interface StatusReport {
  readonly reportVersion: number;
  /** `speaker`, `run` (single process) or `cluster` (assembled from Redis by the CLI). */
  readonly source: 'speaker' | 'run' | 'cluster';
  /** When the report was made, ISO 8601. */
  readonly generatedAt: string;
  /** Version of the forwarding table the listeners come from; null when there is none yet. */
  readonly tableVersion: number | null;
  readonly listeners: readonly ListenerStatus[];
  /** Null when the source does not know the pools (a speaker alone, or nothing published yet). */
  readonly pools: readonly PoolStatus[] | null;
  readonly speakers: readonly SpeakerStatus[];
  /** Things the reader should know: a speaker that did not answer, a missing table. */
  readonly notes: readonly string[];
}

/** Whether `v` looks like a status report (a check at the boundary, before rendering what came off the wire). */
export function isStatusReport(v: unknown): v is StatusReport {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o['reportVersion'] === 'number' &&
    typeof o['source'] === 'string' &&
    Array.isArray(o['listeners']) &&
    Array.isArray(o['speakers']) &&
    Array.isArray(o['notes']) &&
    (o['pools'] === null || Array.isArray(o['pools']))
  );
}

/** `vip:port`, with brackets around an IPv6 VIP. */
export function vipPort(vip: string, port: number): string {
  return vip.includes(':') ? `[${vip}]:${port}` : `${vip}:${port}`;
}
