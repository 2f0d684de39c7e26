/**
 * Builders for the Kubernetes objects the allocator tests feed in: IPAddressPools, Services (the
 * harness builder, re-exported) and Namespaces, in the shapes the API server (or a manifest) gives them.
 */
import assert from 'node:assert/strict';
import type { V1Namespace } from '@kubernetes/client-node';
import { parsePools } from '../../controller/pools/parse.ts';
import type { Pool } from '../../controller/pools/pool.ts';
import type { AllocationRequest } from '../../controller/services/request.ts';
import { readService } from '../../controller/services/service.ts';
import { type ServiceSpec, service } from '../harness/service.ts';

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

export { type ServiceSpec, service };

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
