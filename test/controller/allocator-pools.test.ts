/**
 * Allocator scenario tables about pools: exhaustion and reuse, avoidBuggyIPs, dual-stack, pool
 * changes, and the status counts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Allocator } from '../../controller/allocate/allocator.ts';
import { pools, request } from './objects.ts';
import { runTable } from './scenario-table.ts';

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
