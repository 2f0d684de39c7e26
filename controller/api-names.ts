/** Names shared by every part of the controller: our API versions, annotation prefix and object keys. */
import type { ServiceObject } from './model/kubernetes.ts';

/** The API versions read as IPAddressPool: ours, and MetalLB's so its pools move over unchanged. */
export const POOL_API_VERSIONS = ['switchyard.io/v1beta1', 'metallb.io/v1beta1'] as const;

/** Prefix of every Service annotation Switchyard reads or writes. */
export const ANNOTATION_PREFIX = 'switchyard.io/';

/** `namespace/name` of a Service; an empty namespace is `default`, as the API server would make it. */
export function serviceKey(service: ServiceObject): string {
  return `${service.metadata?.namespace || 'default'}/${service.metadata?.name ?? ''}`;
}
