/**
 * Which node should own each VIP: rendezvous (highest-random-weight) hashing over the eligible
 * nodes. Every speaker computes the same answer from the same inputs with no coordination; owners
 * spread evenly; and when a node joins, only the VIPs whose highest weight is now that node's move
 * (to it), while a node leaving moves only its own VIPs. Pure: data in, data out.
 *
 * The weight function is part of the wire contract between speakers: every speaker of one cluster
 * must use the same one, or they will prefer different owners (leases still prevent two owners).
 */
import type { LiveSpeaker, NodeState } from '../../shared/store/store.ts';

/**
 * cyrb53 (public domain, by bryc): a fast 53-bit string hash with good avalanche, so weights are
 * exact JavaScript integers and ties are practically impossible.
 */
function hash53(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** The weight of `node` for `vip`; the highest weight wins. */
export function rendezvousWeight(node: string, vip: string): number {
  return hash53(`${node}\u0000${vip}`);
}

/** `nodes` in order of preference for `vip`: highest weight first, ties broken by name. */
export function rankNodes(vip: string, nodes: readonly string[]): string[] {
  return nodes
    .map((node) => ({ node, w: rendezvousWeight(node, vip) }))
    .sort((a, b) => b.w - a.w || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
    .map((x) => x.node);
}

/** The preferred owner of `vip` among `nodes`, or undefined when there is none. */
export function preferredOwner(vip: string, nodes: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestW = -1;
  for (const node of nodes) {
    const w = rendezvousWeight(node, vip);
    if (w > bestW || (w === bestW && best !== undefined && node < best)) {
      best = node;
      bestW = w;
    }
  }
  return best;
}

/** The preferred owner of every VIP (VIPs with no eligible node are left out). */
export function assignOwners(vips: Iterable<string>, nodes: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const vip of vips) {
    const owner = preferredOwner(vip, nodes);
    if (owner !== undefined) out.set(vip, owner);
  }
  return out;
}

/** The label that keeps a node out of external load balancing. */
export const EXCLUDE_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';

/**
 * Nodes that may own VIPs, sorted: a live speaker on a Ready node without the exclude label.
 * `states` null means the controller has published no node states: every live speaker is eligible.
 * A node absent from published states is not eligible (the controller has not vouched for it).
 */
export function eligibleNodes(
  speakers: readonly Pick<LiveSpeaker, 'node'>[],
  states: ReadonlyMap<string, NodeState> | null,
): string[] {
  const out = new Set<string>();
  for (const s of speakers) {
    if (states !== null) {
      const st = states.get(s.node);
      if (!st?.ready || st.excludeFromExternalLB) continue;
    }
    out.add(s.node);
  }
  return [...out].sort();
}
