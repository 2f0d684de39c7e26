/**
 * Tenant isolation, as a sequential scenario in the manner of MetalLB's allocator tests: two teams,
 * each with a pool only its namespace may use and a Service holding an IP. Each hostile Service
 * (another namespace's IP, an IP outside the pools its namespace may use, another Service's IP with a
 * guessed or stolen sharing key, another team's pool by name, MetalLB annotation spellings of the
 * same) must stay Pending with a Warning event, and the compiled forwarding table, what every node
 * serves, must not change at all.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Namespace, V1Node, V1Service } from '@kubernetes/client-node';
import { type ClusterObjects, type PassResult, reconcile } from '../../controller/loop/reconcile.ts';
import { service as buildService } from '../harness/service.ts';
import { report } from './scale.ts';

function pool(name: string, addresses: string[], namespaces: string[]): Record<string, unknown> {
  return {
    apiVersion: 'switchyard.io/v1beta1',
    kind: 'IPAddressPool',
    metadata: { name, namespace: 'switchyard-system', creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: { addresses, serviceAllocation: { namespaces } },
  };
}

function service(
  key: string,
  annotations: Record<string, string> = {},
  status: string[] = [],
  port = 80,
): V1Service {
  return buildService(key, {
    uid: key,
    annotations,
    created: '2024-02-01T00:00:00Z',
    ports: [{ name: 'p', port, nodePort: 30000 + port, protocol: 'TCP' }],
    status,
  });
}

const NAMESPACES: V1Namespace[] = ['team-a', 'team-b'].map((name) => ({ metadata: { name, labels: {} } }));
const NODES: V1Node[] = ['n1', 'n2'].map((name, i) => ({
  metadata: { name },
  status: {
    addresses: [{ type: 'InternalIP', address: `10.0.0.${i + 1}` }],
    conditions: [{ type: 'Ready', status: 'True' }],
  },
}));
const POOLS = [
  pool('team-a-pool', ['192.0.2.0/29'], ['team-a']),
  pool('team-b-pool', ['198.51.100.0/29'], ['team-b']),
];
/** team-a/web holds 192.0.2.1 under a sharing key; team-b/web holds 198.51.100.1. */
const TENANTS = [
  service('team-a/web', { 'switchyard.io/allow-shared-ip': 'a-secret' }, ['192.0.2.1']),
  service('team-b/web', {}, ['198.51.100.1']),
];

function pass(extra: V1Service[]): PassResult {
  const objects: ClusterObjects = {
    pools: POOLS,
    services: [...TENANTS, ...extra],
    nodes: NODES,
    namespaces: NAMESPACES,
    endpointSlices: [],
  };
  return reconcile(objects, { compile: { kubeProxyHealthPort: 0 } });
}

interface Attempt {
  readonly desc: string;
  readonly svc: V1Service;
}

const ATTEMPTS: Attempt[] = [
  {
    desc: "team-b asks for team-a's IP",
    svc: service('team-b/steal', { 'switchyard.io/loadBalancerIPs': '192.0.2.1' }, [], 81),
  },
  {
    desc: "team-b asks for a free IP of team-a's pool",
    svc: service('team-b/free-a', { 'switchyard.io/loadBalancerIPs': '192.0.2.5' }, [], 82),
  },
  {
    desc: 'team-b asks for an IP in no pool',
    svc: service('team-b/nopool', { 'switchyard.io/loadBalancerIPs': '203.0.113.9' }),
  },
  {
    desc: "team-b names team-a's pool",
    svc: service('team-b/pool', { 'switchyard.io/address-pool': 'team-a-pool' }),
  },
  {
    desc: "team-b guesses a sharing key for team-a's IP",
    svc: service(
      'team-b/guess',
      { 'switchyard.io/loadBalancerIPs': '192.0.2.1', 'switchyard.io/allow-shared-ip': 'guess' },
      [],
      83,
    ),
  },
  {
    desc: "team-b knows team-a's sharing key",
    svc: service(
      'team-b/stolen-key',
      { 'switchyard.io/loadBalancerIPs': '192.0.2.1', 'switchyard.io/allow-shared-ip': 'a-secret' },
      [],
      84,
    ),
  },
  {
    desc: "team-a's own Service guesses the key of a non-sharing Service's IP",
    svc: service(
      'team-a/guess',
      { 'switchyard.io/loadBalancerIPs': '198.51.100.1', 'switchyard.io/allow-shared-ip': 'x' },
      [],
      85,
    ),
  },
  {
    desc: "a second team-a Service with a wrong key for team-a/web's IP",
    svc: service(
      'team-a/wrong-key',
      { 'switchyard.io/loadBalancerIPs': '192.0.2.1', 'switchyard.io/allow-shared-ip': 'a-guess' },
      [],
      86,
    ),
  },
  {
    desc: "team-b uses MetalLB's spelling to ask for team-a's IP",
    svc: service(
      'team-b/metallb',
      {
        'metallb.universe.tf/loadBalancerIPs': '192.0.2.1',
        'metallb.universe.tf/allow-shared-ip': 'a-secret',
      },
      [],
      87,
    ),
  },
  {
    desc: 'team-b uses spec.loadBalancerIP for a team-a IP',
    svc: {
      ...service('team-b/lbip', {}, [], 89),
      spec: { ...service('team-b/lbip', {}, [], 89).spec, loadBalancerIP: '192.0.2.2' },
    },
  },
];

describe('tenant isolation: hostile Services stay Pending and no node sees a change', () => {
  const baseline = pass([]);

  it('the tenants hold their IPs and the table serves them', () => {
    const ips = new Map(baseline.plan.services.map((s) => [`${s.namespace}/${s.name}`, s.ips]));
    assert.deepEqual(ips.get('team-a/web'), ['192.0.2.1']);
    assert.deepEqual(ips.get('team-b/web'), ['198.51.100.1']);
    assert.deepEqual(baseline.table.listeners.map((l) => `${l.service} ${l.vip}:${l.port}`).sort(), [
      'team-a/web 192.0.2.1:80',
      'team-b/web 198.51.100.1:80',
    ]);
  });

  for (const a of ATTEMPTS) {
    it(`${a.desc}: Pending with a Warning event, table unchanged`, () => {
      const key = `${a.svc.metadata!.namespace}/${a.svc.metadata!.name}`;
      const r = pass([a.svc]);
      const o = r.plan.services.find((s) => `${s.namespace}/${s.name}` === key);
      assert.ok(o, `an outcome for ${key}`);
      report('tenant-isolation', {
        attempt: JSON.stringify(a.desc),
        ips: o.ips.join('|') || 'none',
        code: o.errors[0]?.code ?? 'none',
      });
      assert.deepEqual(o.ips, [], `${key} got ${o.ips}`);
      assert.ok(o.errors.length > 0, 'a problem says why');
      const warning = o.events.find((e) => e.type === 'Warning' && e.reason === 'AllocationFailed');
      assert.ok(warning, `a Warning event: ${JSON.stringify(o.events)}`);
      // The victims keep their IPs and nothing a node serves changes.
      const ips = new Map(r.plan.services.map((s) => [`${s.namespace}/${s.name}`, s.ips]));
      assert.deepEqual(ips.get('team-a/web'), ['192.0.2.1']);
      assert.deepEqual(ips.get('team-b/web'), ['198.51.100.1']);
      assert.deepEqual(r.table, baseline.table, 'the compiled table is unchanged');
      assert.deepEqual(r.nodeStates, baseline.nodeStates);
    });
  }

  it("a forged status (team-a's IP written into a team-b Service) is not honoured: team-a keeps its IP and its listener", () => {
    const forged = service('team-b/forged', {}, ['192.0.2.1'], 88);
    const r = pass([forged]);
    const o = r.plan.services.find((s) => s.name === 'forged')!;
    report('tenant-isolation', { attempt: JSON.stringify('forged status'), ips: o.ips.join('|') || 'none' });
    assert.ok(!o.ips.includes('192.0.2.1'), 'the forged IP is not kept');
    for (const ip of o.ips) assert.match(ip, /^198\.51\.100\./, 'any IP it gets is from its own pool');
    const ips = new Map(r.plan.services.map((s) => [`${s.namespace}/${s.name}`, s.ips]));
    assert.deepEqual(ips.get('team-a/web'), ['192.0.2.1']);
    // Only the forged Service's own listener (on its own IP) is new; nothing else changes.
    const others = r.table.listeners.filter((l) => l.service !== 'team-b/forged');
    assert.deepEqual(others, baseline.table.listeners);
    assert.ok(
      r.table.listeners.filter((l) => l.service === 'team-b/forged').every((l) => l.vip !== '192.0.2.1'),
    );
  });
});
