/**
 * `switchyard status` for people: the report as three `kubectl get`-like tables (listeners, pools,
 * speakers) and its notes; and for scripts: the report as JSON, unchanged. Pure: the clock is an
 * argument, so ages render the same in tests.
 */
import { formatColumns } from './columns.ts';
import { type StatusReport, vipPort } from './status-model.ts';

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** Bytes in binary units with one decimal below 10 (`512 B`, `1.5 KiB`, `12 MiB`). */
export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  let v = n;
  let unit: string = 'B';
  for (const u of UNITS) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${unit}`;
}

/** An age as `kubectl get` shows it: `45s`, `12m`, `3h`, `5d` (never negative). */
export function humanAge(startedAt: string, now: Date): string {
  const ms = Math.max(0, now.getTime() - Date.parse(startedAt));
  if (Number.isNaN(ms)) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** The report as tables and notes, for a terminal. */
export function formatStatusTable(report: StatusReport, now: Date = new Date()): string {
  const listeners =
    report.listeners.length === 0
      ? 'No listeners.'
      : formatColumns([
          ['SERVICE', 'VIP:PORT', 'OWNER', 'BACKENDS', 'ACTIVE', 'TOTAL', 'BYTES-IN', 'BYTES-OUT'],
          ...report.listeners.map((l) => {
            const c = l.connections;
            return [
              l.service,
              vipPort(l.vip, l.port),
              l.owner ?? '-',
              l.backends.map((b) => `${b.node}:${b.health}`).join(' ') || '<none>',
              c ? String(c.active) : '-',
              c ? String(c.total) : '-',
              c ? humanBytes(c.bytesIn) : '-',
              c ? humanBytes(c.bytesOut) : '-',
            ];
          }),
        ]);
  const pools =
    report.pools === null
      ? 'Pools: unknown here (ask `switchyard run`, or a cluster with --redis-url).'
      : report.pools.length === 0
        ? 'No pools.'
        : formatColumns([
            ['POOL', 'ASSIGNED-IPV4', 'AVAILABLE-IPV4', 'ASSIGNED-IPV6', 'AVAILABLE-IPV6'],
            ...report.pools.map((p) => [
              p.name,
              String(p.assignedIPv4),
              String(p.availableIPv4),
              String(p.assignedIPv6),
              String(p.availableIPv6),
            ]),
          ]);
  const speakers =
    report.speakers.length === 0
      ? 'No speakers.'
      : formatColumns([
          ['NODE', 'ADDRESS', 'VERSION', 'AGE', 'VIPS'],
          ...report.speakers.map((s) => [
            s.node,
            s.address || '-',
            s.version,
            humanAge(s.startedAt, now),
            s.reachable === false ? '?' : String(s.vips.filter((v) => v.state === 'owned').length),
          ]),
        ]);
  const notes = report.notes.map((n) => `note: ${n}`);
  return `${[listeners, pools, speakers, ...(notes.length > 0 ? [notes.join('\n')] : [])].join('\n\n')}\n`;
}

/** The report as JSON for scripts: the same object `GET /status` serves. */
export function formatStatusJson(report: StatusReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
