/**
 * allocateAll through the life of a cluster: each table is a sequence of changes (pools edited,
 * Services added or deleted) and after each the controller "writes" the plan's IPs into the Services'
 * status, as it will for real, so the next step starts from that state.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import {
  type AllocationPlan,
  allocateAll,
  renderPlan,
} from '../../controller/allocate/reconcile-allocations.ts';
import { parsePools } from '../../controller/pools/parse.ts';
import { namespace, type PoolSpec, poolObject, type ServiceSpec, service } from './objects.ts';

interface Step {
  desc: string;
  pools?: Record<string, PoolSpec>;
  /** Services to add or replace (their status carries over unless `status` is given). */
  set?: Record<string, ServiceSpec>;
  remove?: string[];
  /** key -> IPs it must hold, or an `alloc.*`/`service.*` error code it must fail with. */
  want: Record<string, string[] | string>;
  /** key -> pool it must be reported in. */
  wantPool?: Record<string, string>;
  /** Services that must not be `changed` (their status stays as it is). */
  unchanged?: string[];
}

function keyOf(k: string): string {
  return k.includes('/') ? k : `default/${k}`;
}

function runHistory(name: string, steps: Step[]): void {
  describe(name, () => {
    let poolSpecs: Record<string, PoolSpec> = {};
    const specs = new Map<string, ServiceSpec>();
    let created = 0;
    let last: AllocationPlan | undefined;
    for (const step of steps) {
      it(step.desc, { timeout: 5000 }, () => {
        if (step.pools) poolSpecs = step.pools;
        for (const k of step.remove ?? []) specs.delete(keyOf(k));
        for (const [k, s] of Object.entries(step.set ?? {})) {
          const prev = specs.get(keyOf(k));
          // Services are created one second apart, in the order the steps list them.
          created++;
          specs.set(keyOf(k), {
            status: prev?.status,
            created: prev?.created ?? new Date(Date.UTC(2024, 0, 1, 0, 0, created)).toISOString(),
            ...s,
          });
        }
        const parsed = parsePools(Object.entries(poolSpecs).map(([n, p]) => poolObject(n, p)));
        assert.deepEqual(parsed.problems, []);
        const plan = allocateAll({
          pools: parsed.pools,
          services: [...specs.entries()].map(([k, s]) => service(k, s)),
          namespaces: [namespace('default')],
          ...(last ? { previous: last } : {}),
        });
        last = plan;
        const got = new Map(plan.services.map((o) => [`${o.namespace}/${o.name}`, o]));
        for (const [k, want] of Object.entries(step.want)) {
          const o = got.get(keyOf(k));
          assert.ok(o, `no outcome for ${k}`);
          if (typeof want === 'string') {
            assert.deepEqual(o.ips, [], `${k} must get no IP`);
            assert.equal(o.errors[0]?.code, want, o.errors[0]?.message);
          } else {
            assert.deepEqual(o.errors, [], `${k}: ${o.errors.map((e) => e.message).join('; ')}`);
            assert.deepEqual(o.ips, want, `IPs of ${k}`);
          }
        }
        for (const [k, pool] of Object.entries(step.wantPool ?? {}))
          assert.equal(got.get(keyOf(k))?.pool, pool);
        for (const k of step.unchanged ?? []) {
          const o = got.get(keyOf(k));
          assert.equal(o?.changed, false, `${k} must keep its status`);
          assert.deepEqual(o?.events, [], `${k} must get no event`);
        }
        // The controller writes status; the next step starts from it.
        for (const o of plan.services) {
          const s = specs.get(`${o.namespace}/${o.name}`);
          if (s) specs.set(`${o.namespace}/${o.name}`, { ...s, status: [...o.ips] });
        }
      });
    }
  });
}

runHistory('stability: holders keep their IPs through pool growth, rename, split, shrink and avoidBuggyIPs', [
  {
    desc: 'cold start: oldest Service first, lowest address first',
    pools: { p: { addresses: ['192.0.2.0/30'] } },
    set: { s1: {}, s2: {}, s3: {} },
    want: { s1: ['192.0.2.0'], s2: ['192.0.2.1'], s3: ['192.0.2.2'] },
  },
  {
    desc: 'a second pass changes nothing and records no event',
    want: { s1: ['192.0.2.0'] },
    unchanged: ['s1', 's2', 's3'],
  },
  {
    desc: 'deleting s1 frees .0 and a new Service takes it; s2 and s3 stay',
    remove: ['s1'],
    set: { s4: {} },
    want: { s2: ['192.0.2.1'], s3: ['192.0.2.2'], s4: ['192.0.2.0'] },
    unchanged: ['s2', 's3'],
  },
  {
    desc: 'growing the pool moves nothing',
    pools: { p: { addresses: ['192.0.2.0/29'] } },
    want: { s4: ['192.0.2.0'] },
    unchanged: ['s2', 's3', 's4'],
  },
  {
    desc: 'renaming the pool moves nothing; the pool name follows',
    pools: { q: { addresses: ['192.0.2.0/29'] } },
    want: { s2: ['192.0.2.1'] },
    wantPool: { s2: 'q' },
    unchanged: ['s2', 's3', 's4'],
  },
  {
    desc: 'splitting the pool moves nothing',
    pools: { q1: { addresses: ['192.0.2.0/30'] }, q2: { addresses: ['192.0.2.4-192.0.2.7'] } },
    set: { s5: { ips: '192.0.2.5' } },
    want: { s2: ['192.0.2.1'], s5: ['192.0.2.5'] },
    wantPool: { s2: 'q1', s5: 'q2' },
    unchanged: ['s2', 's3', 's4'],
  },
  {
    desc: 'turning on avoidBuggyIPs re-allocates only the Service on .0',
    pools: {
      q1: { addresses: ['192.0.2.0/30'], avoidBuggyIPs: true },
      q2: { addresses: ['192.0.2.4-192.0.2.7'] },
    },
    want: { s4: ['192.0.2.3'] },
    unchanged: ['s2', 's3', 's5'],
  },
  {
    desc: 'shrinking q2 re-allocates only the Service whose IP left it; its request now fails',
    pools: { q1: { addresses: ['192.0.2.0/30'], avoidBuggyIPs: true }, q2: { addresses: ['192.0.2.6/31'] } },
    want: { s5: 'alloc.ip-not-in-pool' },
    unchanged: ['s2', 's3', 's4'],
  },
  {
    desc: 's5 drops its request and gets the lowest free address',
    set: { s5: {} },
    want: { s5: ['192.0.2.6'] },
    unchanged: ['s2', 's3', 's4'],
  },
]);

runHistory('exhaustion, release and reuse; who goes first', [
  {
    desc: 'two Services fill a two-address pool; the third waits with a reason',
    pools: { p: { addresses: ['192.0.2.0/31'] } },
    set: { s1: {}, s2: {}, s3: {} },
    want: { s1: ['192.0.2.0'], s2: ['192.0.2.1'], s3: 'alloc.no-free-ip' },
  },
  {
    desc: 'deleting a Service gives its IP to the pending one',
    remove: ['s1'],
    want: { s3: ['192.0.2.0'], s2: ['192.0.2.1'] },
  },
  {
    desc: 'a new Service asking for a held IP fails, naming the holder, and the holder keeps it',
    set: { s4: { ips: '192.0.2.1' } },
    want: { s4: 'alloc.ip-in-use', s2: ['192.0.2.1'] },
  },
  {
    desc: 'with both addresses free, an explicit request is served before an older automatic Service',
    remove: ['s2', 's3', 's4'],
    set: { auto: {}, asks: { ips: '192.0.2.0' } },
    want: { asks: ['192.0.2.0'], auto: ['192.0.2.1'] },
  },
]);

runHistory('dual-stack through allocateAll', [
  {
    desc: 'SingleStack, PreferDualStack and RequireDualStack get one, two and two families',
    pools: { d: { addresses: ['192.0.2.0/30', '2001:db8::/126'] } },
    set: {
      single6: { families: ['IPv6'] },
      prefer: { policy: 'PreferDualStack', families: ['IPv4', 'IPv6'] },
      require: { policy: 'RequireDualStack', families: ['IPv6', 'IPv4'] },
    },
    want: {
      single6: ['2001:db8::'],
      prefer: ['192.0.2.0', '2001:db8::1'],
      require: ['2001:db8::2', '192.0.2.1'],
    },
  },
  {
    desc: 'moving to SingleStack keeps the primary family IP and frees the other',
    set: { prefer: { policy: 'SingleStack', families: ['IPv4'] } },
    want: { prefer: ['192.0.2.0'], require: ['2001:db8::2', '192.0.2.1'] },
  },
  {
    desc: 'back to PreferDualStack: the IPv4 IP stays and an IPv6 one is added',
    set: { prefer: { policy: 'PreferDualStack', families: ['IPv4', 'IPv6'] } },
    want: { prefer: ['192.0.2.0', '2001:db8::1'] },
  },
]);

function plan(services: V1Service[], pools: Record<string, PoolSpec>, previous?: AllocationPlan) {
  const parsed = parsePools(Object.entries(pools).map(([n, p]) => poolObject(n, p)));
  return allocateAll({ pools: parsed.pools, services, ...(previous ? { previous } : {}) });
}

describe('allocateAll', () => {
  const p = { p: { addresses: ['192.0.2.0/30'] } };

  it('of two Services whose status claims one IP, the older keeps it and the newer moves', () => {
    const r = plan(
      [
        service('newer', { status: ['192.0.2.0'], created: '2024-02-01T00:00:00Z' }),
        service('older', { status: ['192.0.2.0'], created: '2024-01-01T00:00:00Z' }),
      ],
      p,
    );
    assert.deepEqual(
      r.services.map((s) => [s.name, s.ips]),
      [
        ['newer', ['192.0.2.1']],
        ['older', ['192.0.2.0']],
      ],
    );
    assert.match(r.services[0]!.events[0]!.message, /Assigned 192\.0\.2\.1 .*\(was 192\.0\.2\.0\)/);
  });

  it('gives a request the IP of a holder that moves later in the same pass, not one pass later', () => {
    const r = plan(
      [
        service('asks', { ips: '192.0.2.10' }),
        service('dual', { policy: 'RequireDualStack', families: ['IPv4', 'IPv6'], status: ['192.0.2.10'] }),
      ],
      {
        v4only: { addresses: ['192.0.2.8/30'], serviceAllocation: { priority: 1 } },
        both: { addresses: ['192.0.2.0/30', '2001:db8::/126'] },
      },
    );
    assert.deepEqual(
      r.services.map((s) => [s.name, s.ips, s.errors.length]),
      [
        ['asks', ['192.0.2.10'], 0],
        ['dual', ['192.0.2.0', '2001:db8::'], 0],
      ],
    );
  });

  it('completes a PreferDualStack Service with an address that a failing holder frees later in the pass', () => {
    const r = plan(
      [
        service('prefer', {
          policy: 'PreferDualStack',
          families: ['IPv4', 'IPv6'],
          created: '2024-01-01T00:00:00Z',
        }),
        service('require', {
          policy: 'RequireDualStack',
          families: ['IPv4', 'IPv6'],
          status: ['2001:db8::'],
          created: '2024-01-02T00:00:00Z',
        }),
      ],
      { one: { addresses: ['192.0.2.0/32', '2001:db8::/128'] } },
    );
    assert.deepEqual(
      r.services.map((s) => [s.name, s.ips, s.errors[0]?.code]),
      [
        ['prefer', ['192.0.2.0', '2001:db8::'], undefined],
        ['require', [], 'alloc.no-free-ip'],
      ],
    );
  });

  it('releases the IPs of a Service that stopped being a LoadBalancer and leaves other classes alone', () => {
    const r = plan(
      [
        service('np', { type: 'NodePort', status: ['192.0.2.0'] }),
        service('cls', { lbClass: 'x/y', status: ['192.0.2.3'] }),
      ],
      p,
    );
    assert.deepEqual(
      r.services.map((s) => [s.name, s.ips, s.changed, s.events[0]?.reason]),
      [['np', [], true, 'ClearAssignment']],
    );
  });

  it('gives an invalid Service no IP and an AllocationFailed event with the reason', () => {
    const r = plan(
      [service('bad', { ips: '192.0.2.1', loadBalancerIP: '192.0.2.1', status: ['192.0.2.1'] })],
      p,
    );
    const o = r.services[0]!;
    assert.deepEqual(o.ips, []);
    assert.equal(o.errors[0]?.code, 'service.conflicting-ip-request');
    assert.deepEqual(
      o.events.map((e) => e.reason),
      ['ClearAssignment', 'AllocationFailed'],
    );
  });

  it('treats the previous plan as held while status is empty, for the same object only', () => {
    const first = plan([service('a', { uid: 'u1' }), service('b', { uid: 'u2' })], p);
    assert.deepEqual(
      first.services.map((s) => s.ips),
      [['192.0.2.0'], ['192.0.2.1']],
    );
    const again = plan([service('b', { uid: 'u2' })], p, first);
    assert.deepEqual(again.services[0]!.ips, ['192.0.2.1']);
    const recreated = plan([service('b', { uid: 'u3' })], p, first);
    assert.deepEqual(recreated.services[0]!.ips, ['192.0.2.0']);
  });

  it('does not repeat failure and warning events that the previous plan already recorded', () => {
    const svcs = [service('a', { pool: 'nope', annotations: { 'metallb.io/allow-shared-ip': 'k' } })];
    const first = plan(svcs, p);
    assert.deepEqual(
      first.services[0]!.events.map((e) => e.reason),
      ['AllocationFailed', 'DeprecatedAnnotation'],
    );
    const second = plan(svcs, p, first);
    assert.deepEqual(second.services[0]!.events, []);
    assert.equal(second.services[0]!.errors[0]?.code, 'alloc.unknown-pool');
  });

  it('renders the plan in the shape switchyard plan prints, with saturated IPv6 counts', () => {
    const r = plan([service('web', { policy: 'RequireDualStack' }), service('bad', { pool: 'nope' })], {
      p: { addresses: ['192.0.2.0/30', '2001:db8::/64'] },
    });
    assert.deepEqual(renderPlan(r), {
      services: [
        {
          namespace: 'default',
          name: 'bad',
          ips: [],
          pool: null,
          error:
            'the address-pool annotation names IPAddressPool nope, which does not exist (or was refused)',
        },
        { namespace: 'default', name: 'web', ips: ['192.0.2.0', '2001:db8::'], pool: 'p', error: null },
      ],
      pools: [
        {
          name: 'p',
          assignedIPv4: 1,
          availableIPv4: 3,
          assignedIPv6: 1,
          availableIPv6: Number.MAX_SAFE_INTEGER,
        },
      ],
    });
    assert.equal(r.counts[0]?.availableIPv6, (1n << 64n) - 1n);
  });

  it('gives the same plan whatever the order of its input, and mutates nothing', () => {
    const svcs = [
      service('a', { shareKey: 'k', created: '2024-01-03T00:00:00Z' }),
      service('b', { shareKey: 'k', ports: [443], created: '2024-01-02T00:00:00Z' }),
      service('c', { status: ['192.0.2.3'], created: '2024-01-01T00:00:00Z' }),
      service('d', { ips: '192.0.2.2' }),
    ];
    const copy = structuredClone(svcs);
    const forward = plan(svcs, p);
    const backward = plan([...svcs].reverse(), p);
    assert.deepEqual(svcs, copy);
    assert.deepEqual(forward, backward);
    assert.deepEqual(
      forward.services.map((s) => s.ips),
      [['192.0.2.0'], ['192.0.2.0'], ['192.0.2.3'], ['192.0.2.2']],
    );
  });
});
