/**
 * Turns a Service into what the allocator needs to know: which families, which requested IPs, which
 * pool, the sharing key and what sharing must respect (ports, traffic policy, selector). User mistakes
 * become Problems naming the Service, the field and the fix; MetalLB annotation spellings are honoured
 * with a warning naming the replacement.
 */

import { type Problem, ProblemCollector } from '../../shared/errors.ts';
import { type Family, type Ip, parseIp } from '../../shared/ip.ts';
import type { CodeIn } from '../../shared/problems.ts';
import { ANNOTATION_PREFIX } from '../api-names.ts';
import type { ServiceObject } from '../model/kubernetes.ts';
import type { Labels } from '../pools/label-selector.ts';
import type { ServiceIdentity } from '../pools/pool.ts';

/** Our annotation prefix; `metallb.io/` and `metallb.universe.tf/` are read too, with a warning. */
const LEGACY_PREFIXES = ['metallb.io/', 'metallb.universe.tf/'] as const;

/** Annotation names (without prefix) that the allocator reads. */
export const ANNOTATIONS = {
  loadBalancerIPs: 'loadBalancerIPs',
  addressPool: 'address-pool',
  allowSharedIp: 'allow-shared-ip',
} as const;

/** Kubernetes `spec.ipFamilyPolicy`. */
export type IpFamilyPolicy = 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';

/** One Service port as far as IP sharing cares. */
export interface ServicePort {
  readonly protocol: string;
  readonly port: number;
}

/** Everything the allocator needs about one Service; built once per Service, never mutated. */
export interface AllocationRequest extends ServiceIdentity {
  /** `namespace/name`. */
  readonly key: string;
  readonly name: string;
  /** creationTimestamp in ms; older Services are served first when they compete. */
  readonly created: number | null;
  readonly policy: IpFamilyPolicy;
  /**
   * Families wanted, primary first. With requested IPs these are exactly their families. For
   * PreferDualStack the second family is wanted but not required.
   */
  readonly families: readonly Family[];
  /** Specific IPs asked for (0 to 2, at most one per family). */
  readonly requestedIps: readonly Ip[];
  /** Pool named by the address-pool annotation. */
  readonly pool: string | null;
  /** The allow-shared-ip key; null means the Service never shares its IPs. */
  readonly sharingKey: string | null;
  readonly ports: readonly ServicePort[];
  readonly trafficPolicy: 'Cluster' | 'Local';
  /** Services may share an IP only with an equal backend key: the policy, and for Local the selector. */
  readonly backendKey: string;
  /** IPs the Service holds now, from status.loadBalancer.ingress. */
  readonly currentIps: readonly Ip[];
}

/** Outcome of reading one Service. */
export type ServiceReading =
  /** Not ours to allocate for: not a LoadBalancer, or another loadBalancerClass. */
  | {
      readonly kind: 'ignored';
      readonly key: string;
      readonly reason: string;
      readonly currentIps: readonly Ip[];
    }
  | { readonly kind: 'request'; readonly request: AllocationRequest; readonly warnings: readonly Problem[] }
  | {
      readonly kind: 'invalid';
      readonly key: string;
      readonly problems: readonly Problem[];
      readonly warnings: readonly Problem[];
      readonly currentIps: readonly Ip[];
    };

/** Options of `readService`. */
export interface ServiceReadOptions {
  /** Serve only Services of this loadBalancerClass; unset serves only Services without a class. */
  readonly lbClass?: string | null;
}

const POLICIES: readonly IpFamilyPolicy[] = ['SingleStack', 'PreferDualStack', 'RequireDualStack'];
const FAMILY_NAMES: Record<string, Family> = { IPv4: 4, IPv6: 6 };

/** `IPv4` / `IPv6`, as Kubernetes spells families. */
export function familyName(f: Family): string {
  return f === 4 ? 'IPv4' : 'IPv6';
}

/** `namespace/name` of a Service. */

/** Collects problems and warnings about one Service. */
class ServiceChecker extends ProblemCollector {
  private readonly annotations: Readonly<Record<string, string>>;
  constructor(object: string, annotations: Readonly<Record<string, string>>) {
    super(object);
    this.annotations = annotations;
  }

  problem(field: string, value: unknown, code: CodeIn<'service'>, message: string): void {
    this.report(`service.${code}`, field, value, message);
  }

  /**
   * Read an annotation under our prefix, else a MetalLB spelling with a warning naming ours. When both
   * are set, ours wins and the other is reported as ignored.
   */
  annotation(name: string): { value: string; field: string } | null {
    const ours = `${ANNOTATION_PREFIX}${name}`;
    const field = (k: string) => `metadata.annotations["${k}"]`;
    let found: { value: string; field: string } | null = null;
    if (Object.hasOwn(this.annotations, ours))
      found = { value: this.annotations[ours] ?? '', field: field(ours) };
    for (const prefix of LEGACY_PREFIXES) {
      const legacy = `${prefix}${name}`;
      if (!Object.hasOwn(this.annotations, legacy)) continue;
      const value = this.annotations[legacy] ?? '';
      this.report(
        'service.deprecated-annotation',
        field(legacy),
        value,
        found
          ? `ignored because ${ours} is also set; remove ${legacy}`
          : `read as ${ours}; rename the annotation to ${ours}`,
      );
      if (!found) found = { value, field: field(legacy) };
    }
    return found;
  }
}

/** `metadata.creationTimestamp` in ms; null when unset or unreadable. */
export function createdAt(svc: ServiceObject): number | null {
  const t: unknown = svc.metadata?.creationTimestamp;
  const ms = t instanceof Date ? t.getTime() : typeof t === 'string' ? Date.parse(t) : Number.NaN;
  return Number.isFinite(ms) ? ms : null;
}

function readRequestedIps(c: ServiceChecker, svc: ServiceObject): Ip[] {
  const specIp = svc.spec?.loadBalancerIP;
  const ann = c.annotation(ANNOTATIONS.loadBalancerIPs);
  const hasSpecIp = typeof specIp === 'string' && specIp.trim() !== '';
  if (hasSpecIp && ann && ann.value.trim() !== '') {
    c.problem(
      'spec.loadBalancerIP',
      specIp,
      'conflicting-ip-request',
      `is set together with ${ann.field}; keep only the annotation (spec.loadBalancerIP is deprecated)`,
    );
    return [];
  }
  const source = hasSpecIp
    ? { value: specIp as string, field: 'spec.loadBalancerIP' }
    : ann && ann.value.trim() !== ''
      ? ann
      : null;
  if (!source) return [];
  const out: Ip[] = [];
  for (const part of source.value.split(',')) {
    const ip = parseIp(part);
    if (!ip) {
      c.problem(source.field, part.trim(), 'invalid-ip', 'must be IP addresses separated by commas');
      continue;
    }
    if (out.some((o) => o.family === ip.family)) {
      c.problem(
        source.field,
        source.value,
        'duplicate-family',
        `asks for two ${familyName(ip.family)} addresses; list at most one IPv4 and one IPv6`,
      );
      continue;
    }
    out.push(ip);
  }
  return out;
}

function readFamilies(
  c: ServiceChecker,
  svc: ServiceObject,
  policy: IpFamilyPolicy,
  requested: readonly Ip[],
): Family[] {
  const listed: Family[] = [];
  const rawFamilies = svc.spec?.ipFamilies ?? [];
  for (const name of Array.isArray(rawFamilies) ? rawFamilies : [rawFamilies]) {
    const f = FAMILY_NAMES[String(name)];
    if (!f) c.problem('spec.ipFamilies', name, 'invalid-ip-families', 'each entry must be IPv4 or IPv6');
    else if (listed.includes(f))
      c.problem('spec.ipFamilies', rawFamilies, 'invalid-ip-families', 'lists a family twice');
    else listed.push(f);
  }
  if (listed.length === 0) {
    // No ipFamilies (a manifest, or an old object): fall back on what the cluster IPs show.
    const clusterIps = svc.spec?.clusterIPs ?? (svc.spec?.clusterIP ? [svc.spec.clusterIP] : []);
    for (const text of clusterIps) {
      const ip = parseIp(String(text));
      if (ip && !listed.includes(ip.family)) listed.push(ip.family);
    }
  }
  if (listed.length === 0) for (const ip of requested) listed.push(ip.family);
  if (listed.length === 0) listed.push(4);
  const primary = listed[0] as Family;
  const other: Family = primary === 4 ? 6 : 4;
  switch (policy) {
    case 'SingleStack':
      return [primary];
    case 'RequireDualStack':
      return [primary, other];
    case 'PreferDualStack':
      return svc.spec?.ipFamilies?.length || svc.spec?.clusterIPs?.length ? listed : [primary, other];
  }
}

function checkRequestedFamilies(
  c: ServiceChecker,
  policy: IpFamilyPolicy,
  families: readonly Family[],
  requested: readonly Ip[],
): Family[] {
  if (requested.length === 0) return [...families];
  const field = 'loadBalancer IPs';
  for (const ip of requested) {
    if (!families.includes(ip.family)) {
      c.problem(
        field,
        ip.text,
        'family-mismatch',
        `is ${familyName(ip.family)} but the Service's IP families are ${families.map(familyName).join(', ')}; request an address of those families or change spec.ipFamilies`,
      );
    }
  }
  if (policy === 'RequireDualStack' && requested.length < 2) {
    c.problem(
      field,
      requested.map((i) => i.text).join(','),
      'family-mismatch',
      'RequireDualStack needs one IPv4 and one IPv6 address; request both or none',
    );
  }
  // Requested IPs decide the families, in the Service's family order.
  return families.filter((f) => requested.some((ip) => ip.family === f));
}

function readPorts(c: ServiceChecker, svc: ServiceObject): ServicePort[] {
  const out: ServicePort[] = [];
  (svc.spec?.ports ?? []).forEach((p, i) => {
    const port = p?.port;
    const protocol = p?.protocol ?? 'TCP';
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      c.problem(`spec.ports[${i}].port`, port, 'invalid-port', 'must be an integer port 1-65535');
    } else if (!['TCP', 'UDP', 'SCTP'].includes(protocol)) {
      c.problem(`spec.ports[${i}].protocol`, protocol, 'invalid-protocol', 'must be TCP, UDP or SCTP');
    } else out.push({ protocol, port });
  });
  return out;
}

/** Canonical `k=v,k=v` text of a selector, so equal selectors compare equal as strings. */
export function selectorText(selector: Labels | undefined): string {
  return Object.entries(selector ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** What allocation takes from a Service before its namespace's labels and the class filter apply. */
export interface AllocationView {
  readonly problems: readonly Problem[];
  readonly warnings: readonly Problem[];
  /** Null when there are problems. */
  readonly request: Omit<AllocationRequest, 'namespaceLabels'> | null;
}

/** Read what allocation needs from `svc` (key `key`, holding `currentIps`), from the Service alone. */
export function readAllocation(svc: ServiceObject, key: string, currentIps: readonly Ip[]): AllocationView {
  const namespace = svc.metadata?.namespace ?? 'default';
  const c = new ServiceChecker(`Service ${key}`, svc.metadata?.annotations ?? {});
  const rawPolicy = svc.spec?.ipFamilyPolicy ?? 'SingleStack';
  let policy: IpFamilyPolicy = 'SingleStack';
  if (POLICIES.includes(rawPolicy as IpFamilyPolicy)) policy = rawPolicy as IpFamilyPolicy;
  else
    c.problem('spec.ipFamilyPolicy', rawPolicy, 'invalid-ip-family-policy', `must be ${POLICIES.join(', ')}`);
  const requestedIps = readRequestedIps(c, svc);
  const families = checkRequestedFamilies(
    c,
    policy,
    readFamilies(c, svc, policy, requestedIps),
    requestedIps,
  );
  const poolAnn = c.annotation(ANNOTATIONS.addressPool);
  const shareAnn = c.annotation(ANNOTATIONS.allowSharedIp);
  const ports = readPorts(c, svc);
  const rawEtp = svc.spec?.externalTrafficPolicy ?? 'Cluster';
  let trafficPolicy: 'Cluster' | 'Local' = 'Cluster';
  if (rawEtp === 'Local' || rawEtp === 'Cluster') trafficPolicy = rawEtp;
  else c.problem('spec.externalTrafficPolicy', rawEtp, 'invalid-traffic-policy', 'must be Cluster or Local');
  if (c.problems.length > 0) return { problems: c.problems, warnings: c.warnings, request: null };
  const request: Omit<AllocationRequest, 'namespaceLabels'> = {
    key,
    namespace,
    name: svc.metadata?.name ?? '',
    created: createdAt(svc),
    labels: svc.metadata?.labels ?? {},
    policy,
    families,
    requestedIps,
    pool: poolAnn && poolAnn.value.trim() !== '' ? poolAnn.value.trim() : null,
    sharingKey: shareAnn && shareAnn.value !== '' ? shareAnn.value : null,
    ports,
    trafficPolicy,
    backendKey: trafficPolicy === 'Local' ? `Local:${selectorText(svc.spec?.selector)}` : 'Cluster',
    currentIps,
  };
  return { problems: [], warnings: c.warnings, request };
}
