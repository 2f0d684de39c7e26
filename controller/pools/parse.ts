/**
 * Parses IPAddressPool objects (ours, `switchyard.io/v1beta1`, or MetalLB's `metallb.io/v1beta1`) once,
 * at the boundary, into the immutable Pool model. A bad pool never stops good pools from parsing: the
 * result holds every valid pool plus a problem for each thing refused, naming the pool, the field, the
 * entry and the fix.
 */

import { type Problem, ProblemCollector, show } from '../../shared/errors.ts';
import { formatIp, parseCidr, parseIp, parseIpRangeText, rangesOverlap } from '../../shared/ip.ts';
import type { CodeIn } from '../../shared/problems.ts';
import { POOL_API_VERSIONS } from '../api-names.ts';
import { compileSelector, type LabelSelector } from './label-selector.ts';
import type { Pool, PoolRange, ServiceAllocation } from './pool.ts';

/** The API versions read as IPAddressPool. */

/** What `parsePools` returns: the valid pools (sorted by name), refusals, and non-fatal notes. */
export interface PoolParseResult {
  readonly pools: readonly Pool[];
  /** Each problem refused a whole pool (or kept its last valid version, see `keptLastValid`). */
  readonly problems: readonly Problem[];
  /** Accepted with a change or a note: host bits masked, MetalLB apiVersion, unknown fields. */
  readonly warnings: readonly Problem[];
  /** Pools whose new spec was refused and whose last valid version (from `lastValid`) is used instead. */
  readonly keptLastValid: readonly string[];
}

/** Options for `parsePools`. */
export interface PoolParseOptions {
  /**
   * Pools from the last successful parse. A pool whose edit is refused keeps its last valid version,
   * so a typo in a pool does not release every IP it holds.
   */
  readonly lastValid?: readonly Pool[];
}

type Obj = Record<string, unknown>;

const SPEC_FIELDS = new Set(['addresses', 'autoAssign', 'avoidBuggyIPs', 'serviceAllocation']);
const ALLOCATION_FIELDS = new Set(['priority', 'namespaces', 'namespaceSelectors', 'serviceSelectors']);
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A pool that parsed on its own, before overlaps between pools are checked. */
interface Candidate {
  readonly pool: Pool;
  readonly index: number;
  readonly created: number | null;
}

/** Collects the problems and warnings of one pool object. */
class PoolChecker extends ProblemCollector {
  problem(field: string, value: unknown, code: CodeIn<'pool'>, message: string): void {
    this.report(`pool.${code}`, field, value, message);
  }

  warning(field: string, value: unknown, code: CodeIn<'pool'>, message: string): void {
    this.report(`pool.${code}`, field, value, message);
  }

  bool(raw: Obj, key: string, fallback: boolean): boolean {
    const v = raw[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') {
      this.problem(`spec.${key}`, v, 'invalid-type', `must be true or false (default ${fallback})`);
      return fallback;
    }
    return v;
  }
}

/** Parse one `spec.addresses` entry into a range; a CIDR with host bits set is masked with a warning. */
function parseAddress(c: PoolChecker, entry: unknown, field: string): PoolRange | null {
  if (typeof entry !== 'string' || entry.trim() === '') {
    c.problem(field, entry, 'invalid-address', 'must be a CIDR such as 192.0.2.0/28 or a range a-b');
    return null;
  }
  const text = entry.trim();
  if (text.includes('-')) {
    const r = parseIpRangeText(text);
    if (!r) {
      c.problem(
        field,
        entry,
        'invalid-address',
        'range ends must be IP addresses, e.g. 192.0.2.10-192.0.2.20',
      );
      return null;
    }
    if (r.start.family !== r.end.family) {
      c.problem(
        field,
        entry,
        'mixed-family-range',
        'both ends of a range must be of one family; write IPv4 and IPv6 as separate entries',
      );
      return null;
    }
    if (r.start.value > r.end.value) {
      c.problem(
        field,
        entry,
        'reversed-range',
        `the first address is after the last; write ${r.end.text}-${r.start.text}`,
      );
      return null;
    }
    return { family: r.start.family, first: r.start.value, last: r.end.value, entry: text };
  }
  const cidr = parseCidr(text);
  if (!cidr) {
    const single = parseIp(text);
    const hint = single
      ? ` (a single address is written ${single.text}/${single.family === 4 ? 32 : 128})`
      : '';
    c.problem(field, entry, 'invalid-address', `must be a CIDR such as 192.0.2.0/28 or a range a-b${hint}`);
    return null;
  }
  if (cidr.hostBitsSet) {
    c.warning(
      field,
      entry,
      'host-bits-set',
      `host bits are set; the pool uses ${cidr.text} (${formatIp(cidr.family, cidr.first)} to ${formatIp(cidr.family, cidr.last)}); write ${cidr.text}`,
    );
  }
  return { family: cidr.family, first: cidr.first, last: cidr.last, entry: text };
}

function parseStringList(c: PoolChecker, raw: unknown, field: string, check: RegExp, what: string): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    c.problem(field, raw, 'invalid-type', `must be a list of ${what}`);
    return [];
  }
  const out: string[] = [];
  raw.forEach((v: unknown, i: number) => {
    if (typeof v !== 'string' || !check.test(v))
      c.problem(`${field}[${i}]`, v, 'invalid-value', `must be ${what}`);
    else out.push(v);
  });
  return out;
}

function parseSelectors(c: PoolChecker, raw: unknown, field: string): LabelSelector[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    c.problem(field, raw, 'invalid-selector', 'must be a list of label selectors');
    return [];
  }
  const out: LabelSelector[] = [];
  raw.forEach((s: unknown, i: number) => {
    const { selector, problems } = compileSelector(s, { object: c.object, field: `${field}[${i}]` });
    c.problems.push(...problems);
    if (selector) out.push(selector);
  });
  return out;
}

function parseServiceAllocation(c: PoolChecker, raw: unknown): ServiceAllocation | null {
  if (raw === undefined || raw === null) return null;
  const f = 'spec.serviceAllocation';
  if (!isObj(raw)) {
    c.problem(
      f,
      raw,
      'invalid-type',
      'must be a mapping {priority, namespaces, namespaceSelectors, serviceSelectors}',
    );
    return null;
  }
  for (const k of Object.keys(raw)) {
    if (!ALLOCATION_FIELDS.has(k)) {
      c.problem(
        `${f}.${k}`,
        raw[k],
        'unknown-field',
        `unknown field; allowed: ${[...ALLOCATION_FIELDS].join(', ')}`,
      );
    }
  }
  let priority: number | null = null;
  const p = raw['priority'];
  if (p !== undefined && p !== null) {
    if (typeof p !== 'number' || !Number.isSafeInteger(p) || p < 0) {
      c.problem(`${f}.priority`, p, 'invalid-priority', 'must be a whole number >= 0 (lower is tried first)');
    } else if (p > 0) priority = p;
  }
  return {
    priority,
    namespaces: parseStringList(c, raw['namespaces'], `${f}.namespaces`, DNS_LABEL, 'namespace names'),
    namespaceSelectors: parseSelectors(c, raw['namespaceSelectors'], `${f}.namespaceSelectors`),
    serviceSelectors: parseSelectors(c, raw['serviceSelectors'], `${f}.serviceSelectors`),
  };
}

function createdAt(meta: Obj): number | null {
  const t = meta['creationTimestamp'];
  const ms = t instanceof Date ? t.getTime() : typeof t === 'string' ? Date.parse(t) : Number.NaN;
  return Number.isFinite(ms) ? ms : null;
}

/** Parse one object on its own: its fields and the overlaps between its own entries. */
function parseOne(raw: unknown, index: number): { candidate: Candidate | null; checker: PoolChecker } {
  const meta = isObj(raw) && isObj(raw['metadata']) ? raw['metadata'] : {};
  const name = typeof meta['name'] === 'string' ? meta['name'] : '';
  const c = new PoolChecker(name ? `IPAddressPool ${name}` : `IPAddressPool #${index}`);
  if (!isObj(raw)) {
    c.problem('', raw, 'invalid-type', 'must be an IPAddressPool object');
    return { candidate: null, checker: c };
  }
  const apiVersion = raw['apiVersion'];
  if (
    apiVersion !== undefined &&
    !POOL_API_VERSIONS.includes(apiVersion as (typeof POOL_API_VERSIONS)[number])
  ) {
    c.problem('apiVersion', apiVersion, 'invalid-api-version', `must be ${POOL_API_VERSIONS.join(' or ')}`);
  } else if (apiVersion === 'metallb.io/v1beta1') {
    c.warning(
      'apiVersion',
      apiVersion,
      'metallb-api-version',
      'read as switchyard.io/v1beta1; change apiVersion to it',
    );
  }
  if (raw['kind'] !== undefined && raw['kind'] !== 'IPAddressPool') {
    c.problem('kind', raw['kind'], 'invalid-kind', 'must be IPAddressPool');
  }
  if (!name || name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    c.problem(
      'metadata.name',
      meta['name'],
      'invalid-name',
      'must be a DNS subdomain name such as "prod-v4"',
    );
  }
  const spec = raw['spec'];
  if (!isObj(spec)) {
    c.problem('spec', spec, 'invalid-type', 'must be a mapping with at least spec.addresses');
    return { candidate: null, checker: c };
  }
  for (const k of Object.keys(spec)) {
    if (!SPEC_FIELDS.has(k)) c.warning(`spec.${k}`, spec[k], 'unknown-field', 'unknown field, ignored');
  }
  const addresses = spec['addresses'];
  const ranges: PoolRange[] = [];
  if (!Array.isArray(addresses) || addresses.length === 0) {
    c.problem('spec.addresses', addresses, 'empty-addresses', 'list at least one CIDR or a-b range');
  } else {
    addresses.forEach((entry: unknown, i: number) => {
      const r = parseAddress(c, entry, `spec.addresses[${i}]`);
      if (!r) return;
      const clash = ranges.find((o) => rangesOverlap(o, r));
      if (clash) {
        c.problem(
          `spec.addresses[${i}]`,
          entry,
          'overlap',
          `overlaps ${clash.entry} in the same pool; remove one of them or make them disjoint`,
        );
      } else ranges.push(r);
    });
  }
  const autoAssign = c.bool(spec, 'autoAssign', true);
  const avoidBuggyIPs = c.bool(spec, 'avoidBuggyIPs', false);
  const serviceAllocation = parseServiceAllocation(c, spec['serviceAllocation']);
  if (c.problems.length > 0) return { candidate: null, checker: c };
  ranges.sort((a, b) => a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  return {
    candidate: {
      pool: { name, autoAssign, avoidBuggyIPs, ranges, serviceAllocation },
      index,
      created: createdAt(meta),
    },
    checker: c,
  };
}

/**
 * Parse every pool object. Where two pools overlap, the older one (creationTimestamp, else earlier in
 * the input) is kept and the other refused, so adding a bad pool never disturbs a working one.
 */
export function parsePools(objects: readonly unknown[], options: PoolParseOptions = {}): PoolParseResult {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const keptLastValid: string[] = [];
  const lastValid = new Map((options.lastValid ?? []).map((p) => [p.name, p]));
  const candidates: Candidate[] = [];
  const names = new Set<string>();
  objects.forEach((raw, index) => {
    const { candidate, checker } = parseOne(raw, index);
    problems.push(...checker.problems);
    warnings.push(...checker.warnings);
    const meta = isObj(raw) && isObj(raw['metadata']) ? raw['metadata'] : {};
    const name = typeof meta['name'] === 'string' ? meta['name'] : '';
    if (name && names.has(name)) {
      problems.push({
        code: 'pool.duplicate-name',
        object: `IPAddressPool ${name}`,
        field: 'metadata.name',
        value: show(name),
        message: 'another pool already has this name; the first one is used',
      });
      return;
    }
    if (name) names.add(name);
    if (candidate) candidates.push(candidate);
    else {
      const previous = lastValid.get(name);
      if (previous) {
        keptLastValid.push(name);
        candidates.push({ pool: previous, index, created: createdAt(meta) });
      }
    }
  });
  // Older pools claim their addresses first; sorting by (created, index) makes that deterministic.
  candidates.sort(
    (a, b) =>
      (a.created ?? Number.POSITIVE_INFINITY) - (b.created ?? Number.POSITIVE_INFINITY) || a.index - b.index,
  );
  const accepted: Pool[] = [];
  for (const cand of candidates) {
    const clash = findOverlap(cand.pool, accepted);
    if (clash) {
      problems.push({
        code: 'pool.overlap',
        object: `IPAddressPool ${cand.pool.name}`,
        field: 'spec.addresses',
        value: show(clash.mine.entry),
        message: `overlaps ${clash.other.entry} of IPAddressPool ${clash.pool.name}, which came first (older, or earlier in the input) and keeps them; make the pools disjoint`,
      });
      continue;
    }
    accepted.push(cand.pool);
  }
  accepted.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { pools: accepted, problems, warnings, keptLastValid };
}

function findOverlap(
  pool: Pool,
  accepted: readonly Pool[],
): { mine: PoolRange; other: PoolRange; pool: Pool } | null {
  for (const other of accepted) {
    for (const mine of pool.ranges) {
      const hit = other.ranges.find((r) => rangesOverlap(r, mine));
      if (hit) return { mine, other: hit, pool: other };
    }
  }
  return null;
}
