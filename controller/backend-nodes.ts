/**
 * Which nodes may take load-balancer traffic, and at which address: the part of table compilation
 * that looks at Nodes and EndpointSlices. Eligibility follows the Kubernetes service controller:
 * the node is Ready and does not carry the exclude-from-external-load-balancers label.
 */
import type { V1EndpointSlice, V1Node } from '@kubernetes/client-node';
import { type Family, parseIp } from '../shared/ip.ts';

/** Label that takes a node out of every load balancer's backends, whatever its value (as in Kubernetes). */
export const EXCLUDE_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
/** Label on an EndpointSlice naming the Service it belongs to. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** A node that may take traffic, with its InternalIP of each family (first one listed wins). */
export interface EligibleNode {
  readonly name: string;
  readonly addresses: { readonly 4?: string; readonly 6?: string };
}

/** Whether the node's Ready condition is True. */
export function isNodeReady(node: V1Node): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Whether the node is labelled out of external load balancers. */
export function isNodeExcluded(node: V1Node): boolean {
  const labels = node.metadata?.labels;
  return labels !== undefined && Object.hasOwn(labels, EXCLUDE_LABEL);
}

/**
 * The nodes that may take traffic, sorted by name. Nodes without a name, not Ready, or excluded by
 * label are left out; a repeated name keeps its first occurrence.
 */
export function eligibleNodes(nodes: readonly V1Node[]): EligibleNode[] {
  const byName = new Map<string, EligibleNode>();
  for (const node of nodes) {
    const name = node.metadata?.name;
    if (!name || byName.has(name) || !isNodeReady(node) || isNodeExcluded(node)) continue;
    const addresses: { 4?: string; 6?: string } = {};
    for (const a of node.status?.addresses ?? []) {
      if (a.type !== 'InternalIP' || typeof a.address !== 'string') continue;
      const ip = parseIp(a.address);
      if (ip && addresses[ip.family] === undefined) addresses[ip.family] = ip.text;
    }
    byName.set(name, { name, addresses });
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The node's InternalIP of `family`, if it has one. */
export function nodeAddress(node: EligibleNode, family: Family): string | undefined {
  return node.addresses[family];
}

/**
 * Names of nodes running a ready endpoint of the Service `namespace/name`: what
 * externalTrafficPolicy Local sends traffic to. An endpoint with `ready` unset counts as ready, as
 * the EndpointSlice API says consumers should; one without `nodeName` cannot be placed and is skipped.
 */
export function nodesWithReadyEndpoints(
  slices: readonly V1EndpointSlice[],
  namespace: string,
  name: string,
): Set<string> {
  const out = new Set<string>();
  for (const slice of slices) {
    if ((slice.metadata?.namespace ?? 'default') !== namespace) continue;
    if (slice.metadata?.labels?.[SERVICE_NAME_LABEL] !== name) continue;
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false || !ep.nodeName) continue;
      out.add(ep.nodeName);
    }
  }
  return out;
}
