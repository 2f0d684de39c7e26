import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { watchSeconds } from '../../bin/status-command.ts';
import { assembleClusterReport, type ClusterReadings } from '../../shared/cluster-status.ts';
import type { ListenerStatus, StatusReport } from '../../shared/status-model.ts';
import { formatStatusJson, formatStatusTable, humanAge, humanBytes } from '../../shared/status-render.ts';
import { parseTable } from '../../shared/table-parse.ts';
import { newListenerStats } from '../../speaker/forward/listener-stats.ts';
import { healthTargetKey } from '../../speaker/health/health-target.ts';
import { speakerListeners, speakerReport, statusUrlFor } from '../../speaker/status-report.ts';

const NOW = new Date('2030-01-01T12:00:00Z');

function listener(over: Partial<ListenerStatus> = {}): ListenerStatus {
  return {
    service: 'demo/web',
    vip: '192.0.2.1',
    port: 80,
    protocol: 'TCP',
    owner: 'n1',
    backends: [
      { node: 'n1', address: '10.0.0.1', nodePort: 30080, health: 'up' },
      { node: 'n2', address: '10.0.0.2', nodePort: 30080, health: 'down' },
    ],
    connections: { active: 2, total: 1500, bytesIn: 2048, bytesOut: 5 * 1024 * 1024 },
    ...over,
  };
}

function report(over: Partial<StatusReport> = {}): StatusReport {
  return {
    reportVersion: 1,
    source: 'cluster',
    generatedAt: NOW.toISOString(),
    tableVersion: 3,
    listeners: [listener()],
    pools: [{ name: 'prod', assignedIPv4: 1, availableIPv4: 9, assignedIPv6: 0, availableIPv6: 0 }],
    speakers: [
      {
        node: 'n1',
        address: '10.0.0.1',
        version: '0.1.0',
        startedAt: '2030-01-01T11:57:00Z',
        statusUrl: 'http://10.0.0.1:9470/status',
        reachable: true,
        vips: [{ vip: '192.0.2.1', state: 'owned', epoch: 4 }],
      },
    ],
    notes: [],
    ...over,
  };
}

describe('status renderer', () => {
  it('prints listeners with owner, backend health, counts and human bytes, then pools, then speakers', () => {
    const text = formatStatusTable(report(), NOW);
    const lines = text.split('\n');
    assert.match(
      lines[0]!,
      /^SERVICE\s+VIP:PORT\s+OWNER\s+BACKENDS\s+ACTIVE\s+TOTAL\s+BYTES-IN\s+BYTES-OUT$/,
    );
    assert.match(
      lines[1]!,
      /^demo\/web\s+192\.0\.2\.1:80\s+n1\s+n1:up n2:down\s+2\s+1500\s+2\.0 KiB\s+5\.0 MiB$/,
    );
    assert.match(
      text,
      /^POOL\s+ASSIGNED-IPV4\s+AVAILABLE-IPV4\s+ASSIGNED-IPV6\s+AVAILABLE-IPV6\nprod\s+1\s+9\s+0\s+0$/m,
    );
    assert.match(text, /^NODE\s+ADDRESS\s+VERSION\s+AGE\s+VIPS\nn1\s+10\.0\.0\.1\s+0\.1\.0\s+3m\s+1$/m);
    assert.ok(text.indexOf('SERVICE') < text.indexOf('POOL') && text.indexOf('POOL') < text.indexOf('NODE'));
  });

  it('shows "-" for an unknown owner and missing counters, brackets IPv6, and prints notes last', () => {
    const text = formatStatusTable(
      report({
        listeners: [listener({ vip: '2001:db8::1', owner: null, connections: null })],
        pools: null,
        notes: ['speaker n2 did not answer'],
      }),
      NOW,
    );
    assert.match(text, /^demo\/web\s+\[2001:db8::1\]:80\s+-\s+n1:up n2:down\s+-\s+-\s+-\s+-$/m);
    assert.match(text, /^Pools: unknown here/m);
    assert.match(text.trimEnd(), /note: speaker n2 did not answer$/);
  });

  it('prints the report unchanged as JSON, so scripts read the same shape GET /status serves', () => {
    const r = report();
    assert.deepEqual(JSON.parse(formatStatusJson(r)), r);
  });

  it('writes bytes in binary units and ages like kubectl', () => {
    assert.deepEqual([0, 1023, 1536, 10 * 1024, 3 * 1024 ** 3].map(humanBytes), [
      '0 B',
      '1023 B',
      '1.5 KiB',
      '10 KiB',
      '3.0 GiB',
    ]);
    const ago = (s: number) => humanAge(new Date(NOW.getTime() - s * 1000).toISOString(), NOW);
    assert.deepEqual([ago(5), ago(600), ago(3 * 3600), ago(5 * 86400)], ['5s', '10m', '3h', '5d']);
  });

  it('accepts --watch alone (2 s) or a number of seconds, and refuses nonsense', () => {
    assert.equal(watchSeconds(undefined), undefined);
    assert.equal(watchSeconds(''), 2);
    assert.equal(watchSeconds('0.5'), 0.5);
    assert.equal(watchSeconds('0'), null);
    assert.equal(watchSeconds('soon'), null);
  });
});

const TABLE = parseTable(
  {
    version: 7,
    listeners: [
      {
        service: 'demo/web',
        vip: '192.0.2.1',
        port: 80,
        backends: [
          { node: 'n1', address: '10.0.0.1', nodePort: 30080 },
          { node: 'n2', address: '10.0.0.2', nodePort: 30080 },
        ],
      },
      {
        service: 'demo/api',
        vip: '192.0.2.2',
        port: 81,
        backends: [{ node: 'n1', address: '10.0.0.1', nodePort: 30081 }],
      },
    ],
  },
  'test',
);

describe('cluster report assembly', () => {
  assert.ok(TABLE.ok, JSON.stringify(TABLE));
  const table = TABLE.value;
  const live = (node: string, statusUrl?: string) => ({
    node,
    address: `10.0.0.${node.slice(1)}`,
    startedAt: NOW.toISOString(),
    version: '0.1.0',
    remainingMs: 1500,
    ...(statusUrl ? { statusUrl } : {}),
  });
  const speakerAnswer = (node: string, health: 'up' | 'down', total: number): StatusReport =>
    report({
      source: 'speaker',
      listeners: [
        listener({
          owner: null,
          backends: [
            { node: 'n1', address: '10.0.0.1', nodePort: 30080, health },
            { node: 'n2', address: '10.0.0.2', nodePort: 30080, health },
          ],
          connections: { active: 1, total, bytesIn: 10, bytesOut: 20 },
        }),
      ],
      speakers: [{ ...report().speakers[0]!, node }],
    });
  const readings = (over: Partial<ClusterReadings> = {}): ClusterReadings => ({
    load: { state: 'ok', generation: 'g', table },
    leases: [{ vip: '192.0.2.1', holder: 'n2', epoch: 3, remainingMs: 1000 }],
    speakers: [live('n1', 'http://a/status'), live('n2', 'http://b/status')],
    pools: [],
    answers: new Map([
      ['n1', { ok: true, report: speakerAnswer('n1', 'down', 5) }],
      ['n2', { ok: true, report: speakerAnswer('n2', 'up', 7) }],
    ]),
    ...over,
  });

  it('names the lease holder as owner, takes health from the owner, and sums counters over speakers', () => {
    const r = assembleClusterReport(readings(), NOW);
    const [web, api] = r.listeners;
    assert.equal(web?.owner, 'n2');
    assert.deepEqual(
      web?.backends.map((b) => b.health),
      ['up', 'up'],
      "the owner n2's view, not n1's",
    );
    assert.deepEqual(web?.connections, { active: 2, total: 12, bytesIn: 20, bytesOut: 40 });
    assert.equal(api?.owner, null, 'no lease: no owner');
    assert.equal(api?.connections, null, 'no speaker reported it');
    assert.equal(r.tableVersion, 7);
    assert.deepEqual(r.notes, []);
  });

  it('keeps the store view when a speaker does not answer, marking it unreachable with a note', () => {
    const r = assembleClusterReport(
      readings({
        answers: new Map([
          ['n1', { ok: true, report: speakerAnswer('n1', 'down', 5) }],
          ['n2', { ok: false, why: 'timeout', detail: 'no answer within 1000 ms' }],
        ]),
      }),
      NOW,
    );
    assert.equal(r.listeners[0]?.owner, 'n2');
    assert.equal(r.listeners[0]?.connections?.total, 5);
    assert.deepEqual(
      r.speakers.map((s) => s.reachable),
      [true, false],
    );
    assert.deepEqual(r.notes, ['speaker n2 did not answer at http://b/status (no answer within 1000 ms)']);
  });

  it('notes a speaker without a status endpoint, a missing table and unpublished pools', () => {
    const r = assembleClusterReport(
      readings({ load: { state: 'absent' }, pools: null, speakers: [live('n1')], answers: new Map() }),
      NOW,
    );
    assert.deepEqual(r.listeners, []);
    assert.equal(r.speakers[0]?.reachable, null);
    assert.equal(r.notes.length, 3, r.notes.join('\n'));
    assert.match(
      r.notes.join('\n'),
      /no forwarding table.*\n.*pool statuses.*\n.*n1 advertises no status endpoint/,
    );
  });
});

describe('speaker report', () => {
  assert.ok(TABLE.ok);
  const table = TABLE.value;
  const stats = newListenerStats();
  stats.total = 4;
  stats.bytesToBackend = 100;
  stats.bytesToClient = 300;
  const self = { node: 'n1', address: '10.0.0.1', startedAt: NOW.toISOString(), version: 'x' };
  const web = table.listeners[0]!;

  it('reports health per backend from the probe targets, owner for held VIPs, and counters of bound listeners', () => {
    const ls = speakerListeners({
      table,
      stats: [{ key: '192.0.2.1:80/TCP', service: 'demo/web', bound: true, stats }],
      health: new Map([
        [healthTargetKey(web.healthCheck, web.backends[0]!), 'healthy'],
        [healthTargetKey(web.healthCheck, web.backends[1]!), 'unhealthy'],
      ]),
      self,
      vips: [{ vip: '192.0.2.1', state: 'owned', epoch: 2 }],
    });
    assert.deepEqual(
      ls[0]?.backends.map((b) => `${b.node}:${b.health}`),
      ['n1:up', 'n2:down'],
    );
    assert.equal(ls[0]?.owner, 'n1');
    assert.deepEqual(ls[0]?.connections, { active: 0, total: 4, bytesIn: 100, bytesOut: 300 });
    assert.equal(ls[1]?.owner, null);
    assert.equal(ls[1]?.connections, null, 'not bound here');
    const unprobed = speakerListeners({ table, stats: [], health: new Map(), self, vips: [] });
    assert.deepEqual(
      unprobed.flatMap((l) => l.backends.map((b) => b.health)),
      ['unknown', 'unknown', 'unknown'],
      'not probed yet',
    );
  });

  it('lists itself as the one reachable speaker with its VIPs, and notes an empty table', () => {
    const r = speakerReport(
      {
        table: null,
        stats: [],
        health: new Map(),
        self,
        vips: [{ vip: '192.0.2.1', state: 'suspended', epoch: 2 }],
      },
      { source: 'speaker', pools: null },
      NOW,
    );
    assert.equal(r.speakers[0]?.reachable, true);
    assert.deepEqual(r.speakers[0]?.vips, [{ vip: '192.0.2.1', state: 'suspended', epoch: 2 }]);
    assert.deepEqual(r.notes, ['the forwarding table is empty']);
  });

  it('advertises the node address when the metrics endpoint listens on a wildcard', () => {
    assert.equal(statusUrlFor({ address: '0.0.0.0', port: 9470 }, '10.0.0.7'), 'http://10.0.0.7:9470/status');
    assert.equal(statusUrlFor({ address: '127.0.0.1', port: 9 }, '10.0.0.7'), 'http://127.0.0.1:9/status');
    assert.equal(statusUrlFor({ address: '::', port: 9 }, 'fd00::7'), 'http://[fd00::7]:9/status');
    assert.equal(statusUrlFor(null, '10.0.0.7'), undefined);
  });
});
