/**
 * The IP allocator: a plain data structure, no I/O, in the manner of MetalLB's allocator. It knows the
 * pools and which Service holds which IP, and it enforces every rule on every change: an IP must lie
 * in a pool that serves the Service, and two Services share an IP only when MetalLB's sharing rules
 * allow it (same allow-shared-ip key, no common protocol/port, same traffic policy and, for Local, the
 * same selector). Failures are Problem values that name the Service, the IP and the other Service.
 */
import type { Problem } from '../../shared/errors.ts';
import { countBuggyIPv4, type Family, formatIp, type Ip, rangeSize } from '../../shared/ip.ts';
import { comparePoolsForAllocation, type Pool, poolRefusal } from '../pools/pool.ts';
import { type AllocationRequest, familyName, type ServicePort } from '../services/request.ts';
import { FreeAddresses } from './free-addresses.ts';
import { allocationProblem, placementProblem, refusalProblem, sharingProblem } from './rules.ts';

/** Either the IPs now held (and the pool of each) or the reason nothing changed. */
export type AssignResult =
  | { readonly ok: true; readonly ips: readonly Ip[]; readonly pools: readonly string[] }
  | { readonly ok: false; readonly problem: Problem };

/** Exact counts of one pool: distinct IPs, so an IP shared by several Services counts once. */
export interface PoolCounts {
  readonly name: string;
  readonly assignedIPv4: bigint;
  readonly availableIPv4: bigint;
  readonly assignedIPv6: bigint;
  readonly availableIPv6: bigint;
}

/** One Service's holding, as the allocator sees it. */
export interface Holding {
  readonly request: AllocationRequest;
  readonly ips: readonly Ip[];
  /** Pool of each IP, in the same order. */
  readonly pools: readonly string[];
}

/** Who uses one IP and under which sharing terms (all its Services have the same terms). */
interface IpUse {
  readonly ip: Ip;
  readonly pool: PoolState;
  sharingKey: string | null;
  backendKey: string;
  /** Service key to its ports. */
  readonly services: Map<string, readonly ServicePort[]>;
}

/** A pool with its finders and counters. */
interface PoolState {
  readonly pool: Pool;
  readonly free: Map<Family, FreeAddresses>;
  readonly usable: Record<Family, bigint>;
  readonly assigned: Record<Family, number>;
}

/** A range in the global lookup table, to find the pool of an IP by binary search. */
interface IndexedRange {
  readonly first: bigint;
  readonly last: bigint;
  readonly pool: PoolState;
}

/** IP allocation state for every Service this controller serves. */
export class Allocator {
  private pools = new Map<string, PoolState>();
  private readonly ranges: Record<Family, IndexedRange[]> = { 4: [], 6: [] };
  private readonly used: Record<Family, Map<bigint, IpUse>> = { 4: new Map(), 6: new Map() };
  private readonly holdings = new Map<string, { request: AllocationRequest; uses: IpUse[] }>();
  /** Sharing key to the IPs currently held under it, to find a shareable IP without a scan. */
  private readonly byKey = new Map<string, Set<IpUse>>();

  /** Start with `pools` and nothing assigned. */
  constructor(pools: readonly Pool[] = []) {
    this.installPools(pools);
  }

  /**
   * Replace the pools. Every holding is checked again under the new pools: IPs that are still in a pool
   * that serves the Service stay where they are, whatever the pool is now called (growing, renaming
   * and splitting move nothing); IPs that left every pool, became buggy under avoidBuggyIPs or are in a
   * pool that no longer serves the Service are released. Returns the Services that lost an IP.
   */
  setPools(pools: readonly Pool[]): string[] {
    const old = [...this.holdings.values()].map((h) => ({
      request: h.request,
      ips: h.uses.map((u) => u.ip),
    }));
    for (const m of Object.values(this.used)) m.clear();
    this.holdings.clear();
    this.byKey.clear();
    this.installPools(pools);
    const lost: string[] = [];
    old.sort((a, b) => (a.request.key < b.request.key ? -1 : 1));
    for (const { request, ips } of old) {
      const keep = ips.filter((ip) => this.placementProblem(request, ip) === null);
      if (keep.length < ips.length) lost.push(request.key);
      if (keep.length === 0) continue;
      const r = this.assign(request, keep);
      // The IPs shared legally before and pools do not change sharing terms, so this cannot fail.
      if (!r.ok)
        throw new Error(`allocator invariant: re-placing ${request.key} failed: ${r.problem.message}`);
    }
    return lost;
  }

  /** The current pools, sorted by name. */
  poolList(): Pool[] {
    return [...this.pools.values()].map((p) => p.pool);
  }

  /**
   * Give `req`'s Service exactly `ips` (at most one per family), replacing what it held. Checks every
   * rule first and changes nothing when one fails; giving a Service what it already holds is a no-op
   * that refreshes its ports and sharing terms.
   */
  assign(req: AllocationRequest, ips: readonly Ip[]): AssignResult {
    const families = new Set<Family>();
    for (const ip of ips) {
      if (families.has(ip.family)) {
        return {
          ok: false,
          problem: allocationProblem(
            req,
            'duplicate-family',
            ips.map((i) => i.text).join(','),
            'at most one IP per family',
          ),
        };
      }
      families.add(ip.family);
      const p = this.placementProblem(req, ip) ?? this.sharingProblem(req, ip);
      if (p) return { ok: false, problem: p };
    }
    // Drop only what is given up: an IP kept is updated in place rather than freed and re-taken.
    for (const use of this.holdings.get(req.key)?.uses ?? []) {
      if (!ips.some((ip) => ip.family === use.ip.family && ip.value === use.ip.value))
        this.drop(req.key, use);
    }
    const uses = ips.map((ip) => this.take(req, ip));
    if (uses.length > 0) this.holdings.set(req.key, { request: req, uses });
    else this.holdings.delete(req.key);
    return { ok: true, ips: uses.map((u) => u.ip), pools: uses.map((u) => u.pool.pool.name) };
  }

  /**
   * Choose and assign IPs for a Service: the requested IPs if it names any; else from its named pool;
   * else from the pools that serve it, pinned pools by priority first, then plain auto-assign pools;
   * in each pool an IP already shared under the Service's key first, then the lowest free address.
   * A Service that already holds valid IPs keeps them, and a partial dual-stack holding is completed
   * around the IP it keeps. On failure nothing changes.
   */
  allocate(req: AllocationRequest): AssignResult {
    if (req.requestedIps.length > 0) return this.assign(req, req.requestedIps);
    const h = this.holdings.get(req.key);
    const held = (h?.uses ?? []).filter((u) => this.placementProblem(req, u.ip) === null);
    if (held.length > 0 && req.families.every((f) => held.some((u) => u.ip.family === f))) {
      // Placed under this very request and still valid: others that joined since were checked against it.
      if (h?.request === req && held.length === h.uses.length) {
        return { ok: true, ips: held.map((u) => u.ip), pools: held.map((u) => u.pool.pool.name) };
      }
      const again = this.assign(
        req,
        held.map((u) => u.ip),
      );
      if (again.ok) return again;
    }
    const candidates = this.candidatePools(req);
    if (!candidates.ok) return candidates;
    if (held.length > 0) {
      const kept = this.complete(req, held, candidates.pools);
      if (kept?.ok) return kept;
    }
    const familySets: Family[][] =
      req.policy === 'PreferDualStack' && req.families.length === 2
        ? [[...req.families], [req.families[0] as Family], [req.families[1] as Family]]
        : [[...req.families]];
    for (const families of familySets) {
      for (const pool of candidates.pools) {
        const ips = this.pick(req, pool, families);
        if (ips) return this.assign(req, ips);
      }
    }
    const names = candidates.pools.map((p) => p.pool.name).join(', ');
    const what = req.families.map(familyName).join(' and ');
    const message =
      req.families.length === 2 && req.policy === 'RequireDualStack'
        ? `no IPAddressPool among ${names} has a free IPv4 and a free IPv6 address together; grow a pool or free an IP`
        : `no free ${what} address in IPAddressPool ${names}; grow a pool, add one, or free an IP`;
    return { ok: false, problem: allocationProblem(req, 'no-free-ip', names, message) };
  }

  /** Release one IP of a Service, keeping its others. Returns whether it held that IP. */
  release(key: string, ip: Ip): boolean {
    const h = this.holdings.get(key);
    const use = h?.uses.find((u) => u.ip.family === ip.family && u.ip.value === ip.value);
    if (!h || !use) return false;
    this.drop(key, use);
    const rest = h.uses.filter((u) => u !== use);
    if (rest.length === 0) this.holdings.delete(key);
    else this.holdings.set(key, { request: h.request, uses: rest });
    return true;
  }

  /** Release every IP of a Service (it was deleted, or stops being ours). Returns whether it held any. */
  unassign(key: string): boolean {
    const h = this.holdings.get(key);
    if (!h) return false;
    for (const use of h.uses) this.drop(key, use);
    this.holdings.delete(key);
    return true;
  }

  /** What a Service holds, or undefined. */
  holding(key: string): Holding | undefined {
    const h = this.holdings.get(key);
    return (
      h && { request: h.request, ips: h.uses.map((u) => u.ip), pools: h.uses.map((u) => u.pool.pool.name) }
    );
  }

  /** Every holding, in no particular order. */
  *allHoldings(): IterableIterator<Holding> {
    for (const key of this.holdings.keys()) yield this.holding(key) as Holding;
  }

  /** Keys of the Services on an IP. */
  servicesOn(ip: Ip): string[] {
    return [...(this.used[ip.family].get(ip.value)?.services.keys() ?? [])];
  }

  /** Name of the pool an IP lies in, or null. */
  poolOf(ip: Ip): string | null {
    return this.findPool(ip)?.pool.name ?? null;
  }

  /** Exact counts of every pool, sorted by name. */
  counts(): PoolCounts[] {
    return [...this.pools.values()].map((s) => ({
      name: s.pool.name,
      assignedIPv4: BigInt(s.assigned[4]),
      availableIPv4: s.usable[4] - BigInt(s.assigned[4]),
      assignedIPv6: BigInt(s.assigned[6]),
      availableIPv6: s.usable[6] - BigInt(s.assigned[6]),
    }));
  }

  private installPools(pools: readonly Pool[]): void {
    this.pools = new Map();
    this.ranges[4] = [];
    this.ranges[6] = [];
    for (const pool of [...pools].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const state: PoolState = { pool, free: new Map(), usable: { 4: 0n, 6: 0n }, assigned: { 4: 0, 6: 0 } };
      for (const f of [4, 6] as const) {
        const rs = pool.ranges.filter((r) => r.family === f);
        if (rs.length === 0) continue;
        state.free.set(f, new FreeAddresses(rs, pool.avoidBuggyIPs, (v) => this.used[f].has(v)));
        for (const r of rs) {
          state.usable[f] += rangeSize(r) - (pool.avoidBuggyIPs ? countBuggyIPv4(r) : 0n);
          this.ranges[f].push({ first: r.first, last: r.last, pool: state });
        }
      }
      this.pools.set(pool.name, state);
    }
    for (const f of [4, 6] as const) this.ranges[f].sort((a, b) => (a.first < b.first ? -1 : 1));
  }

  /** Why `ip` may not be placed on `req`'s Service regardless of other Services, or null. */
  placementProblem(req: AllocationRequest, ip: Ip): Problem | null {
    return placementProblem(req, ip, this.findPool(ip)?.pool ?? null);
  }

  /** Why `req`'s Service may not use `ip` alongside the Services already on it, or null. */
  sharingProblem(req: AllocationRequest, ip: Ip): Problem | null {
    return sharingProblem(req, ip, this.used[ip.family].get(ip.value));
  }

  private findPool(ip: Ip): PoolState | null {
    const rs = this.ranges[ip.family];
    let lo = 0;
    let hi = rs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = rs[mid] as IndexedRange;
      if (ip.value < r.first) hi = mid - 1;
      else if (ip.value > r.last) lo = mid + 1;
      else return r.pool;
    }
    return null;
  }

  private candidatePools(
    req: AllocationRequest,
  ): { ok: true; pools: PoolState[] } | { ok: false; problem: Problem } {
    if (req.pool !== null) {
      const state = this.pools.get(req.pool);
      if (!state) {
        return {
          ok: false,
          problem: allocationProblem(
            req,
            'unknown-pool',
            req.pool,
            `the address-pool annotation names IPAddressPool ${req.pool}, which does not exist (or was refused)`,
          ),
        };
      }
      const refusal = poolRefusal(state.pool, req);
      if (refusal) return { ok: false, problem: refusalProblem(req, state.pool, refusal, req.pool) };
      return { ok: true, pools: [state] };
    }
    const auto = [...this.pools.values()].filter((s) => s.pool.autoAssign);
    const pools = auto.filter((s) => poolRefusal(s.pool, req) === null);
    pools.sort((a, b) => comparePoolsForAllocation(a.pool, b.pool));
    if (pools.length === 0) {
      const message =
        this.pools.size === 0
          ? 'there is no IPAddressPool; create one'
          : auto.length === 0
            ? 'no IPAddressPool has autoAssign; name one with the address-pool annotation'
            : `no auto-assign IPAddressPool serves namespace ${req.namespace} or Services with these labels; see the pools' spec.serviceAllocation`;
      return {
        ok: false,
        problem: allocationProblem(
          req,
          auto.length === 0 ? 'no-pool' : 'pool-not-allowed',
          req.namespace,
          message,
        ),
      };
    }
    return { ok: true, pools };
  }

  /**
   * Add the missing families to a partial holding without moving the IPs it keeps, from a pool it
   * already uses (where automatic allocation may use it), as a fresh dual-stack pair also comes from one
   * pool: so completing gives what a fresh allocation would. PreferDualStack keeps a single family when
   * that pool cannot add the other; RequireDualStack gets null and falls back to a fresh pair.
   */
  private complete(
    req: AllocationRequest,
    held: readonly IpUse[],
    candidates: readonly PoolState[],
  ): AssignResult | null {
    const ips = held.map((u) => u.ip);
    const order = [...new Set(held.map((u) => u.pool).filter((p) => candidates.includes(p)))];
    for (const f of req.families) {
      if (ips.some((ip) => ip.family === f)) continue;
      let found: Ip | null = null;
      for (const pool of order) {
        found = this.pick(req, pool, [f])?.[0] ?? null;
        if (found) break;
      }
      if (found) ips.push(found);
      else if (req.policy !== 'PreferDualStack') return null;
    }
    ips.sort((a, b) => req.families.indexOf(a.family) - req.families.indexOf(b.family));
    return this.assign(req, ips);
  }

  /** IPs of `families` from one pool, or null when the pool cannot give all of them. */
  private pick(req: AllocationRequest, state: PoolState, families: readonly Family[]): Ip[] | null {
    const out: Ip[] = [];
    for (const f of families) {
      const shared = this.shareable(req, state, f);
      if (shared) {
        out.push(shared);
        continue;
      }
      const v = state.free.get(f)?.lowest() ?? null;
      if (v === null) return null;
      out.push({ family: f, value: v, text: formatIp(f, v) });
    }
    return out;
  }

  /** The lowest IP of this pool and family already held under the Service's key that it may join. */
  private shareable(req: AllocationRequest, state: PoolState, family: Family): Ip | null {
    if (req.sharingKey === null) return null;
    let best: Ip | null = null;
    for (const use of this.byKey.get(req.sharingKey) ?? []) {
      if (use.pool !== state || use.ip.family !== family) continue;
      if (best && use.ip.value >= best.value) continue;
      if (this.sharingProblem(req, use.ip) === null) best = use.ip;
    }
    return best;
  }

  private take(req: AllocationRequest, ip: Ip): IpUse {
    let use = this.used[ip.family].get(ip.value);
    if (!use) {
      const state = this.findPool(ip) as PoolState;
      use = { ip, pool: state, sharingKey: req.sharingKey, backendKey: req.backendKey, services: new Map() };
      this.used[ip.family].set(ip.value, use);
      state.assigned[ip.family]++;
    }
    if (use.sharingKey !== req.sharingKey) {
      // Only reachable when the Service is alone on the IP (sharingProblem allowed it).
      if (use.sharingKey !== null) this.forgetKey(use);
      use.sharingKey = req.sharingKey;
    }
    use.backendKey = req.backendKey;
    if (use.sharingKey !== null) {
      const set = this.byKey.get(use.sharingKey) ?? new Set<IpUse>();
      this.byKey.set(use.sharingKey, set);
      set.add(use);
    }
    use.services.set(req.key, req.ports);
    return use;
  }

  private drop(key: string, use: IpUse): void {
    use.services.delete(key);
    if (use.services.size > 0) return;
    const { ip, pool } = use;
    this.used[ip.family].delete(ip.value);
    pool.assigned[ip.family]--;
    if (use.sharingKey !== null) this.forgetKey(use);
    pool.free.get(ip.family)?.released(ip.value);
  }

  private forgetKey(use: IpUse): void {
    if (use.sharingKey === null) return;
    const set = this.byKey.get(use.sharingKey);
    set?.delete(use);
    if (set?.size === 0) this.byKey.delete(use.sharingKey);
  }
}
