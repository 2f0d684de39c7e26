/**
 * The cluster's status, assembled as `switchyard status --redis-url` sees it: the table, the lease
 * of each VIP (its owner), the live speakers and the pools from the store; health and counters from
 * each speaker's own `GET /status`, asked in parallel and each bounded in time. A speaker that does
 * not answer costs its numbers and adds a note, never a hang.
 */
import type { Listener } from './model.ts';
import { fetchStatus, type StatusAnswer } from './status-fetch.ts';
import {
  type BackendStatus,
  type ConnectionCounts,
  type ListenerStatus,
  type SpeakerStatus,
  STATUS_REPORT_VERSION,
  type StatusReport,
  vipPort,
} from './status-model.ts';
import type { LeaseInfo, LiveSpeaker, PoolStatus, Store, TableLoad } from './store/store.ts';

/** Everything read for one cluster report. */
export interface ClusterReadings {
  readonly load: TableLoad;
  readonly leases: readonly LeaseInfo[];
  readonly speakers: readonly LiveSpeaker[];
  readonly pools: readonly PoolStatus[] | null;
  /** What each speaker with a status URL answered, by node. */
  readonly answers: ReadonlyMap<string, StatusAnswer>;
}

function sumCounts(all: readonly ConnectionCounts[]): ConnectionCounts | null {
  if (all.length === 0) return null;
  return all.reduce((a, c) => ({
    active: a.active + c.active,
    total: a.total + c.total,
    bytesIn: a.bytesIn + c.bytesIn,
    bytesOut: a.bytesOut + c.bytesOut,
  }));
}

/** Join the store's view and the speakers' answers into one report (pure). */
export function assembleClusterReport(r: ClusterReadings, now: Date = new Date()): StatusReport {
  const notes: string[] = [];
  const listeners: readonly Listener[] = r.load.state === 'ok' ? r.load.table.listeners : [];
  if (r.load.state === 'absent') notes.push('no forwarding table in the store: is the controller running?');
  if (r.load.state === 'refused')
    notes.push(
      `the table in the store (v${r.load.version}) does not validate; speakers keep their last good one`,
    );
  if (r.pools === null) notes.push('the controller has not published pool statuses');

  const owners = new Map(r.leases.map((l) => [l.vip, l.holder]));
  // Per speaker that answered: its listeners by key.
  const reported = new Map<string, Map<string, ListenerStatus>>();
  for (const [node, a] of r.answers) {
    if (a.ok) reported.set(node, new Map(a.report.listeners.map((l) => [vipPort(l.vip, l.port), l])));
  }
  const out: ListenerStatus[] = listeners.map((l) => {
    const key = vipPort(l.vip, l.port);
    const owner = owners.get(l.vip) ?? null;
    // Health as the owner sees it (it carries the traffic); else as any speaker that answered.
    const seen = [...reported.entries()].sort(([a], [b]) => (a === owner ? -1 : b === owner ? 1 : 0));
    const view = seen.map(([, m]) => m.get(key)).find((x) => x !== undefined);
    const health = new Map(
      view?.backends.map((b) => [`${b.node}/${b.address}:${b.nodePort}`, b.health]) ?? [],
    );
    const backends: BackendStatus[] = l.backends.map((b) => ({
      node: b.node,
      address: b.address,
      nodePort: b.nodePort,
      health: health.get(`${b.node}/${b.address}:${b.nodePort}`) ?? 'unknown',
    }));
    const counts = seen.flatMap(([, m]) => {
      const c = m.get(key)?.connections;
      return c ? [c] : [];
    });
    return {
      service: l.service,
      vip: l.vip,
      port: l.port,
      protocol: l.protocol,
      owner,
      backends,
      connections: sumCounts(counts),
    };
  });

  const speakers: SpeakerStatus[] = r.speakers.map((s) => {
    const a = r.answers.get(s.node);
    if (!s.statusUrl)
      notes.push(`speaker ${s.node} advertises no status endpoint (metrics off, or an older version)`);
    else if (a && !a.ok) notes.push(`speaker ${s.node} did not answer at ${s.statusUrl} (${a.detail})`);
    const self = a?.ok ? a.report.speakers.find((x) => x.node === s.node) : undefined;
    return {
      node: s.node,
      address: s.address,
      version: s.version,
      startedAt: s.startedAt,
      statusUrl: s.statusUrl ?? null,
      reachable: a ? a.ok : null,
      vips: self?.vips ?? [],
    };
  });
  if (r.speakers.length === 0) notes.push('no live speaker is registered');
  if (r.answers.size > 0 && ![...r.answers.values()].some((a) => a.ok))
    notes.push('no speaker answered: ACTIVE, TOTAL and BYTES show "-" and health is unknown');

  return {
    reportVersion: STATUS_REPORT_VERSION,
    source: 'cluster',
    generatedAt: now.toISOString(),
    tableVersion: r.load.state === 'ok' ? r.load.table.version : null,
    listeners: out,
    pools: r.pools,
    speakers,
    notes,
  };
}

/** Read the store, ask every live speaker (in parallel, each within `timeoutMs`), and assemble. */
export async function readClusterStatus(store: Store, timeoutMs?: number): Promise<StatusReport> {
  const [load, speakers, pools] = await Promise.all([
    store.loadTable(),
    store.listSpeakers(),
    store.poolStatuses(),
  ]);
  const vips = load.state === 'ok' ? [...new Set(load.table.listeners.map((l) => l.vip))] : [];
  const leases = vips.length > 0 ? await store.readLeases(vips) : [];
  const asked = await Promise.all(
    speakers
      .filter((s) => s.statusUrl)
      .map(async (s) => [s.node, await fetchStatus(s.statusUrl!, timeoutMs)] as const),
  );
  return assembleClusterReport({ load, leases, speakers, pools, answers: new Map(asked) });
}
