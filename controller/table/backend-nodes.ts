/**
 * Which nodes may take load-balancer traffic, and at which address: the part of table compilation
 * that looks at Nodes and EndpointSlices. Eligibility follows the Kubernetes service controller:
 * the node is Ready and does not carry the exclude-from-external-load-balancers label.
 */

import { type Problem, show } from '../../shared/errors.ts';
import { type Family, parseIp } from '../../shared/ip.ts';
import type { Backend } from '../../shared/model.ts';
import type { EndpointSliceObject, NodeObject } from '../model/kubernetes.ts';

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
export function isNodeReady(node: NodeObject): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Whether the node is labelled out of external load balancers. */
export function isNodeExcluded(node: NodeObject): boolean {
  const labels = node.metadata?.labels;
  return labels !== undefined && Object.hasOwn(labels, EXCLUDE_LABEL);
}

/**
 * The nodes that may take traffic, sorted by name. Nodes without a name, not Ready, or excluded by
 * label are left out; a repeated name keeps its first occurrence.
 */
export function eligibleNodes(nodes: readonly NodeObject[]): EligibleNode[] {
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

/**
 * For each Service (`namespace/name`), the nodes running a ready endpoint of it: what
 * externalTrafficPolicy Local sends traffic to. Slices are indexed once, not scanned per Service.
 * An endpoint with `ready` unset counts as ready, as the EndpointSlice API tells consumers to;
 * one without `nodeName` cannot be placed and is skipped.
 */
export function readyEndpointNodesByService(
  slices: readonly EndpointSliceObject[],
): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const slice of slices) {
    const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!service) continue;
    const key = `${slice.metadata?.namespace || 'default'}/${service}`;
    let nodes = out.get(key);
    if (!nodes) {
      nodes = new Set();
      out.set(key, nodes);
    }
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false || !ep.nodeName) continue;
      nodes.add(ep.nodeName);
    }
  }
  return out;
}

/**
 * The backends (without NodePort) of one address family, in node order. A node without an
 * InternalIP of the family is skipped; a node repeating another's address is skipped too, since the
 * same backend listed twice would be refused by the table parser. Both are recorded in
 * `nodeProblems`, keyed so each is reported once.
 */
export function familyBackends(
  nodes: readonly EligibleNode[],
  family: Family,
  nodeProblems: Map<string, Problem>,
): Omit<Backend, 'nodePort'>[] {
  const byAddress = new Map<string, string>();
  const out: Omit<Backend, 'nodePort'>[] = [];
  for (const n of nodes) {
    const address = n.addresses[family];
    if (address === undefined) {
      nodeProblems.set(`${n.name}|${family}|no-address`, {
        code: 'compile.node-without-address',
        object: `Node ${n.name}`,
        field: 'status.addresses',
        value: show(Object.values(n.addresses)),
        message: `has no IPv${family} InternalIP, so it takes no traffic for IPv${family} VIPs; give it one or take that family out of the pool`,
      });
      continue;
    }
    const first = byAddress.get(address);
    if (first !== undefined) {
      nodeProblems.set(`${n.name}|${family}|duplicate`, {
        code: 'compile.duplicate-node-address',
        object: `Node ${n.name}`,
        field: 'status.addresses',
        value: show(address),
        message: `has the same InternalIP as node ${first}, which keeps it as a backend; give each node its own address`,
      });
      continue;
    }
    byAddress.set(address, n.name);
    out.push({ node: n.name, address });
  }
  return out;
}
