/**
 * The one builder of test Service objects (client-node `V1Service`, the shape the API server or a
 * manifest gives the controller), for the controller, allocator and reliability tests.
 */
import type { V1ObjectMeta, V1Service, V1ServicePort, V1ServiceSpec } from '@kubernetes/client-node';

/** What a test Service asks for. */
export interface ServiceSpec {
  /** Port numbers (TCP), `[port, protocol]` pairs, or whole port objects (names, NodePorts); default 80. */
  ports?: (number | [number, string] | V1ServicePort)[];
  shareKey?: string;
  pool?: string;
  /** Value of switchyard.io/loadBalancerIPs. */
  ips?: string;
  loadBalancerIP?: string;
  policy?: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
  families?: ('IPv4' | 'IPv6')[];
  etp?: 'Cluster' | 'Local';
  selector?: Record<string, string>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  status?: string[];
  created?: string;
  uid?: string;
  type?: string;
  lbClass?: string;
  /** Spec fields set as given, over the ones above: for a field with no shorthand here. */
  extraSpec?: Partial<V1ServiceSpec>;
  /** Metadata fields set as given, over the ones above. */
  extraMetadata?: Partial<V1ObjectMeta>;
}

/** A Service object; `key` is `namespace/name` (namespace defaults to `default`). */
export function service(key: string, s: ServiceSpec = {}): V1Service {
  const [namespace, name] = key.includes('/') ? key.split('/') : ['default', key];
  const annotations: Record<string, string> = { ...(s.annotations ?? {}) };
  if (s.shareKey !== undefined) annotations['switchyard.io/allow-shared-ip'] = s.shareKey;
  if (s.pool !== undefined) annotations['switchyard.io/address-pool'] = s.pool;
  if (s.ips !== undefined) annotations['switchyard.io/loadBalancerIPs'] = s.ips;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace,
      annotations,
      labels: s.labels ?? {},
      ...(s.uid ? { uid: s.uid } : {}),
      ...(s.created ? { creationTimestamp: new Date(s.created) } : {}),
      ...s.extraMetadata,
    },
    spec: {
      type: s.type ?? 'LoadBalancer',
      ports: (s.ports ?? [80]).map((p) =>
        Array.isArray(p)
          ? { port: p[0], protocol: p[1] }
          : typeof p === 'number'
            ? { port: p, protocol: 'TCP' }
            : p,
      ),
      ...(s.loadBalancerIP ? { loadBalancerIP: s.loadBalancerIP } : {}),
      ...(s.policy ? { ipFamilyPolicy: s.policy } : {}),
      ...(s.families ? { ipFamilies: s.families } : {}),
      ...(s.etp ? { externalTrafficPolicy: s.etp } : {}),
      ...(s.selector ? { selector: s.selector } : {}),
      ...(s.lbClass ? { loadBalancerClass: s.lbClass } : {}),
      ...s.extraSpec,
    },
    status: { loadBalancer: { ingress: (s.status ?? []).map((ip) => ({ ip })) } },
  };
}

/** A Service with only a name, namespace and labels: for the API-server protocol tests, where its spec does not matter. */
export function bareService(
  namespace: string,
  name: string,
  labels: Record<string, string> = {},
): {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: object;
} {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace, labels }, spec: {} };
}
