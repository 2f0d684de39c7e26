/**
 * The informers' typed objects back in the Kubernetes shape that reconcile() reads
 * (model/kubernetes.ts, the same shape a manifest file gives), so both sources feed one pass. Only fields Switchyard uses survive the
 * trip through objects.ts; an unset field stays unset here rather than becoming an empty value,
 * so defaults apply exactly as they do for a manifest. Conversion is memoised per collection: the
 * source shares unchanged collections between snapshots, and so do the arrays built from them.
 */

import type { ClusterObjects } from '../../loop/reconcile.ts';
import type {
  EndpointSliceObject,
  NamespaceObject,
  NodeObject,
  ServiceObject,
} from '../../model/kubernetes.ts';
import type {
  KubeEndpointSlice,
  KubeIPAddressPool,
  KubeNamespace,
  KubeNode,
  KubeObjectMeta,
  KubeService,
  StringMap,
} from './objects.ts';

/** The collections a KubeSource keeps, by key. */
export interface KubeCollections {
  readonly services: ReadonlyMap<string, KubeService>;
  readonly pools: ReadonlyMap<string, KubeIPAddressPool>;
  readonly nodes: ReadonlyMap<string, KubeNode>;
  readonly namespaces: ReadonlyMap<string, KubeNamespace>;
  readonly endpointSlices: ReadonlyMap<string, KubeEndpointSlice>;
}

/** The API version pools are watched under; pool parsing accepts it without a warning. */
const POOL_API_VERSION = 'switchyard.io/v1beta1';

function orUndefined<T>(v: T, empty: T): T | undefined {
  return v === empty ? undefined : v;
}

function mapOrUndefined(m: StringMap): Record<string, string> | undefined {
  return Object.keys(m).length === 0 ? undefined : { ...m };
}

function listOrUndefined<T>(l: readonly T[]): T[] | undefined {
  return l.length === 0 ? undefined : [...l];
}

function metadata(o: KubeObjectMeta): ServiceObject['metadata'] & object {
  return {
    name: o.name,
    namespace: orUndefined(o.namespace, ''),
    uid: orUndefined(o.uid, ''),
    resourceVersion: orUndefined(o.resourceVersion, ''),
    labels: mapOrUndefined(o.labels),
    annotations: mapOrUndefined(o.annotations),
    // reconcile reads Date or string; a string keeps the objects plain JSON.
    creationTimestamp: orUndefined(o.creationTimestamp, '') as unknown as Date | undefined,
  };
}

/** A Service in the shape reconcile() reads. */
export function serviceObject(s: KubeService): ServiceObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(s),
    spec: {
      type: s.type,
      loadBalancerClass: orUndefined(s.loadBalancerClass, ''),
      loadBalancerIP: orUndefined(s.loadBalancerIP, ''),
      clusterIP: orUndefined(s.clusterIP, ''),
      clusterIPs: listOrUndefined(s.clusterIPs),
      selector: mapOrUndefined(s.selector),
      ports: s.ports.map((p) => ({
        name: orUndefined(p.name, ''),
        protocol: p.protocol,
        port: p.port,
        nodePort: orUndefined(p.nodePort, 0),
      })),
      externalTrafficPolicy: s.externalTrafficPolicy,
      healthCheckNodePort: orUndefined(s.healthCheckNodePort, 0),
      sessionAffinity: s.sessionAffinity,
      ipFamilies: listOrUndefined(s.ipFamilies),
      ipFamilyPolicy: orUndefined(s.ipFamilyPolicy, ''),
      loadBalancerSourceRanges: listOrUndefined(s.loadBalancerSourceRanges),
    },
    status: {
      loadBalancer: {
        ingress: s.ingress.map((i) => ({
          ip: orUndefined(i.ip, ''),
          hostname: orUndefined(i.hostname, ''),
          ipMode: orUndefined(i.ipMode, ''),
          ports: i.ports.map((p) => ({ port: p.port, protocol: p.protocol })),
        })),
      },
    },
  };
}

/** A Node in the shape reconcile() reads. */
export function nodeObject(n: KubeNode): NodeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: metadata(n),
    spec: {
      unschedulable: n.unschedulable || undefined,
      taints: listOrUndefined(n.taints.map((t) => ({ ...t }))),
    },
    status: {
      addresses: n.addresses.map((a) => ({ ...a })),
      conditions: [{ type: 'Ready', status: n.ready ? 'True' : 'False' }],
    },
  };
}

/** A Namespace in the shape reconcile() reads. */
export function namespaceObject(n: KubeNamespace): NamespaceObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: metadata(n) };
}

/** An IPAddressPool as the pool parser reads it (spec and status raw). */
export function poolObject(p: KubeIPAddressPool): unknown {
  return {
    apiVersion: POOL_API_VERSION,
    kind: 'IPAddressPool',
    metadata: { ...metadata(p), generation: p.generation },
    spec: p.spec,
    status: p.status,
  };
}

/** An EndpointSlice in the shape reconcile() reads. */
export function endpointSliceObject(e: KubeEndpointSlice): EndpointSliceObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: metadata(e),
    addressType: e.addressType,
    endpoints: e.endpoints.map((x) => ({
      addresses: [...x.addresses],
      nodeName: orUndefined(x.nodeName, ''),
      conditions: { ready: x.ready, serving: x.serving, terminating: x.terminating },
    })),
    ports: e.ports.map((p) => ({ name: orUndefined(p.name, ''), port: p.port, protocol: p.protocol })),
  };
}

/** Converts collections to ClusterObjects, reusing the arrays of collections that did not change. */
export class ClusterObjectsCache {
  readonly #arrays = new WeakMap<ReadonlyMap<string, unknown>, readonly unknown[]>();

  /** The objects of `c`, in key order (so equal content gives equal passes). */
  of(c: KubeCollections): ClusterObjects {
    return {
      services: this.#array(c.services, serviceObject),
      pools: this.#array(c.pools, poolObject),
      nodes: this.#array(c.nodes, nodeObject),
      namespaces: this.#array(c.namespaces, namespaceObject),
      endpointSlices: this.#array(c.endpointSlices, endpointSliceObject),
    };
  }

  #array<T, U>(m: ReadonlyMap<string, T>, convert: (t: T) => U): readonly U[] {
    const hit = this.#arrays.get(m);
    if (hit) return hit as readonly U[];
    const keys = [...m.keys()].sort();
    const out = Object.freeze(keys.map((k) => convert(m.get(k) as T)));
    this.#arrays.set(m, out);
    return out;
  }
}
