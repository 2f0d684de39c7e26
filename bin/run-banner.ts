/** What `switchyard run` tells a person once it is serving: each Service, its VIP, and a curl to try. */
import type { AddressInfo } from 'node:net';
import type { PassResult } from '../controller/loop/reconcile.ts';
import { formatColumns } from '../shared/columns.ts';
import type { DemoBackend } from './demo-backends.ts';

/** The banner text (pure, for tests). */
export function formatRunBanner(
  pass: PassResult,
  backends: readonly DemoBackend[],
  metrics: AddressInfo | null,
): string {
  const rows: string[][] = [['SERVICE', 'EXTERNAL-IP:PORT', 'NODES', 'TRY']];
  for (const l of pass.table.listeners) {
    const host = l.vip.includes(':') ? `[${l.vip}]` : l.vip;
    rows.push([l.service, `${host}:${l.port}`, String(l.backends.length), `curl http://${host}:${l.port}/`]);
  }
  const pending = pass.plan.services.filter((s) => s.ips.length === 0);
  const lines = [
    'Switchyard is serving:',
    '',
    formatColumns(rows)
      .split('\n')
      .map((r) => `  ${r}`)
      .join('\n'),
  ];
  for (const s of pending) {
    const why = s.errors.map((e) => e.message).join('; ') || 'no IP';
    lines.push(`  ${s.namespace}/${s.name}: pending (${why})`);
  }
  if (backends.length > 0) {
    const nodes = [...new Set(backends.map((b) => b.node))];
    lines.push(
      '',
      `Each of the demo nodes (${nodes.join(', ')}) answers with its name: repeat a curl to see the balancing.`,
    );
  }
  if (metrics) lines.push(`Metrics: http://${metrics.address}:${metrics.port}/metrics`);
  lines.push('Stop with Ctrl-C.');
  return lines.join('\n');
}
