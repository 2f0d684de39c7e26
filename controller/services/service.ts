/**
 * A Service read once. Everything the core takes from a Service object is read here by one
 * function and kept with the problems found: what allocation needs (`request.ts`) and what the
 * forwarding table needs (`table-view.ts`). `allocateAll` and `compileTable` both take their part
 * from it. The objects are immutable (the informers' are frozen, a manifest's are never written),
 * so a Service object is read once however many consumers ask, and read again only once replaced.
 */
import { type Ip, parseIp } from '../../shared/ip.ts';
import { serviceKey } from '../api-names.ts';
import type { ServiceObject } from '../model/kubernetes.ts';
import type { Labels } from '../pools/label-selector.ts';
import {
  type AllocationView,
  createdAt,
  readAllocation,
  type ServiceReading,
  type ServiceReadOptions,
} from './request.ts';
import { readTableView, type TableView } from './table-view.ts';

/** One Service, read. */
export interface ParsedService {
  /** `namespace/name`. */
  readonly key: string;
  /** `spec.type`; only `LoadBalancer` Services get IPs and listeners. */
  readonly type: string | undefined;
  readonly loadBalancerClass: string | null;
  /** creationTimestamp in ms; null when unset. */
  readonly created: number | null;
  /** IPs the Service holds now, from status.loadBalancer.ingress. */
  readonly currentIps: readonly Ip[];
  readonly allocation: AllocationView;
  readonly table: TableView;
}

const parsed = new WeakMap<ServiceObject, ParsedService>();

/** The IPs a Service's status says it holds, in order; hostnames and junk are skipped. */
export function statusIps(svc: ServiceObject): Ip[] {
  const out: Ip[] = [];
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
    const ip = typeof ing?.ip === 'string' ? parseIp(ing.ip) : null;
    if (ip && !out.some((o) => o.value === ip.value && o.family === ip.family)) out.push(ip);
  }
  return out;
}

/** Read `svc`, or give what it read before. */
export function parseService(svc: ServiceObject): ParsedService {
  const known = parsed.get(svc);
  if (known) return known;
  const key = serviceKey(svc);
  const currentIps = statusIps(svc);
  const result: ParsedService = {
    key,
    type: svc.spec?.type,
    loadBalancerClass: svc.spec?.loadBalancerClass ?? null,
    created: createdAt(svc),
    currentIps,
    allocation: readAllocation(svc, key, currentIps),
    table: readTableView(svc, key),
  };
  parsed.set(svc, result);
  return result;
}

/**
 * Read one Service for allocation. `namespaceLabels` are its namespace's labels;
 * `kubernetes.io/metadata.name` is added when missing, as the API server does, so manifests without
 * Namespace objects behave alike.
 */
export function readService(
  svc: ServiceObject,
  namespaceLabels: Labels,
  options: ServiceReadOptions = {},
): ServiceReading {
  const { key, type, loadBalancerClass: cls, currentIps, allocation } = parseService(svc);
  if (type !== 'LoadBalancer') return { kind: 'ignored', key, reason: 'not a LoadBalancer', currentIps };
  const want = options.lbClass ?? null;
  if (cls !== want) {
    const reason = want
      ? `loadBalancerClass is not ${want}`
      : `loadBalancerClass ${cls} is another controller's`;
    return { kind: 'ignored', key, reason, currentIps };
  }
  if (allocation.request === null) {
    return { kind: 'invalid', key, problems: allocation.problems, warnings: allocation.warnings, currentIps };
  }
  const namespace = allocation.request.namespace;
  const namespaceLabelsWithName = Object.hasOwn(namespaceLabels, 'kubernetes.io/metadata.name')
    ? namespaceLabels
    : { ...namespaceLabels, 'kubernetes.io/metadata.name': namespace };
  return {
    kind: 'request',
    request: { ...allocation.request, namespaceLabels: namespaceLabelsWithName },
    warnings: allocation.warnings,
  };
}
