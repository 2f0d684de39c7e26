/**
 * Sequential scenario tables in the manner of MetalLB's allocator_test.go: each table drives one
 * allocator through steps, and each step states what must happen.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Allocator } from '../../controller/allocator.ts';
import type { Pool } from '../../controller/pool.ts';
import { parseIp } from '../../shared/ip.ts';
import { pools, request, type ServiceSpec } from './objects.ts';

interface Step {
  desc: string;
  op: 'assign' | 'allocate' | 'unassign' | 'release' | 'setPools';
  svc?: string;
  spec?: ServiceSpec;
  /** Labels of the Service's namespace. */
  ns?: Record<string, string>;
  ips?: string[];
  pools?: Pool[];
  /** The IPs the Service must hold after the step. */
  want?: string[];
  /** The error code the step must fail with (and then nothing changes). */
  wantErr?: string;
  /** Text the error message must contain, e.g. the other Service's name. */
  wantMsg?: RegExp;
  /** Services that must have lost an IP in setPools. */
  wantLost?: string[];
  /** The Services that must be on an IP after the step. */
  on?: Record<string, string[]>;
}

function ip(text: string) {
  const v = parseIp(text);
  assert.ok(v, `bad IP in test: ${text}`);
  return v;
}

function runTable(name: string, initial: Pool[], steps: Step[]): void {
  describe(name, () => {
    const a = new Allocator(initial);
    for (const step of steps) {
      it(step.desc, { timeout: 5000 }, () => {
        const key = step.svc ? (step.svc.includes('/') ? step.svc : `default/${step.svc}`) : '';
        const before = key ? a.holding(key)?.ips.map((i) => i.text) : undefined;
        let result: ReturnType<Allocator['assign']> | null = null;
        switch (step.op) {
          case 'assign':
            result = a.assign(request(key, step.spec, step.ns), (step.ips ?? []).map(ip));
            break;
          case 'allocate':
            result = a.allocate(request(key, step.spec, step.ns));
            break;
          case 'unassign':
            assert.equal(a.unassign(key), true, 'the Service must have held something');
            break;
          case 'release':
            assert.equal(
              a.release(key, ip((step.ips ?? [])[0] as string)),
              true,
              'the Service must have held the IP',
            );
            break;
          case 'setPools':
            assert.deepEqual(a.setPools(step.pools ?? []).sort(), (step.wantLost ?? []).sort());
            break;
        }
        if (step.wantErr) {
          assert.ok(result && !result.ok, `expected ${step.wantErr}, got ${JSON.stringify(result)}`);
          if (result && !result.ok) {
            assert.equal(result.problem.code, step.wantErr, result.problem.message);
            if (step.wantMsg) assert.match(result.problem.message, step.wantMsg);
          }
          assert.deepEqual(
            a.holding(key)?.ips.map((i) => i.text),
            before,
            'a failed step changes nothing',
          );
        } else if (result) {
          assert.ok(result.ok, result.ok ? '' : `${result.problem.code}: ${result.problem.message}`);
        }
        if (step.want) assert.deepEqual(a.holding(key)?.ips.map((i) => i.text) ?? [], step.want);
        for (const [addr, svcs] of Object.entries(step.on ?? {})) {
          assert.deepEqual(a.servicesOn(ip(addr)).sort(), svcs.sort(), `Services on ${addr}`);
        }
      });
    }
  });
}

runTable(
  'assignment, idempotence and conflicts',
  pools({ test: { addresses: ['192.0.2.0/29', '2001:db8::/120'] } }),
  [
    { desc: 'assign s1 192.0.2.1', op: 'assign', svc: 's1', ips: ['192.0.2.1'], want: ['192.0.2.1'] },
    {
      desc: 's1 idempotent reassign',
      op: 'assign',
      svc: 's1',
      ips: ['192.0.2.1'],
      on: { '192.0.2.1': ['default/s1'] },
    },
    {
      desc: "s2 can't take s1's IP without a sharing key, and the error names s1",
      op: 'assign',
      svc: 's2',
      ips: ['192.0.2.1'],
      wantErr: 'alloc.ip-in-use',
      wantMsg: /default\/s1/,
    },
    {
      desc: 's1 moves to 192.0.2.2, freeing 192.0.2.1',
      op: 'assign',
      svc: 's1',
      ips: ['192.0.2.2'],
      on: { '192.0.2.1': [] },
    },
    { desc: 's2 now takes 192.0.2.1', op: 'assign', svc: 's2', ips: ['192.0.2.1'], want: ['192.0.2.1'] },
    {
      desc: "s3 can't take an IP outside every pool",
      op: 'assign',
      svc: 's3',
      ips: ['198.51.100.1'],
      wantErr: 'alloc.ip-not-in-pool',
    },
    {
      desc: "s3 can't take two IPv4 addresses",
      op: 'assign',
      svc: 's3',
      ips: ['192.0.2.3', '192.0.2.4'],
      wantErr: 'alloc.duplicate-family',
    },
    {
      desc: "s3 can't take IPv6 as an IPv4-only Service",
      op: 'assign',
      svc: 's3',
      ips: ['2001:db8::5'],
      wantErr: 'alloc.family-mismatch',
    },
    { desc: 'unassign s1', op: 'unassign', svc: 's1', want: [], on: { '192.0.2.2': [] } },
    { desc: 's3 takes the IP s1 gave up', op: 'assign', svc: 's3', ips: ['192.0.2.2'], want: ['192.0.2.2'] },
    {
      desc: 'a dual-stack Service holds one IP of each family',
      op: 'assign',
      svc: 'd1',
      spec: { policy: 'RequireDualStack' },
      ips: ['192.0.2.5', '2001:db8::5'],
      want: ['192.0.2.5', '2001:db8::5'],
    },
    {
      desc: 'releasing its IPv6 address keeps its IPv4 one',
      op: 'release',
      svc: 'd1',
      ips: ['2001:db8::5'],
      want: ['192.0.2.5'],
    },
  ],
);

runTable(
  'sharing by key, ports, traffic policy and selector',
  pools({ test: { addresses: ['192.0.2.0/29'] } }),
  [
    {
      desc: 's1 with key k on 80/TCP takes .1',
      op: 'assign',
      svc: 's1',
      spec: { shareKey: 'k' },
      ips: ['192.0.2.1'],
    },
    {
      desc: "s2 with key k can't use 80/TCP on the same IP, naming s1",
      op: 'assign',
      svc: 's2',
      spec: { shareKey: 'k', ports: [80] },
      ips: ['192.0.2.1'],
      wantErr: 'alloc.port-conflict',
      wantMsg: /default\/s1/,
    },
    {
      desc: 's2 with key k shares .1 on 80/UDP: another protocol is another port',
      op: 'assign',
      svc: 's2',
      spec: { shareKey: 'k', ports: [[80, 'UDP']] },
      ips: ['192.0.2.1'],
      on: { '192.0.2.1': ['default/s1', 'default/s2'] },
    },
    {
      desc: "s3 with another key can't share",
      op: 'assign',
      svc: 's3',
      spec: { shareKey: 'other', ports: [443] },
      ips: ['192.0.2.1'],
      wantErr: 'alloc.ip-in-use',
    },
    {
      desc: "s3 without a key can't share",
      op: 'assign',
      svc: 's3',
      spec: { ports: [443] },
      ips: ['192.0.2.1'],
      wantErr: 'alloc.ip-in-use',
    },
    {
      desc: "s4 with key k but externalTrafficPolicy Local can't share with Cluster Services",
      op: 'assign',
      svc: 's4',
      spec: { shareKey: 'k', ports: [443], etp: 'Local', selector: { app: 'a' } },
      ips: ['192.0.2.1'],
      wantErr: 'alloc.sharing-policy-mismatch',
    },
    {
      desc: "s1 can't change its key while s2 shares its IP",
      op: 'assign',
      svc: 's1',
      spec: { shareKey: 'new' },
      ips: ['192.0.2.1'],
      wantErr: 'alloc.ip-in-use',
      wantMsg: /default\/s2/,
    },
    { desc: 'unassign s2', op: 'unassign', svc: 's2', on: { '192.0.2.1': ['default/s1'] } },
    {
      desc: 's1, alone on its IP, may change its key',
      op: 'assign',
      svc: 's1',
      spec: { shareKey: 'new' },
      ips: ['192.0.2.1'],
    },
    {
      desc: "s2 with the old key can't join s1 any more",
      op: 'assign',
      svc: 's2',
      spec: { shareKey: 'k', ports: [[80, 'UDP']] },
      ips: ['192.0.2.1'],
      wantErr: 'alloc.ip-in-use',
    },
    {
      desc: 'l1 Local app=a with key L takes .2',
      op: 'assign',
      svc: 'l1',
      spec: { shareKey: 'L', etp: 'Local', selector: { app: 'a', tier: 'x' } },
      ips: ['192.0.2.2'],
    },
    {
      desc: 'l2 Local with the same selector (keys in another order) shares .2',
      op: 'assign',
      svc: 'l2',
      spec: { shareKey: 'L', etp: 'Local', selector: { tier: 'x', app: 'a' }, ports: [81] },
      ips: ['192.0.2.2'],
      on: { '192.0.2.2': ['default/l1', 'default/l2'] },
    },
    {
      desc: "l3 Local with another selector can't share",
      op: 'assign',
      svc: 'l3',
      spec: { shareKey: 'L', etp: 'Local', selector: { app: 'b' }, ports: [82] },
      ips: ['192.0.2.2'],
      wantErr: 'alloc.sharing-policy-mismatch',
    },
    {
      desc: 'automatic allocation with key L joins the shared IP before a free one',
      op: 'allocate',
      svc: 'l4',
      spec: { shareKey: 'L', etp: 'Local', selector: { app: 'a', tier: 'x' }, ports: [83] },
      want: ['192.0.2.2'],
    },
    {
      desc: 'automatic allocation with key L but a clashing port takes the lowest free IP instead',
      op: 'allocate',
      svc: 'l5',
      spec: { shareKey: 'L', etp: 'Local', selector: { app: 'a', tier: 'x' }, ports: [80] },
      want: ['192.0.2.0'],
    },
  ],
);

const choice = pools({
  default: { addresses: ['192.0.2.0/30'] },
  manual: { addresses: ['198.51.100.0/30'], autoAssign: false },
  'team-a': { addresses: ['203.0.113.0/30'], serviceAllocation: { priority: 10, namespaces: ['team-a'] } },
  'team-a-first': {
    addresses: ['203.0.113.8/30'],
    serviceAllocation: { priority: 5, namespaces: ['team-a'] },
  },
  databases: {
    addresses: ['203.0.113.16/30'],
    serviceAllocation: { serviceSelectors: [{ matchLabels: { app: 'db' } }] },
  },
  prod: {
    addresses: ['203.0.113.24/30'],
    serviceAllocation: {
      namespaceSelectors: [{ matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] }],
    },
  },
});

runTable('order of choice, namespaces and selectors, priorities, autoAssign', choice, [
  {
    desc: 'a plain Service gets the lowest address of the default pool',
    op: 'allocate',
    svc: 's1',
    want: ['192.0.2.0'],
  },
  {
    desc: 'a team-a Service gets the pinned pool with the best priority',
    op: 'allocate',
    svc: 'team-a/s1',
    want: ['203.0.113.8'],
  },
  {
    desc: 'a Service naming the autoAssign: false pool gets it',
    op: 'allocate',
    svc: 's2',
    spec: { pool: 'manual' },
    want: ['198.51.100.0'],
  },
  {
    desc: 'a Service with app=db gets the pool selecting it',
    op: 'allocate',
    svc: 'db',
    spec: { labels: { app: 'db' } },
    want: ['203.0.113.16'],
  },
  {
    desc: 'a Service in an env=prod namespace gets the pool selecting it',
    op: 'allocate',
    svc: 'shop/web',
    ns: { env: 'prod' },
    want: ['203.0.113.24'],
  },
  {
    desc: "a default Service can't ask for a team-a IP",
    op: 'assign',
    svc: 's3',
    ips: ['203.0.113.1'],
    wantErr: 'alloc.pool-not-allowed',
    wantMsg: /namespace default/,
  },
  {
    desc: "a default Service can't name the team-a pool",
    op: 'allocate',
    svc: 's3',
    spec: { pool: 'team-a' },
    wantErr: 'alloc.pool-not-allowed',
  },
  {
    desc: "a Service without app=db can't ask for a databases IP",
    op: 'allocate',
    svc: 's3',
    spec: { ips: '203.0.113.17' },
    wantErr: 'alloc.pool-not-allowed',
  },
  {
    desc: 'naming a pool that does not exist fails',
    op: 'allocate',
    svc: 's3',
    spec: { pool: 'nope' },
    wantErr: 'alloc.unknown-pool',
  },
  {
    desc: 'an explicit request may use the autoAssign: false pool',
    op: 'allocate',
    svc: 's4',
    spec: { ips: '198.51.100.3' },
    want: ['198.51.100.3'],
  },
  {
    desc: 'a requested IP outside the named pool fails',
    op: 'allocate',
    svc: 's5',
    spec: { ips: '192.0.2.2', pool: 'manual' },
    wantErr: 'alloc.ip-not-in-named-pool',
  },
  {
    desc: 'an already allocated Service keeps its IP (idempotent allocate)',
    op: 'allocate',
    svc: 's1',
    want: ['192.0.2.0'],
  },
]);

runTable(
  'exhaustion, release and reuse; avoidBuggyIPs',
  pools({
    small: { addresses: ['192.0.2.0/31'] },
    buggy: { addresses: ['192.0.3.254-192.0.4.1'], avoidBuggyIPs: true, autoAssign: false },
  }),
  [
    { desc: 's1 gets .0', op: 'allocate', svc: 's1', want: ['192.0.2.0'] },
    { desc: 's2 gets .1', op: 'allocate', svc: 's2', want: ['192.0.2.1'] },
    {
      desc: 's3 finds the pool exhausted',
      op: 'allocate',
      svc: 's3',
      wantErr: 'alloc.no-free-ip',
      wantMsg: /small/,
    },
    { desc: 'unassign s1', op: 'unassign', svc: 's1' },
    { desc: 's3 reuses the freed .0', op: 'allocate', svc: 's3', want: ['192.0.2.0'] },
    {
      desc: 'b1 in the buggy pool skips nothing at .254',
      op: 'allocate',
      svc: 'b1',
      spec: { pool: 'buggy' },
      want: ['192.0.3.254'],
    },
    {
      desc: 'b2 skips .255 and .0 and gets 192.0.4.1',
      op: 'allocate',
      svc: 'b2',
      spec: { pool: 'buggy' },
      want: ['192.0.4.1'],
    },
    {
      desc: 'b3 finds only buggy addresses left',
      op: 'allocate',
      svc: 'b3',
      spec: { pool: 'buggy' },
      wantErr: 'alloc.no-free-ip',
    },
    {
      desc: 'b3 cannot ask for 192.0.3.255 either',
      op: 'allocate',
      svc: 'b3',
      spec: { ips: '192.0.3.255' },
      wantErr: 'alloc.buggy-ip',
    },
  ],
);

const dual = pools({
  a4: { addresses: ['192.0.2.0/30'], serviceAllocation: { priority: 1 } },
  b46: { addresses: ['192.0.2.8/30', '2001:db8::/126'], serviceAllocation: { priority: 2 } },
  c6: { addresses: ['2001:db8:1::/126'], serviceAllocation: { priority: 3 } },
});

runTable('dual-stack in all three policies', dual, [
  { desc: 'SingleStack IPv4 takes the best-priority pool', op: 'allocate', svc: 's4', want: ['192.0.2.0'] },
  {
    desc: 'SingleStack IPv6 skips the IPv4-only pool',
    op: 'allocate',
    svc: 's6',
    spec: { families: ['IPv6'] },
    want: ['2001:db8::'],
  },
  {
    desc: 'RequireDualStack takes both families from one pool',
    op: 'allocate',
    svc: 'r1',
    spec: { policy: 'RequireDualStack', families: ['IPv4', 'IPv6'] },
    want: ['192.0.2.8', '2001:db8::1'],
  },
  {
    desc: 'PreferDualStack with IPv6 first lists IPv6 first',
    op: 'allocate',
    svc: 'p1',
    spec: { policy: 'PreferDualStack', families: ['IPv6', 'IPv4'] },
    want: ['2001:db8::2', '192.0.2.9'],
  },
  { desc: 'fill b46 IPv4: one', op: 'assign', svc: 'f1', ips: ['192.0.2.10'] },
  { desc: 'fill b46 IPv4: two', op: 'assign', svc: 'f2', ips: ['192.0.2.11'] },
  {
    desc: 'RequireDualStack fails when no pool has both families free',
    op: 'allocate',
    svc: 'r2',
    spec: { policy: 'RequireDualStack', families: ['IPv4', 'IPv6'] },
    wantErr: 'alloc.no-free-ip',
  },
  {
    desc: 'PreferDualStack falls back to its first family',
    op: 'allocate',
    svc: 'p2',
    spec: { policy: 'PreferDualStack', families: ['IPv4', 'IPv6'] },
    want: ['192.0.2.1'],
  },
  {
    desc: 'a RequireDualStack request must name both families',
    op: 'assign',
    svc: 'r3',
    spec: { policy: 'RequireDualStack', families: ['IPv4', 'IPv6'] },
    ips: ['192.0.2.2', '2001:db8:1::1'],
    want: ['192.0.2.2', '2001:db8:1::1'],
  },
]);

runTable(
  'pool changes: growth, rename, split, shrink, avoidBuggyIPs, restriction',
  pools({ p: { addresses: ['192.0.2.0/29'] } }),
  [
    { desc: 's1 gets .0', op: 'allocate', svc: 's1', want: ['192.0.2.0'] },
    { desc: 's2 gets .1', op: 'allocate', svc: 's2', want: ['192.0.2.1'] },
    { desc: 's6 asks for .6', op: 'assign', svc: 's6', ips: ['192.0.2.6'] },
    {
      desc: 'growing the pool moves nothing',
      op: 'setPools',
      pools: pools({ p: { addresses: ['192.0.2.0/28'] } }),
      wantLost: [],
    },
    {
      desc: 'renaming and splitting the pool moves nothing',
      op: 'setPools',
      pools: pools({ low: { addresses: ['192.0.2.0/30'] }, high: { addresses: ['192.0.2.4/30'] } }),
      wantLost: [],
    },
    { desc: 's6 still holds .6, now in pool high', op: 'allocate', svc: 's6', want: ['192.0.2.6'] },
    {
      desc: 'turning on avoidBuggyIPs releases only the .0 holder',
      op: 'setPools',
      pools: pools({
        low: { addresses: ['192.0.2.0/30'], avoidBuggyIPs: true },
        high: { addresses: ['192.0.2.4/30'] },
      }),
      wantLost: ['default/s1'],
    },
    {
      desc: 'shrinking the pools releases only the Services outside',
      op: 'setPools',
      pools: pools({ low: { addresses: ['192.0.2.0/30'], avoidBuggyIPs: true } }),
      wantLost: ['default/s6'],
    },
    { desc: 's2 still holds .1', op: 'allocate', svc: 's2', want: ['192.0.2.1'] },
    {
      desc: 'restricting the pool to another namespace releases its holders',
      op: 'setPools',
      pools: pools({ low: { addresses: ['192.0.2.0/30'], serviceAllocation: { namespaces: ['other'] } } }),
      wantLost: ['default/s2'],
    },
  ],
);

describe('pool status counts', () => {
  it('counts distinct IPs: a shared IP counts once, and buggy addresses are not available', () => {
    const a = new Allocator(
      pools({ p: { addresses: ['192.0.2.0/24', '2001:db8::/64'], avoidBuggyIPs: true } }),
    );
    assert.ok(a.allocate(request('s1', { shareKey: 'k', ports: [80] })).ok);
    assert.ok(a.allocate(request('s2', { shareKey: 'k', ports: [443] })).ok);
    assert.ok(a.allocate(request('s3', { families: ['IPv6'] })).ok);
    assert.deepEqual(a.counts(), [
      { name: 'p', assignedIPv4: 1n, availableIPv4: 253n, assignedIPv6: 1n, availableIPv6: (1n << 64n) - 1n },
    ]);
  });
});
