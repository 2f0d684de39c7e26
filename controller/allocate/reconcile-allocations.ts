/**
 * One pure pass from the cluster's objects to every Service's IPs and every pool's counts. State comes
 * from the Services themselves (status.loadBalancer.ingress), so a restarted controller reaches the
 * same answer: Services that hold IPs are placed first and keep them while they stay valid; only then
 * do the others get addresses. `switchyard plan` and the controller loop both call `allocateAll`.
 */

import type { Problem } from '../../shared/errors.ts';
import { type Ip, parseIp } from '../../shared/ip.ts';
import type { PoolStatus } from '../../shared/store/store.ts';
import type { NamespaceObject, ServiceObject } from '../model/kubernetes.ts';
import type { Labels } from '../pools/label-selector.ts';
import type { Pool } from '../pools/pool.ts';
import type { AllocationRequest, ServiceReadOptions } from '../services/request.ts';
import { readService } from '../services/service.ts';
import { Allocator, type PoolCounts } from './allocator.ts';

/** A Kubernetes Event to record on the Service. */
export interface ServiceEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: 'IPAllocated' | 'ClearAssignment' | 'AllocationFailed' | 'DeprecatedAnnotation';
  readonly message: string;
}

/** What should become of one Service. */
export interface ServiceOutcome {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string | null;
  /**
   * The Service's resourceVersion in the objects this outcome was decided on; writes carry it, so the
   * API server refuses them (409) if the Service changed since. Null when the objects have none.
   */
  readonly resourceVersion: string | null;
  /** The IPs it should hold, primary family first; empty when it gets none. */
  readonly ips: readonly string[];
  /** Pool of the IPs (names joined by `,` in the rare case they differ); null without IPs. */
  readonly pool: string | null;
  /** Why it has no IPs; empty on success. */
  readonly errors: readonly Problem[];
  /** Accepted, but worth telling the user (MetalLB annotation spellings). */
  readonly warnings: readonly Problem[];
  /** Events to record now; repeats of the `previous` plan's failures and warnings are left out. */
  readonly events: readonly ServiceEvent[];
  /** Whether `ips` differ from the Service's status, i.e. the status must be written. */
  readonly changed: boolean;
}

/**
 * Pool status as written to the IPAddressPool and the store: numbers, saturated at
 * Number.MAX_SAFE_INTEGER so JSON stays exact (an IPv6 /64 has 2^64 addresses); `counts` in the
 * plan has the exact bigints.
 */
export type { PoolStatus };

/** The result of one pass. */
export interface AllocationPlan {
  /** Sorted by namespace, then name. */
  readonly services: readonly ServiceOutcome[];
  /** Sorted by pool name. */
  readonly pools: readonly PoolStatus[];
  readonly counts: readonly PoolCounts[];
}

/** Input of `allocateAll`. Nothing in it is mutated. */
export interface AllocateAllInput {
  /** Valid pools, from `parsePools`. */
  readonly pools: readonly Pool[];
  readonly services: readonly ServiceObject[];
  /** Namespaces, for namespaceSelectors; a Service's namespace missing here has only its name label. */
  readonly namespaces?: readonly NamespaceObject[];
  /**
   * The last plan. Its IPs count as held for Services whose status is still empty (the status write
   * has not landed yet), and its failures and warnings are not repeated as events.
   */
  readonly previous?: AllocationPlan;
  readonly options?: ServiceReadOptions;
}

/** The plan as `switchyard plan` prints it. */
export interface RenderedPlan {
  readonly services: readonly {
    namespace: string;
    name: string;
    ips: readonly string[];
    pool: string | null;
    error: string | null;
  }[];
  readonly pools: readonly PoolStatus[];
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Exact counts to status numbers, saturating at Number.MAX_SAFE_INTEGER. */
export function toPoolStatus(c: PoolCounts): PoolStatus {
  const n = (v: bigint) => Number(v > SAFE ? SAFE : v);
  return {
    name: c.name,
    assignedIPv4: n(c.assignedIPv4),
    availableIPv4: n(c.availableIPv4),
    assignedIPv6: n(c.assignedIPv6),
    availableIPv6: n(c.availableIPv6),
  };
}

/** The plan in the shape `switchyard plan` prints. */
export function renderPlan(plan: AllocationPlan): RenderedPlan {
  return {
    services: plan.services.map((s) => ({
      namespace: s.namespace,
      name: s.name,
      ips: s.ips,
      pool: s.pool,
      error: s.errors.length > 0 ? s.errors.map((e) => e.message).join('; ') : null,
    })),
    pools: plan.pools,
  };
}

function byAge(a: AllocationRequest, b: AllocationRequest): number {
  const ca = a.created ?? Number.POSITIVE_INFINITY;
  const cb = b.created ?? Number.POSITIVE_INFINITY;
  if (ca !== cb) return ca < cb ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Pending Services: explicit requests first (they cannot go elsewhere), then named pools, then the rest. */
function rank(r: AllocationRequest): number {
  return r.requestedIps.length > 0 ? 0 : r.pool !== null ? 1 : 2;
}

function sameIpSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Allocate IPs to every Service, deterministically, from the objects alone. */
export function allocateAll(input: AllocateAllInput): AllocationPlan {
  const nsLabels = new Map<string, Labels>();
  for (const ns of input.namespaces ?? []) {
    if (ns.metadata?.name) nsLabels.set(ns.metadata.name, ns.metadata.labels ?? {});
  }
  const prev = new Map((input.previous?.services ?? []).map((o) => [`${o.namespace}/${o.name}`, o]));
  const readings = new Map<string, { svc: ServiceObject; reading: ReturnType<typeof readService> }>();
  for (const svc of input.services) {
    const reading = readService(svc, nsLabels.get(svc.metadata?.namespace ?? 'default') ?? {}, input.options);
    const key = reading.kind === 'request' ? reading.request.key : reading.key;
    if (!readings.has(key)) readings.set(key, { svc, reading });
  }
  const alloc = new Allocator(input.pools);
  const requests: AllocationRequest[] = [];
  for (const { reading } of readings.values()) if (reading.kind === 'request') requests.push(reading.request);
  requests.sort(byAge);

  // Holders first, oldest first: each keeps what is still valid of what it holds.
  for (const req of requests) {
    const keep = heldIps(req, prev.get(req.key), readings.get(req.key)?.svc).filter(
      (ip) =>
        alloc.placementProblem(req, ip) === null &&
        (req.requestedIps.length === 0 ||
          req.requestedIps.some((r) => r.value === ip.value && r.family === ip.family)),
    );
    if (keep.length === 0) continue;
    if (alloc.assign(req, keep).ok) continue;
    // Part of a dual-stack holding may clash with an older holder; keep the part that does not.
    for (const ip of keep) if (alloc.assign(req, [ip]).ok) break;
  }
  // Then everyone, in an order where those with the fewest choices go first.
  const results = new Map<string, ReturnType<Allocator['allocate']>>();
  // Services that failed, or got one family of a PreferDualStack pair, could do better with IPs
  // freed after their turn (a holder that moved or failed).
  const unsatisfied: AllocationRequest[] = [];
  let freedAfter = false;
  for (const req of [...requests].sort((a, b) => rank(a) - rank(b) || byAge(a, b))) {
    const before = alloc.holding(req.key)?.ips ?? [];
    const r = alloc.allocate(req);
    if (!r.ok) alloc.unassign(req.key);
    results.set(req.key, r);
    if (!r.ok || r.ips.length < req.families.length) unsatisfied.push(req);
    const after = alloc.holding(req.key)?.ips ?? [];
    const kept = (ip: Ip) => after.some((a) => a.family === ip.family && a.value === ip.value);
    if (unsatisfied.length > 0 && !before.every(kept)) freedAfter = true;
  }
  // One more try for them makes the plan a fixed point (the next pass would hand them those IPs
  // anyway). Once is enough: this round only takes IPs, it frees none.
  if (freedAfter) {
    for (const req of unsatisfied) {
      const r = alloc.allocate(req);
      if (!r.ok) alloc.unassign(req.key);
      results.set(req.key, r);
    }
  }

  const services: ServiceOutcome[] = [];
  const keys = [...readings.keys()].sort();
  for (const key of keys) {
    const { svc, reading } = readings.get(key) as {
      svc: ServiceObject;
      reading: ReturnType<typeof readService>;
    };
    const base = {
      namespace: svc.metadata?.namespace ?? 'default',
      name: svc.metadata?.name ?? '',
      uid: svc.metadata?.uid ?? null,
      resourceVersion: svc.metadata?.resourceVersion || null,
    };
    const current = (reading.kind === 'request' ? reading.request.currentIps : reading.currentIps).map(
      (i) => i.text,
    );
    const previous = prev.get(key);
    if (reading.kind === 'ignored') {
      // Another class's Service is not ours to touch; a Service that stopped being a LoadBalancer is.
      if (current.length === 0 || reading.reason !== 'not a LoadBalancer') continue;
      services.push(outcome(base, [], null, [], [], current, previous));
      continue;
    }
    if (reading.kind === 'invalid') {
      services.push(outcome(base, [], null, reading.problems, reading.warnings, current, previous));
      continue;
    }
    const r = results.get(key);
    const req = reading.request;
    if (!r) continue;
    if (!r.ok) {
      services.push(outcome(base, [], null, [r.problem], reading.warnings, current, previous));
      continue;
    }
    const order = r.ips
      .map((ip, i) => ({ ip, pool: r.pools[i] as string }))
      .sort((a, b) => req.families.indexOf(a.ip.family) - req.families.indexOf(b.ip.family));
    const pool = [...new Set(order.map((o) => o.pool))].join(',');
    services.push(
      outcome(
        base,
        order.map((o) => o.ip.text),
        pool,
        [],
        reading.warnings,
        current,
        previous,
      ),
    );
  }
  const counts = alloc.counts();
  return { services, pools: counts.map(toPoolStatus), counts };
}

/** IPs the Service holds now: its status, else what the previous plan gave it (same object by uid). */
function heldIps(
  req: AllocationRequest,
  previous: ServiceOutcome | undefined,
  svc: ServiceObject | undefined,
): Ip[] {
  if (req.currentIps.length > 0) return [...req.currentIps];
  if (!previous || previous.ips.length === 0) return [];
  const uid = svc?.metadata?.uid ?? null;
  if (uid !== null && previous.uid !== null && uid !== previous.uid) return [];
  return previous.ips.map(parseIp).filter((ip): ip is Ip => ip !== null);
}

function outcome(
  base: { namespace: string; name: string; uid: string | null; resourceVersion: string | null },
  ips: string[],
  pool: string | null,
  errors: readonly Problem[],
  warnings: readonly Problem[],
  current: readonly string[],
  previous: ServiceOutcome | undefined,
): ServiceOutcome {
  const changed = !sameIpSet(ips, current);
  const events: ServiceEvent[] = [];
  // Same code, field and value is the same failure, even when its message names other Services now.
  const sameFailure = (p: Problem) => `${p.code} ${p.field} ${p.value}`;
  const seenErrors = new Set((previous?.errors ?? []).map(sameFailure));
  const seenWarnings = new Set((previous?.warnings ?? []).map((p) => `${p.field} ${p.message}`));
  if (changed && ips.length > 0) {
    const was = current.length > 0 ? ` (was ${current.join(', ')})` : '';
    events.push({
      type: 'Normal',
      reason: 'IPAllocated',
      message: `Assigned ${ips.join(', ')} from IPAddressPool ${pool}${was}`,
    });
  }
  if (changed && ips.length === 0) {
    events.push({ type: 'Normal', reason: 'ClearAssignment', message: `Released ${current.join(', ')}` });
  }
  if (errors.length > 0 && (changed || !errors.every((e) => seenErrors.has(sameFailure(e))))) {
    events.push({
      type: 'Warning',
      reason: 'AllocationFailed',
      message: errors.map((e) => e.message).join('; '),
    });
  }
  for (const w of warnings) {
    if (seenWarnings.has(`${w.field} ${w.message}`)) continue;
    events.push({ type: 'Warning', reason: 'DeprecatedAnnotation', message: `${w.field}: ${w.message}` });
  }
  return { ...base, ips, pool, errors, warnings, events, changed };
}
