import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
// The deserializer LIST responses go through; not re-exported by the package root.
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import {
  toKubeEndpointSlice,
  toKubeIPAddressPool,
  toKubeNode,
  toKubeService,
} from '../../controller/sources/kube/objects.ts';

const rawService = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    name: 'web',
    namespace: 'default',
    uid: 'u1',
    resourceVersion: '7',
    creationTimestamp: '2025-01-01T00:00:00Z',
  },
  spec: {
    type: 'LoadBalancer',
    ports: [{ name: 'http', port: 80, nodePort: 30080, targetPort: 8080 }],
    sessionAffinity: 'ClientIP',
    loadBalancerSourceRanges: ['10.0.0.0/8'],
  },
  status: {
    loadBalancer: {
      ingress: [{ ip: '127.0.0.10', ipMode: 'Proxy', ports: [{ port: 80, protocol: 'TCP' }] }],
    },
  },
};

describe('kube-objects conversion', () => {
  it('gives the same Service from raw watch JSON and from a typed LIST item', () => {
    // A LIST item comes through client-node's deserializer (Dates, model classes); a watch event is raw.
    const typed = ObjectSerializer.deserialize(rawService, 'V1Service', '') as V1Service;
    assert.ok(typed.metadata?.creationTimestamp instanceof Date);
    const a = toKubeService(rawService);
    assert.deepEqual(toKubeService(typed), a);
    assert.equal(a?.key, 'default/web');
    assert.equal(a?.externalTrafficPolicy, 'Cluster', 'defaults where the spec is silent');
    assert.equal(a?.sessionAffinity, 'ClientIP');
    assert.deepEqual(a?.ports, [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }]);
    assert.deepEqual(a?.ingress, [
      { ip: '127.0.0.10', hostname: '', ipMode: 'Proxy', ports: [{ port: 80, protocol: 'TCP' }] },
    ]);
  });

  it('drops objects without a name and tolerates missing sections', () => {
    assert.equal(toKubeService({ metadata: {} }), null);
    assert.equal(toKubeNode({}), null);
    const bare = toKubeService({ metadata: { name: 'x', namespace: 'n' } });
    assert.deepEqual([bare?.type, bare?.ports, bare?.ingress], ['ClusterIP', [], []]);
  });

  it('reads node readiness from the Ready condition and keys cluster-scoped objects by name', () => {
    const n = toKubeNode({
      metadata: { name: 'n1' },
      spec: { unschedulable: true },
      status: {
        conditions: [{ type: 'Ready', status: 'False' }],
        addresses: [{ type: 'InternalIP', address: '127.0.0.2' }],
      },
    });
    assert.deepEqual([n?.key, n?.ready, n?.unschedulable, n?.addresses.length], ['n1', false, true, 1]);
  });

  it('applies EndpointSlice condition defaults: unset ready is ready, serving follows ready', () => {
    const s = toKubeEndpointSlice({
      metadata: { name: 's', namespace: 'n', labels: { 'kubernetes.io/service-name': 'web' } },
      endpoints: [
        { addresses: ['10.0.0.1'], nodeName: 'a' },
        { addresses: ['10.0.0.2'], conditions: { ready: false, terminating: true } },
      ],
    });
    assert.equal(s?.serviceName, 'web');
    assert.deepEqual(
      s?.endpoints.map((e) => [e.ready, e.serving, e.terminating]),
      [
        [true, true, false],
        [false, false, true],
      ],
    );
  });

  it('keeps a pool spec as frozen plain JSON for the pool parser', () => {
    const p = toKubeIPAddressPool({
      metadata: { name: 'prod', namespace: 'sys', generation: 3 },
      spec: { addresses: ['127.0.0.0/28'], serviceAllocation: { priority: 1 } },
    });
    assert.deepEqual(p?.spec, { addresses: ['127.0.0.0/28'], serviceAllocation: { priority: 1 } });
    assert.equal(p?.generation, 3);
    assert.ok(Object.isFrozen(p?.spec));
    const spec = p!.spec as { addresses: string[] };
    assert.throws(() => spec.addresses.push('x'));
  });
});
