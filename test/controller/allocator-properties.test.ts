/**
 * Seeded property tests: under random sequences of operations and random clusters, no IP is ever held
 * by two Services that may not share it, no Service holds an IP its pool rules forbid, the counts add
 * up, and allocateAll is a fixed point once its answer is written back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Allocator } from '../../controller/allocate/allocator.ts';
import { allocateAll } from '../../controller/allocate/reconcile-allocations.ts';
import type { Pool } from '../../controller/pools/pool.ts';
import { parseIp } from '../../shared/ip.ts';
import { namespace, type PoolSpec, pools, request, type ServiceSpec, service } from './objects.ts';

const POOL_VERSIONS: Record<string, PoolSpec>[] = [
  {
    a: { addresses: ['192.0.2.0/29', '2001:db8::/125'] },
    b: { addresses: ['192.0.2.8/30'], serviceAllocation: { priority: 1, namespaces: ['ns1'] } },
    c: { addresses: ['192.0.2.16/30'], autoAssign: false, avoidBuggyIPs: true },
  },
  {
    a: { addresses: ['192.0.2.0/30', '2001:db8::/126'], avoidBuggyIPs: true },
    b: { addresses: ['192.0.2.8/29'], serviceAllocation: { namespaces: ['ns2'] } },
  },
  {
    renamed: {
      addresses: ['192.0.2.0/28'],
      serviceAllocation: { serviceSelectors: [{ matchLabels: { app: 'x' } }] },
    },
    v6: { addresses: ['2001:db8::/124'] },
  },
];
const POOLS: Pool[][] = POOL_VERSIONS.map((v) => pools(v));
// Addresses inside and outside every pool version, including .0/.255-style edges and IPv6.
const UNIVERSE = [
  ...Array.from({ length: 20 }, (_, i) => `192.0.2.${i}`),
  '198.51.100.1',
  ...Array.from({ length: 6 }, (_, i) => `2001:db8::${i}`),
];
const NS_LABELS: Record<string, Record<string, string>> = { ns1: { env: 'prod' }, ns2: {} };

const specArb: fc.Arbitrary<ServiceSpec & { ns: string }> = fc.record({
  ns: fc.constantFrom('ns1', 'ns2'),
  shareKey: fc.option(fc.constantFrom('k', 'j'), { nil: undefined }),
  ports: fc.subarray([80, 443, [80, 'UDP'] as [number, string]], { minLength: 1 }),
  etp: fc.constantFrom('Cluster' as const, 'Local' as const),
  selector: fc.constantFrom({ app: 'x' }, { app: 'y' }),
  labels: fc.constantFrom<Record<string, string>>({ app: 'x' }, {}),
  policy: fc.constantFrom('SingleStack' as const, 'PreferDualStack' as const, 'RequireDualStack' as const),
  families: fc.constantFrom(['IPv4' as const, 'IPv6' as const], ['IPv6' as const, 'IPv4' as const]),
  pool: fc.option(fc.constantFrom('a', 'c', 'renamed'), { nil: undefined }),
});

type Op =
  | { op: 'allocate'; svc: number; spec: ServiceSpec & { ns: string } }
  | { op: 'assign'; svc: number; spec: ServiceSpec & { ns: string }; ips: string[] }
  | { op: 'unassign'; svc: number }
  | { op: 'release'; svc: number; ip: string }
  | { op: 'setPools'; version: number };

const svcArb = fc.integer({ min: 0, max: 7 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('allocate' as const), svc: svcArb, spec: specArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('assign' as const),
      svc: svcArb,
      spec: specArb,
      ips: fc.subarray(UNIVERSE, { minLength: 1, maxLength: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('unassign' as const), svc: svcArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('release' as const),
      svc: svcArb,
      ip: fc.constantFrom(...UNIVERSE),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('setPools' as const), version: fc.integer({ min: 0, max: 2 }) }),
  },
);

/** Check every invariant of the allocator's state from the outside. */
function checkInvariants(a: Allocator): void {
  const byIp = new Map<
    string,
    { key: string; sharingKey: string | null; backendKey: string; ports: string[] }[]
  >();
  const distinct = new Map<string, Set<string>>();
  for (const h of a.allHoldings()) {
    h.ips.forEach((ip, i) => {
      assert.equal(
        a.placementProblem(h.request, ip),
        null,
        `${h.request.key} holds ${ip.text} against its pool rules`,
      );
      assert.equal(h.pools[i], a.poolOf(ip));
      const list = byIp.get(ip.text) ?? [];
      list.push({
        key: h.request.key,
        sharingKey: h.request.sharingKey,
        backendKey: h.request.backendKey,
        ports: h.request.ports.map((p) => `${p.port}/${p.protocol}`),
      });
      byIp.set(ip.text, list);
      const set = distinct.get(`${h.pools[i]}/${ip.family}`) ?? new Set();
      set.add(ip.text);
      distinct.set(`${h.pools[i]}/${ip.family}`, set);
    });
  }
  for (const [ip, holders] of byIp) {
    assert.deepEqual(a.servicesOn(parseIp(ip)!).sort(), holders.map((h) => h.key).sort());
    for (let i = 0; i < holders.length; i++) {
      for (let j = i + 1; j < holders.length; j++) {
        const x = holders[i]!;
        const y = holders[j]!;
        assert.ok(
          x.sharingKey !== null && x.sharingKey === y.sharingKey,
          `${x.key} and ${y.key} share ${ip} without one key`,
        );
        assert.equal(x.backendKey, y.backendKey, `${x.key} and ${y.key} share ${ip} with other backends`);
        assert.ok(!x.ports.some((p) => y.ports.includes(p)), `${x.key} and ${y.key} share a port on ${ip}`);
      }
    }
  }
  for (const c of a.counts()) {
    assert.equal(c.assignedIPv4, BigInt(distinct.get(`${c.name}/4`)?.size ?? 0));
    assert.equal(c.assignedIPv6, BigInt(distinct.get(`${c.name}/6`)?.size ?? 0));
    assert.ok(c.availableIPv4 >= 0n && c.availableIPv6 >= 0n);
  }
}

describe('allocator properties (seeded)', () => {
  it('no IP is ever held by two Services that may not share it, under random operation sequences', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
        const a = new Allocator(POOLS[0]);
        for (const op of ops) {
          const key = (svc: number) => `ns${(svc % 2) + 1}/s${svc}`;
          switch (op.op) {
            case 'allocate':
            case 'assign': {
              const k = `${op.spec.ns}/s${op.svc}`;
              const req = request(k, op.spec, NS_LABELS[op.spec.ns]);
              const before = a.holding(k)?.ips.map((i) => i.text);
              const r =
                op.op === 'allocate'
                  ? a.allocate(req)
                  : a.assign(
                      req,
                      op.ips.map((t) => parseIp(t)!),
                    );
              if (!r.ok)
                assert.deepEqual(
                  a.holding(k)?.ips.map((i) => i.text),
                  before,
                  'a failure changes nothing',
                );
              break;
            }
            case 'unassign':
              a.unassign(key(op.svc));
              break;
            case 'release':
              a.release(key(op.svc), parseIp(op.ip)!);
              break;
            case 'setPools':
              a.setPools(POOLS[op.version] ?? []);
              break;
          }
          checkInvariants(a);
        }
      }),
      { seed: 424242, numRuns: 150 },
    );
  });

  it('allocateAll obeys the same rules on random clusters and is a fixed point once status is written', () => {
    const clusterArb = fc.record({
      version: fc.integer({ min: 0, max: 2 }),
      services: fc.array(
        fc.record({
          spec: specArb,
          status: fc.subarray(UNIVERSE, { maxLength: 2 }),
          created: fc.integer({ min: 0, max: 5 }),
          request: fc.option(fc.constantFrom(...UNIVERSE), { nil: undefined }),
        }),
        { maxLength: 14 },
      ),
    });
    fc.assert(
      fc.property(clusterArb, ({ version, services }) => {
        const namespaces = [namespace('ns1', NS_LABELS['ns1']), namespace('ns2')];
        const svcs = services.map((s, i) =>
          service(`${s.spec.ns}/s${i}`, {
            ...s.spec,
            ...(s.request ? { ips: s.request } : {}),
            status: s.status,
            created: new Date(Date.UTC(2024, 0, 1 + s.created)).toISOString(),
          }),
        );
        const poolList = POOLS[version] ?? [];
        const plan = allocateAll({ pools: poolList, services: svcs, namespaces });
        // Re-apply the plan to a fresh allocator: every assignment must pass every rule.
        const a = new Allocator(poolList);
        for (const o of plan.services) {
          if (o.ips.length === 0) continue;
          const i = Number(o.name.slice(1));
          const s = services[i]!;
          const req = request(
            `${o.namespace}/${o.name}`,
            { ...s.spec, ...(s.request ? { ips: s.request } : {}) },
            NS_LABELS[o.namespace],
          );
          const r = a.assign(
            req,
            o.ips.map((t) => parseIp(t)!),
          );
          assert.ok(r.ok, r.ok ? '' : `${o.name}: ${r.problem.message}`);
        }
        checkInvariants(a);
        assert.deepEqual(
          plan.counts.map((c) => [c.assignedIPv4, c.assignedIPv6]),
          a.counts().map((c) => [c.assignedIPv4, c.assignedIPv6]),
        );
        // Written back as status, the plan is stable: nothing changes and no event is recorded.
        const written = svcs.map((svc, i) => {
          const o = plan.services.find((x) => x.name === `s${i}`);
          return { ...svc, status: { loadBalancer: { ingress: (o?.ips ?? []).map((ip) => ({ ip })) } } };
        });
        const again = allocateAll({ pools: poolList, services: written, namespaces, previous: plan });
        for (const o of again.services) {
          assert.equal(o.changed, false, `${o.name} changed on the second pass`);
          assert.deepEqual(o.events, [], `${o.name} got events on the second pass`);
        }
      }),
      { seed: 777, numRuns: 150 },
    );
  });
});
