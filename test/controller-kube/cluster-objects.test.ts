/**
 * The informers' typed objects, turned back into the Kubernetes shape, must reconcile exactly as
 * the objects they came from: otherwise Kubernetes mode and manifest mode would allocate and
 * compile differently from the same cluster.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type ClusterObjects, reconcile } from '../../controller/loop/reconcile.ts';
import { ClusterObjectsCache, type KubeCollections } from '../../controller/sources/kube/cluster-objects.ts';
import {
  type KubeObjectMeta,
  toKubeEndpointSlice,
  toKubeIPAddressPool,
  toKubeNamespace,
  toKubeNode,
  toKubeService,
} from '../../controller/sources/kube/objects.ts';
import { loadManifestFile } from '../../controller/sources/manifest/file.ts';

function byKey<T extends KubeObjectMeta>(raws: readonly unknown[], convert: (r: unknown) => T | null) {
  const m = new Map<string, T>();
  for (const r of raws) {
    const o = convert(r);
    if (o) m.set(o.key, o);
  }
  return m;
}

function throughInformers(objects: ClusterObjects): {
  collections: KubeCollections;
  objects: ClusterObjects;
} {
  const collections: KubeCollections = {
    services: byKey(objects.services, toKubeService),
    pools: byKey(objects.pools, toKubeIPAddressPool),
    nodes: byKey(objects.nodes, toKubeNode),
    namespaces: byKey(objects.namespaces, toKubeNamespace),
    endpointSlices: byKey(objects.endpointSlices, toKubeEndpointSlice),
  };
  return { collections, objects: new ClusterObjectsCache().of(collections) };
}

/** Sort like the cache does, so only the conversion can make a difference. */
function sorted(objects: ClusterObjects): ClusterObjects {
  const key = (o: unknown) => {
    const m = (o as { metadata?: { namespace?: string; name?: string } }).metadata ?? {};
    return m.namespace ? `${m.namespace}/${m.name}` : (m.name ?? '');
  };
  const sort = <T>(l: readonly T[]) =>
    [...l].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return {
    services: sort(objects.services),
    pools: sort(objects.pools),
    nodes: sort(objects.nodes),
    namespaces: sort(objects.namespaces),
    endpointSlices: sort(objects.endpointSlices),
  };
}

const EXAMPLES = [
  'examples/demo.yaml',
  ...readdirSync('examples/services').map((f) => join('examples/services', f)),
];

/** Every field reconcile() reads, set to something other than its default. */
const RICH: ClusterObjects = {
  pools: [
    {
      apiVersion: 'switchyard.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'young', namespace: 'sys', creationTimestamp: '2025-02-01T00:00:00Z' },
      spec: { addresses: ['127.0.6.0/30', 'fd00::/126'], serviceAllocation: { priority: 1 } },
    },
    {
      apiVersion: 'switchyard.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'old', namespace: 'sys', creationTimestamp: '2025-01-01T00:00:00Z' },
      spec: { addresses: ['127.0.5.0/29'], autoAssign: true, avoidBuggyIPs: true },
    },
  ],
  services: [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'late',
        namespace: 'a',
        uid: 'u-late',
        creationTimestamp: '2025-03-02T00:00:00Z' as unknown as Date,
        labels: { tier: 'web' },
        annotations: { 'switchyard.io/lb-algorithm': 'least-connections' },
      },
      spec: {
        type: 'LoadBalancer',
        selector: { app: 'x' },
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 32000,
        sessionAffinity: 'None',
        ipFamilyPolicy: 'PreferDualStack',
        ipFamilies: ['IPv4', 'IPv6'],
        clusterIPs: ['10.96.0.10', 'fd00:96::10'],
        ports: [
          { name: 'http', port: 80, nodePort: 30080, protocol: 'TCP' },
          { name: 'dns', port: 53, nodePort: 30053, protocol: 'UDP' },
        ],
        loadBalancerSourceRanges: ['10.0.0.0/8'],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'early',
        namespace: 'b',
        uid: 'u-early',
        creationTimestamp: '2025-03-01T00:00:00Z' as unknown as Date,
        annotations: { 'metallb.universe.tf/address-pool': 'old' },
      },
      spec: {
        type: 'LoadBalancer',
        sessionAffinity: 'ClientIP',
        ports: [{ port: 443, nodePort: 30443 }, { port: 8443 }],
      },
      status: { loadBalancer: { ingress: [{ ip: '127.0.5.3', ipMode: 'Proxy' }] } },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'other-class', namespace: 'b' },
      spec: { type: 'LoadBalancer', loadBalancerClass: 'x.io/lb', ports: [{ port: 1, nodePort: 30001 }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'asks', namespace: 'b' },
      spec: { type: 'LoadBalancer', loadBalancerIP: '127.0.5.6', ports: [{ port: 2, nodePort: 30002 }] },
    },
  ],
  nodes: [
    {
      metadata: { name: 'n1', labels: { zone: 'z' } },
      status: {
        addresses: [{ type: 'InternalIP', address: '127.0.0.21' }],
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    },
    {
      metadata: { name: 'n2', labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': '' } },
      status: {
        addresses: [{ type: 'InternalIP', address: '127.0.0.22' }],
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    },
    { metadata: { name: 'n3' }, status: { conditions: [{ type: 'Ready', status: 'False' }] } },
  ],
  namespaces: [{ metadata: { name: 'a', labels: { env: 'prod' } } }, { metadata: { name: 'b' } }],
  endpointSlices: [
    {
      metadata: { name: 'late-1', namespace: 'a', labels: { 'kubernetes.io/service-name': 'late' } },
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['10.1.0.1'], nodeName: 'n1', conditions: { ready: true } },
        { addresses: ['10.1.0.2'], nodeName: 'n3', conditions: { ready: false } },
      ],
    },
  ],
};

describe('ClusterObjectsCache', () => {
  for (const file of EXAMPLES) {
    it(`reconciles ${file} through the informers' objects as from the file itself`, () => {
      const raw = sorted(loadManifestFile(file).objects);
      assert.deepEqual(reconcile(throughInformers(raw).objects), reconcile(raw));
    });
  }

  it('keeps every field reconcile() reads: ages, families, selectors, classes, traffic policy, nodes', () => {
    const raw = sorted(RICH);
    const want = reconcile(raw);
    // The scenario really exercises what the conversion must keep.
    assert.ok(
      want.plan.services.some((s) => s.ips.length === 2),
      'a dual-stack allocation',
    );
    assert.ok(want.table.listeners.some((l) => l.trafficPolicy === 'Local'));
    assert.deepEqual(reconcile(throughInformers(raw).objects), want);
  });

  it('reuses the arrays of collections that did not change, and rebuilds the one that did', () => {
    const cache = new ClusterObjectsCache();
    const { collections } = throughInformers(sorted(RICH));
    const first = cache.of(collections);
    const services = new Map(collections.services);
    services.delete('b/asks');
    const second = cache.of({ ...collections, services });
    assert.equal(second.nodes, first.nodes);
    assert.equal(second.pools, first.pools);
    assert.notEqual(second.services, first.services);
    assert.equal(second.services.length, first.services.length - 1);
  });
});
