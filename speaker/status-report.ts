/**
 * The speaker's side of `switchyard status`: what its metrics endpoint answers on `GET /status`.
 * The pure part turns the served table, the data plane's counters, the health snapshot and the VIPs
 * this node holds into a `StatusReport`; the thin part reads those from a running speaker.
 */
import type { JsonRoutes } from '../shared/metrics-server.ts';
import type { ForwardingTable } from '../shared/model.ts';
import { listenerKey } from '../shared/model.ts';
import {
  type BackendHealth,
  type ListenerStatus,
  type SpeakerStatus,
  type SpeakerVip,
  STATUS_REPORT_VERSION,
  type StatusReport,
} from '../shared/status-model.ts';
import type { LiveSpeaker, PoolStatus, SpeakerInfo } from '../shared/store/store.ts';
import type { ListenerStatsEntry } from './forward/listener-stats.ts';
import { type HealthSource, type HealthState, healthTargetKey } from './health/health-target.ts';
import type { Speaker } from './speaker.ts';

const HEALTH: Record<HealthState, BackendHealth> = { healthy: 'up', unhealthy: 'down', unknown: 'unknown' };

/** What one speaker knows, read at one moment. */
export interface SpeakerView {
  readonly table: ForwardingTable | null;
  readonly stats: readonly ListenerStatsEntry[];
  readonly health: ReadonlyMap<string, HealthState>;
  /** This node's registration; null for a speaker serving a table file (no cluster). */
  readonly self: SpeakerInfo | null;
  /** VIPs this node owns or keeps suspended (empty without a cluster). */
  readonly vips: readonly SpeakerVip[];
}

/** Extra parts of the report that `switchyard run` knows and a lone speaker does not. */
export interface ReportExtras {
  readonly source: StatusReport['source'];
  readonly pools: readonly PoolStatus[] | null;
  /** Registered speakers; defaults to this node alone. */
  readonly speakers?: readonly LiveSpeaker[];
}

/** The listeners of `view` with health, owner (this node when it holds the VIP) and counters. */
export function speakerListeners(view: SpeakerView): ListenerStatus[] {
  const stats = new Map(view.stats.map((e) => [e.key, e.stats]));
  const held = new Set(view.vips.map((v) => v.vip));
  return (view.table?.listeners ?? []).map((l) => {
    const s = stats.get(listenerKey(l));
    return {
      service: l.service,
      vip: l.vip,
      port: l.port,
      protocol: l.protocol,
      owner: view.self !== null && held.has(l.vip) ? view.self.node : null,
      backends: l.backends.map((b) => ({
        node: b.node,
        address: b.address,
        nodePort: b.nodePort,
        health: HEALTH[view.health.get(healthTargetKey(l.healthCheck, b)) ?? 'unknown'],
      })),
      // A listener this node does not bind (l2, not the owner) has no counters here.
      connections: s
        ? { active: s.active, total: s.total, bytesIn: s.bytesToBackend, bytesOut: s.bytesToClient }
        : null,
    };
  });
}

/** The report a speaker (or `switchyard run`) serves on `GET /status`. */
export function speakerReport(view: SpeakerView, extras: ReportExtras, now: Date = new Date()): StatusReport {
  const self = view.self;
  const registered = extras.speakers ?? (self ? [self] : []);
  const speakers: SpeakerStatus[] = registered.map((s) => ({
    node: s.node,
    address: s.address,
    version: s.version,
    startedAt: s.startedAt,
    statusUrl: s.statusUrl ?? null,
    reachable: self !== null && s.node === self.node ? true : null,
    vips: self !== null && s.node === self.node ? view.vips : [],
  }));
  const notes: string[] = [];
  if (view.table === null || view.table.listeners.length === 0) notes.push('the forwarding table is empty');
  return {
    reportVersion: STATUS_REPORT_VERSION,
    source: extras.source,
    generatedAt: now.toISOString(),
    tableVersion: view.table?.version ?? null,
    listeners: speakerListeners(view),
    pools: extras.pools,
    speakers,
    notes,
  };
}

/** Read a running speaker's view (the data plane's counters come from every worker). */
export async function readSpeakerView(
  speaker: Speaker,
  health: HealthSource,
  self: SpeakerInfo | null,
  vips: () => readonly SpeakerVip[],
): Promise<SpeakerView> {
  return {
    table: speaker.table,
    stats: await speaker.plane.stats(),
    health: health.snapshot(),
    self,
    vips: vips().map((v) => ({ vip: v.vip, state: v.state, epoch: v.epoch })),
  };
}

/** The URL a speaker advertises for `GET /status`: a wildcard bind is reached at the node's address. */
export function statusUrlFor(
  metrics: { address: string; port: number } | null,
  nodeAddress: string,
): string | undefined {
  if (metrics === null) return undefined;
  const wildcard = metrics.address === '0.0.0.0' || metrics.address === '::';
  const host = wildcard && nodeAddress !== '' ? nodeAddress : wildcard ? '127.0.0.1' : metrics.address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${metrics.port}/status`;
}

/** The `/status` route, given its report maker once the speaker is up (it answers 503-like errors before). */
export interface StatusRoute {
  readonly routes: JsonRoutes;
  set(report: () => Promise<StatusReport>): void;
}

/** A `/status` route whose report maker is supplied later: the metrics server starts with the speaker. */
export function lateStatusRoute(): StatusRoute {
  let make: (() => Promise<StatusReport>) | null = null;
  return {
    routes: new Map([
      ['/status', () => (make ? make() : Promise.reject(new Error('the speaker is still starting')))],
    ]),
    set: (report) => {
      make = report;
    },
  };
}
