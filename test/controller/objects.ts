/**
 * Builders for the Kubernetes objects the allocator tests feed in: IPAddressPools, Services and
 * Namespaces, in the shapes the API server (or a manifest) gives them.
 */
import assert from 'node:assert/strict';
import type { V1Namespace, V1Service } from '@kubernetes/client-node';
import { parsePools } from '../../controller/pools/parse.ts';
import type { Pool } from '../../controller/pools/pool.ts';
import type { AllocationRequest } from '../../controller/services/request.ts';
import { readService } from '../../controller/services/request.ts';

/** Spec fields of a test pool. */
export interface PoolSpec {
  addresses: string[];
  autoAssign?: boolean;
  avoidBuggyIPs?: boolean;
  serviceAllocation?: Record<string, unknown>;
}

/** An IPAddressPool object. */
export function poolObject(name: string, spec: PoolSpec, created?: string): Record<string, unknown> {
  return {
    apiVersion: 'switchyard.io/v1beta1',
    kind: 'IPAddressPool',
    metadata: { name, namespace: 'switchyard-system', ...(created ? { creationTimestamp: created } : {}) },
    spec,
  };
}

/** Parse pools that the test expects to be valid. */
export function pools(specs: Record<string, PoolSpec>): Pool[] {
  const r = parsePools(Object.entries(specs).map(([name, spec]) => poolObject(name, spec)));
  assert.deepEqual(r.problems, [], 'test pools must be valid');
  return [...r.pools];
}

/** What a test Service asks for. */
export interface ServiceSpec {
  ports?: (number | [number, string])[];
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
    },
    spec: {
      type: s.type ?? 'LoadBalancer',
      ports: (s.ports ?? [80]).map((p) =>
        Array.isArray(p) ? { port: p[0], protocol: p[1] } : { port: p, protocol: 'TCP' },
      ),
      ...(s.loadBalancerIP ? { loadBalancerIP: s.loadBalancerIP } : {}),
      ...(s.policy ? { ipFamilyPolicy: s.policy } : {}),
      ...(s.families ? { ipFamilies: s.families } : {}),
      ...(s.etp ? { externalTrafficPolicy: s.etp } : {}),
      ...(s.selector ? { selector: s.selector } : {}),
      ...(s.lbClass ? { loadBalancerClass: s.lbClass } : {}),
    },
    status: { loadBalancer: { ingress: (s.status ?? []).map((ip) => ({ ip })) } },
  };
}

/** A Namespace with labels. */
export function namespace(name: string, labels: Record<string, string> = {}): V1Namespace {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

/** The allocation request of a Service that the test expects to be valid. */
export function request(
  key: string,
  s: ServiceSpec = {},
  nsLabels: Record<string, string> = {},
): AllocationRequest {
  const r = readService(service(key, s), nsLabels);
  if (r.kind !== 'request') {
    assert.fail(
      `test Service ${key} must be a valid request: ${r.kind === 'invalid' ? r.problems.map((p) => p.message).join('; ') : r.reason}`,
    );
  }
  return r.request;
}
