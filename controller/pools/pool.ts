/**
 * The validated, immutable IP pool model that `parse.ts` produces from IPAddressPool objects, and
 * the two questions the allocator asks of it: may this Service use the pool, and in which order are
 * pools tried.
 */
import type { Family, IpRange } from '../../shared/ip.ts';
import { type LabelSelector, type Labels, selectorMatches } from './label-selector.ts';

/** One address range of a pool, with the `spec.addresses` entry it came from. */
export interface PoolRange extends IpRange {
  /** The entry as written, e.g. `192.0.2.0/28` or `192.0.2.10-192.0.2.20`. */
  readonly entry: string;
}

/** `spec.serviceAllocation`: which Services the pool serves and its priority among pools. */
export interface ServiceAllocation {
  /** Lower is tried first; null when unset (or 0, as in MetalLB), which sorts last. */
  readonly priority: number | null;
  readonly namespaces: readonly string[];
  readonly namespaceSelectors: readonly LabelSelector[];
  readonly serviceSelectors: readonly LabelSelector[];
}

/** A valid pool. `ranges` are disjoint and sorted by family (IPv4 first), then address. */
export interface Pool {
  readonly name: string;
  readonly autoAssign: boolean;
  readonly avoidBuggyIPs: boolean;
  readonly ranges: readonly PoolRange[];
  /** Null when the pool serves every Service. */
  readonly serviceAllocation: ServiceAllocation | null;
}

/** The Service facts that pool rules look at. */
export interface ServiceIdentity {
  readonly namespace: string;
  /** Labels of the Service's namespace (including `kubernetes.io/metadata.name`). */
  readonly namespaceLabels: Labels;
  readonly labels: Labels;
}

/** Why a pool refuses a Service, or null when it accepts it. */
export type PoolRefusal = 'namespace' | 'service-labels' | null;

/**
 * MetalLB's rule: `namespaces` and `namespaceSelectors` together say which namespaces are served (any
 * match is enough; neither given means all), and `serviceSelectors` further limit which Services (any
 * match is enough; none given means all).
 */
export function poolRefusal(pool: Pool, svc: ServiceIdentity): PoolRefusal {
  const a = pool.serviceAllocation;
  if (!a) return null;
  if (a.namespaces.length > 0 || a.namespaceSelectors.length > 0) {
    const ok =
      a.namespaces.includes(svc.namespace) ||
      a.namespaceSelectors.some((s) => selectorMatches(s, svc.namespaceLabels));
    if (!ok) return 'namespace';
  }
  if (a.serviceSelectors.length > 0 && !a.serviceSelectors.some((s) => selectorMatches(s, svc.labels))) {
    return 'service-labels';
  }
  return null;
}

/** Whether the pool names a restriction or a priority, i.e. Services matching it are "pinned" to it. */
export function isPinningPool(pool: Pool): boolean {
  return pool.serviceAllocation !== null;
}

/**
 * Order in which automatic allocation tries pools: pools with a `serviceAllocation` that matches the
 * Service come first by priority (unset last), then plain pools; ties by name so the order is stable.
 */
export function comparePoolsForAllocation(a: Pool, b: Pool): number {
  const pinA = isPinningPool(a) ? 0 : 1;
  const pinB = isPinningPool(b) ? 0 : 1;
  if (pinA !== pinB) return pinA - pinB;
  const pa = a.serviceAllocation?.priority ?? Number.POSITIVE_INFINITY;
  const pb = b.serviceAllocation?.priority ?? Number.POSITIVE_INFINITY;
  if (pa !== pb) return pa < pb ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The ranges of one family. */
export function poolRanges(pool: Pool, family: Family): readonly PoolRange[] {
  return pool.ranges.filter((r) => r.family === family);
}
