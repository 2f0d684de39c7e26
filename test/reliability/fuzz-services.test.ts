/**
 * Fuzzing Services as users write them: every IP-allocation and data-plane annotation (ours and the
 * MetalLB spellings) with values that are almost right or anything, odd ports, protocols, families,
 * policies and status. One pass of the allocator (allocateAll) and the table compiler (compileTable)
 * must never throw, must give every Service either its IPs or typed problems, must keep every rule
 * (an IP only from a pool that serves the Service's namespace, an IP shared only under one
 * allow-shared-ip key) and must keep a valid Service beside the garbage reconciling as before.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Node, V1Service } from '@kubernetes/client-node';
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import { allocateAll } from '../../controller/allocate/reconcile-allocations.ts';
import { reconcile } from '../../controller/loop/reconcile.ts';
import { parsePools } from '../../controller/pools/parse.ts';
import { readService } from '../../controller/services/service.ts';
import { parseManifest } from '../../controller/sources/manifest/parse.ts';
import { compileTable } from '../../controller/table/compiler.ts';
import { parseIp } from '../../shared/ip.ts';
import { parseTable } from '../../shared/table-parse.ts';
import { renderListener } from '../../shared/table-render.ts';
import { assertProblem, CASES, fuzzParameters, fuzzSeed } from './fuzz.ts';
import { report, scaled } from './scale.ts';

const seed = fuzzSeed('fuzz-services');

const POOLS = parsePools([
  {
    apiVersion: 'switchyard.io/v1beta1',
    kind: 'IPAddressPool',
    metadata: { name: 'general', creationTimestamp: '2000-01-01T00:00:00Z' },
    spec: { addresses: ['198.51.100.0/29', '2001:db8:1::/125'] },
  },
  {
    apiVersion: 'switchyard.io/v1beta1',
    kind: 'IPAddressPool',
    metadata: { name: 'shop-only', creationTimestamp: '2000-01-01T00:00:00Z' },
    spec: { addresses: ['203.0.113.0/29'], serviceAllocation: { namespaces: ['shop'] } },
  },
]);
assert.deepEqual(POOLS.problems, []);
const SHOP_RANGE = { first: parseIp('203.0.113.0')!.value, last: parseIp('203.0.113.7')!.value };

/** The Service that must reconcile as before whatever else is in the cluster. */
const GOOD: V1Service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    name: 'good',
    namespace: 'default',
    uid: 'good',
    creationTimestamp: new Date('2001-01-01T00:00:00Z'),
  },
  spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, nodePort: 30080, protocol: 'TCP' }] },
  status: { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } },
};

const NODES: V1Node[] = ['n1', 'n2'].map((name, i) => ({
  metadata: { name },
  status: {
    addresses: [{ type: 'InternalIP', address: `10.0.0.${i + 1}` }],
    conditions: [{ type: 'Ready', status: 'True' }],
  },
}));

const someIp = fc.oneof(
  fc.nat(9).map((n) => `198.51.100.${n}`),
  fc.nat(9).map((n) => `203.0.113.${n}`),
  fc.nat(9).map((n) => `2001:db8:1::${n}`),
  fc.ipV4(),
  fc.ipV6(),
  fc.string({ maxLength: 20 }),
);
const ipList = fc
  .tuple(fc.array(someIp, { minLength: 1, maxLength: 3 }), fc.constantFrom(',', ', ', ' ', ';'))
  .map(([ips, sep]) => ips.join(sep));
const PREFIXES = ['switchyard.io/', 'metallb.io/', 'metallb.universe.tf/'];
const annotationValue: Record<string, fc.Arbitrary<string>> = {
  loadBalancerIPs: ipList,
  'address-pool': fc.oneof(
    fc.constantFrom('general', 'shop-only', 'missing', ''),
    fc.string({ maxLength: 12 }),
  ),
  'allow-shared-ip': fc.oneof(fc.constantFrom('k1', 'k2', ''), fc.string({ maxLength: 12 })),
  'ip-allocated-from-pool': fc.string({ maxLength: 12 }),
  'lb-algorithm': fc.oneof(
    fc.constantFrom('round-robin', 'least-connections', 'source-hash'),
    fc.string({ maxLength: 12 }),
  ),
  'proxy-protocol': fc.oneof(fc.constantFrom('v1', 'v2', 'none'), fc.string({ maxLength: 8 })),
  'max-connections': fc.oneof(fc.nat(100_000).map(String), fc.string({ maxLength: 12 })),
  'idle-timeout': fc.oneof(
    fc.constantFrom('30s', '5m', '1ms', '25h', '0s', '99999999999h'),
    fc.string({ maxLength: 8 }),
  ),
  'connect-timeout': fc.oneof(fc.constantFrom('1s', '500ms', '0ms'), fc.string({ maxLength: 8 })),
};
const annotations = fc
  .array(
    fc.oneof(
      fc
        .tuple(fc.constantFrom(...PREFIXES), fc.constantFrom(...Object.keys(annotationValue)))
        .chain(([p, k]) => annotationValue[k]!.map((v) => [`${p}${k}`, v] as const)),
      fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 })),
    ),
    { maxLength: 5 },
  )
  .map((pairs) => Object.fromEntries(pairs));
/**
 * Ports as the API server (or the manifest's structure check) lets them through: integers in range
 * and known protocols, but duplicates, UDP next to TCP, missing NodePorts and so on.
 */
const port = fc.record(
  {
    name: fc.constantFrom('http', 'https', 'dns', ''),
    port: fc.oneof(fc.constantFrom(80, 443, 53, 8080), fc.integer({ min: 1, max: 65535 })),
    protocol: fc.constantFrom('TCP', 'UDP', 'SCTP'),
    nodePort: fc.oneof(fc.integer({ min: 30000, max: 32767 }), fc.constantFrom(0, 1, 65535)),
  },
  { requiredKeys: ['port'] },
);
const dnsLabel = fc.oneof(
  fc.constantFrom('web', 'api', 'db', 'good-2', 'a'),
  fc.stringMatching(/^[a-z]([-a-z0-9]{0,20}[a-z0-9])?$/),
);
/**
 * Services within the structural contract that the API server and the manifest parser enforce
 * (types and enums), with every value that only the controller can judge left free.
 */
const service: fc.Arbitrary<V1Service> = fc
  .record(
    {
      name: dnsLabel,
      namespace: fc.oneof(fc.constantFrom('default', 'shop', 'team-a'), dnsLabel),
      created: fc.date({ min: new Date('2002-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }),
      annotations,
      labels: fc.dictionary(fc.constantFrom('app', 'tier'), fc.constantFrom('x', 'y'), { maxKeys: 2 }),
      type: fc.oneof(
        { arbitrary: fc.constant('LoadBalancer'), weight: 6 },
        fc.constantFrom('ClusterIP', 'NodePort', 'ExternalName'),
      ),
      ports: fc.array(port, { maxLength: 3 }),
      loadBalancerIP: fc.option(someIp, { nil: undefined }),
      loadBalancerClass: fc.option(fc.constantFrom('other', ''), { nil: undefined }),
      ipFamilies: fc.option(
        fc.array(fc.oneof(fc.constantFrom('IPv4', 'IPv6'), fc.string({ maxLength: 6 })), { maxLength: 3 }),
        { nil: undefined },
      ),
      ipFamilyPolicy: fc.option(fc.constantFrom('SingleStack', 'PreferDualStack', 'RequireDualStack'), {
        nil: undefined,
      }),
      externalTrafficPolicy: fc.option(fc.constantFrom('Cluster', 'Local'), { nil: undefined }),
      healthCheckNodePort: fc.option(fc.oneof(fc.integer({ min: 30000, max: 32767 }), fc.constant(0)), {
        nil: undefined,
      }),
      sessionAffinity: fc.option(fc.constantFrom('None', 'ClientIP'), { nil: undefined }),
      loadBalancerSourceRanges: fc.option(
        fc.array(
          fc.oneof(
            fc.constantFrom('10.0.0.0/8', '0.0.0.0/0', '2001:db8::/32', '10.0.0.1/8'),
            fc.string({ maxLength: 12 }),
          ),
          { maxLength: 3 },
        ),
        { nil: undefined },
      ),
      selector: fc.option(fc.dictionary(fc.constantFrom('app'), fc.constantFrom('x', 'y'), { maxKeys: 1 }), {
        nil: undefined,
      }),
      status: fc.option(fc.array(someIp, { maxLength: 2 }), { nil: undefined }),
    },
    { requiredKeys: ['name', 'namespace', 'created', 'type', 'ports'] },
  )
  .map((r) => {
    const spec: Record<string, unknown> = { type: r.type, ports: r.ports };
    for (const k of [
      'loadBalancerIP',
      'loadBalancerClass',
      'ipFamilies',
      'ipFamilyPolicy',
      'externalTrafficPolicy',
      'healthCheckNodePort',
      'sessionAffinity',
      'loadBalancerSourceRanges',
      'selector',
    ] as const) {
      if (r[k] !== undefined) spec[k] = r[k];
    }
    return {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: r.name,
        namespace: r.namespace,
        creationTimestamp: r.created,
        annotations: r.annotations,
        labels: r.labels,
      },
      spec,
      status: { loadBalancer: { ingress: (r.status ?? []).map((ip) => ({ ip })) } },
    } as V1Service;
  });

/** The same Service name twice would be one object in a cluster; keep the first of each key. */
function distinct(services: readonly V1Service[]): V1Service[] {
  const seen = new Set<string>(['default/good']);
  return services.filter((s) => {
    const key = `${s.metadata?.namespace}/${s.metadata?.name}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

describe(`fuzz: Service annotations and ports through allocateAll and compileTable (seed ${seed})`, {
  timeout: scaled(180_000, 3_600_000),
}, () => {
  it('never throws; every Service gets its IPs or typed problems; pool and sharing rules hold; a valid Service keeps its IP and listener', () => {
    let allocated = 0;
    let refused = 0;
    let listeners = 0;
    fc.assert(
      fc.property(fc.array(service, { maxLength: 6 }), fc.nat(6), (fuzzed, at) => {
        const services = distinct(fuzzed);
        services.splice(Math.min(at, services.length), 0, GOOD);
        const plan = allocateAll({ pools: POOLS.pools, services });
        const byIp = new Map<string, string[]>();
        for (const o of plan.services) {
          for (const p of [...o.errors, ...o.warnings]) assertProblem(p, ['alloc.', 'service.', 'pool.']);
          if (o.errors.length > 0) {
            refused++;
            assert.deepEqual(o.ips, [], `${o.namespace}/${o.name} has errors and IPs`);
          }
          if (o.ips.length > 0) allocated++;
          for (const ipText of o.ips) {
            const ip = parseIp(ipText);
            assert.ok(ip, `${ipText} is an IP`);
            const inShop = ip.family === 4 && ip.value >= SHOP_RANGE.first && ip.value <= SHOP_RANGE.last;
            if (inShop) assert.equal(o.namespace, 'shop', `${ipText} given to namespace ${o.namespace}`);
            byIp.set(ipText, [...(byIp.get(ipText) ?? []), `${o.namespace}/${o.name}`]);
          }
        }
        // An IP held by several Services: all of them carry one and the same allow-shared-ip key.
        for (const [ipText, holders] of byIp) {
          if (holders.length < 2) continue;
          const keys = holders.map((k) => {
            const svc = services.find((s) => `${s.metadata?.namespace}/${s.metadata?.name}` === k)!;
            const r = readService(svc, {});
            return r.kind === 'request' ? r.request.sharingKey : null;
          });
          assert.ok(
            keys[0] !== null && keys.every((k) => k === keys[0]),
            `${ipText} shared by ${holders} with keys ${keys}`,
          );
        }
        const good = plan.services.find((o) => o.namespace === 'default' && o.name === 'good');
        assert.deepEqual(good?.ips, ['198.51.100.1'], 'the valid Service keeps its IP');

        const assignments = new Map<string, readonly string[]>();
        for (const o of plan.services)
          if (o.ips.length > 0) assignments.set(`${o.namespace}/${o.name}`, o.ips);
        const compiled = compileTable({ services, assignments, nodes: NODES, endpointSlices: [] });
        for (const p of compiled.problems) assertProblem(p, ['compile.', 'service.']);
        listeners += compiled.table.listeners.length;
        // What the speakers will get passes the speakers' own validation, whole.
        const again = parseTable({ version: 0, listeners: compiled.table.listeners.map(renderListener) });
        assert.ok(
          again.ok,
          `compiled table refused by the speaker's parser: ${again.ok ? '' : JSON.stringify(again.problems.slice(0, 3))}`,
        );
        assert.ok(
          compiled.table.listeners.some(
            (l) => l.service === 'default/good' && l.vip === '198.51.100.1' && l.port === 80,
          ),
          'the valid Service keeps its listener',
        );
      }),
      fuzzParameters(seed),
    );
    report('fuzz-services-coverage', { allocated, refused, listeners });
    assert.ok(allocated > 0 && refused > 0, 'both outcomes were exercised');
  });

  it('a manifest with any field of any object replaced by anything never makes the controller pass throw', () => {
    const mutation = fc.record({
      path: fc.array(
        fc.oneof(
          fc.constantFrom('metadata', 'spec', 'ports', 'annotations', 'status', 'addresses', 'name'),
          fc.nat(3),
        ),
        { minLength: 1, maxLength: 4 },
      ),
      value: fc.anything({ maxDepth: 3, withNullPrototype: true, withObjectString: true }),
    });
    fc.assert(
      fc.property(
        fc.array(service, { maxLength: 4 }),
        mutation,
        fc.nat(8),
        (fuzzed, { path, value }, which) => {
          const docs: Record<string | number, unknown>[] = [
            {
              apiVersion: 'switchyard.io/v1beta1',
              kind: 'IPAddressPool',
              metadata: { name: 'general' },
              spec: { addresses: ['198.51.100.0/29'] },
            },
            { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, status: NODES[0]!.status },
            ...[GOOD, ...distinct(fuzzed)].map(
              (svc) => JSON.parse(JSON.stringify(svc)) as Record<string, unknown>,
            ),
          ];
          let at = docs[which % docs.length]!;
          for (const [i, key] of path.entries()) {
            // Own properties only, set as JSON.parse would: the test must not pollute prototypes.
            const next = Object.hasOwn(at, key) ? at[key] : undefined;
            if (i === path.length - 1 || typeof next !== 'object' || next === null) {
              Object.defineProperty(at, key, { value, enumerable: true, writable: true, configurable: true });
              break;
            }
            at = next as Record<string | number, unknown>;
          }
          let text: string;
          try {
            text = docs.map((d) => toYaml(d)).join('---\n');
          } catch {
            return;
          }
          const m = parseManifest(text, 'fuzz.yaml');
          for (const p of [...m.problems, ...m.warnings]) assertProblem(p, ['manifest.']);
          const pass = reconcile(m.objects);
          for (const p of [...pass.poolProblems, ...pass.poolWarnings, ...pass.tableProblems])
            assertProblem(p, ['pool.', 'compile.', 'service.']);
          const again = parseTable({ version: 0, listeners: pass.table.listeners.map(renderListener) });
          assert.ok(again.ok, 'the compiled table passes the speaker parser');
        },
      ),
      fuzzParameters(seed, Math.ceil(CASES / 5)),
    );
  });
});
