/**
 * The Kubernetes objects the controller reads, as plain, frozen, typed values. They are converted
 * once, at the edge, from whatever the client handed over: typed model instances from a LIST or raw
 * JSON from a WATCH event. Only what Switchyard uses is kept; pool specs are kept raw because pool
 * parsing (and its user-facing errors) belongs to the pool parser, not to the edge.
 */

/** Labels or annotations. */
export type StringMap = Readonly<Record<string, string>>;

/** What every converted object carries. */
export interface KubeObjectMeta {
  /** `namespace/name` for namespaced objects, `name` for cluster-scoped ones. */
  readonly key: string;
  /** Empty for cluster-scoped objects. */
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly resourceVersion: string;
  readonly labels: StringMap;
  readonly annotations: StringMap;
  /** `metadata.creationTimestamp` in ISO form (allocation goes oldest first); empty when unset. */
  readonly creationTimestamp: string;
}

/** One `spec.ports[]` entry of a Service. */
export interface KubeServicePort {
  readonly name: string;
  readonly protocol: string;
  readonly port: number;
  /** 0 when none is allocated (e.g. `allocateLoadBalancerNodePorts: false`). */
  readonly nodePort: number;
}

/** One `status.loadBalancer.ingress[]` entry. */
export interface KubeIngress {
  readonly ip: string;
  readonly hostname: string;
  readonly ipMode: string;
  readonly ports: readonly { readonly port: number; readonly protocol: string }[];
}

/** A Service, as the allocator and table compiler need it. */
export interface KubeService extends KubeObjectMeta {
  readonly type: string;
  readonly loadBalancerClass: string;
  /** The deprecated `spec.loadBalancerIP`, empty when unset. */
  readonly loadBalancerIP: string;
  readonly clusterIP: string;
  readonly clusterIPs: readonly string[];
  /** Pod selector: Services sharing an IP with policy Local must select the same pods. */
  readonly selector: StringMap;
  readonly ports: readonly KubeServicePort[];
  readonly externalTrafficPolicy: 'Cluster' | 'Local';
  readonly healthCheckNodePort: number;
  readonly sessionAffinity: 'None' | 'ClientIP';
  readonly ipFamilies: readonly string[];
  readonly ipFamilyPolicy: string;
  readonly loadBalancerSourceRanges: readonly string[];
  readonly ingress: readonly KubeIngress[];
}

/** A Node: its addresses and whether it may take traffic. */
export interface KubeNode extends KubeObjectMeta {
  readonly addresses: readonly { readonly type: string; readonly address: string }[];
  /** `Ready` condition is `True`. */
  readonly ready: boolean;
  readonly unschedulable: boolean;
  readonly taints: readonly { readonly key: string; readonly value: string; readonly effect: string }[];
}

/** A Namespace: its labels feed pool `namespaceSelectors`. */
export interface KubeNamespace extends KubeObjectMeta {}

/** An IPAddressPool, spec and status as raw JSON for the pool parser. */
export interface KubeIPAddressPool extends KubeObjectMeta {
  readonly generation: number;
  readonly spec: unknown;
  readonly status: unknown;
}

/** One endpoint of an EndpointSlice. */
export interface KubeEndpoint {
  readonly addresses: readonly string[];
  readonly nodeName: string;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
}

/** An EndpointSlice: which nodes run ready endpoints of a Service (for `Local` traffic policy). */
export interface KubeEndpointSlice extends KubeObjectMeta {
  /** From the `kubernetes.io/service-name` label; empty when missing. */
  readonly serviceName: string;
  readonly addressType: string;
  readonly endpoints: readonly KubeEndpoint[];
  readonly ports: readonly { readonly name: string; readonly port: number; readonly protocol: string }[];
}

type Raw = Record<string, unknown>;

function obj(v: unknown): Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Raw) : {};
}

function arr(v: unknown): Raw[] {
  return Array.isArray(v) ? v.map(obj) : [];
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function stringMap(v: unknown): StringMap {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(obj(v))) if (typeof x === 'string') out[k] = x;
  return out;
}

/** Freeze a converted value all the way down: cache objects are never mutated. */
function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/** JSON-only copy (typed instances and Dates become plain JSON), so raw specs are plain data. */
function plainJson(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

/** A timestamp as ISO text, whether the client handed a Date (LIST) or a string (WATCH). */
function timestamp(v: unknown): string {
  const ms = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : Number.NaN;
  return Number.isFinite(ms) ? new Date(ms).toISOString() : '';
}

function meta(raw: unknown): KubeObjectMeta | null {
  const m = obj(obj(raw).metadata);
  const name = str(m.name);
  if (name === '') return null;
  const namespace = str(m.namespace);
  return {
    key: namespace === '' ? name : `${namespace}/${name}`,
    namespace,
    name,
    uid: str(m.uid),
    resourceVersion: str(m.resourceVersion),
    labels: stringMap(m.labels),
    annotations: stringMap(m.annotations),
    creationTimestamp: timestamp(m.creationTimestamp),
  };
}

/** A Service from client output; null when it has no name. */
export function toKubeService(raw: unknown): KubeService | null {
  const m = meta(raw);
  if (!m) return null;
  const spec = obj(obj(raw).spec);
  const lb = obj(obj(obj(raw).status).loadBalancer);
  return deepFreeze({
    ...m,
    type: str(spec.type) || 'ClusterIP',
    loadBalancerClass: str(spec.loadBalancerClass),
    loadBalancerIP: str(spec.loadBalancerIP),
    clusterIP: str(spec.clusterIP),
    clusterIPs: strings(spec.clusterIPs),
    selector: stringMap(spec.selector),
    ports: arr(spec.ports).map((p) => ({
      name: str(p.name),
      protocol: str(p.protocol) || 'TCP',
      port: num(p.port),
      nodePort: num(p.nodePort),
    })),
    externalTrafficPolicy: spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster',
    healthCheckNodePort: num(spec.healthCheckNodePort),
    sessionAffinity: spec.sessionAffinity === 'ClientIP' ? 'ClientIP' : 'None',
    ipFamilies: strings(spec.ipFamilies),
    ipFamilyPolicy: str(spec.ipFamilyPolicy),
    loadBalancerSourceRanges: strings(spec.loadBalancerSourceRanges),
    ingress: arr(lb.ingress).map((i) => ({
      ip: str(i.ip),
      hostname: str(i.hostname),
      ipMode: str(i.ipMode),
      ports: arr(i.ports).map((p) => ({ port: num(p.port), protocol: str(p.protocol) || 'TCP' })),
    })),
  });
}

/** A Node from client output; null when it has no name. */
export function toKubeNode(raw: unknown): KubeNode | null {
  const m = meta(raw);
  if (!m) return null;
  const spec = obj(obj(raw).spec);
  const status = obj(obj(raw).status);
  return deepFreeze({
    ...m,
    addresses: arr(status.addresses).map((a) => ({ type: str(a.type), address: str(a.address) })),
    ready: arr(status.conditions).some((c) => c.type === 'Ready' && c.status === 'True'),
    unschedulable: spec.unschedulable === true,
    taints: arr(spec.taints).map((t) => ({ key: str(t.key), value: str(t.value), effect: str(t.effect) })),
  });
}

/** A Namespace from client output; null when it has no name. */
export function toKubeNamespace(raw: unknown): KubeNamespace | null {
  const m = meta(raw);
  return m ? deepFreeze(m) : null;
}

/** An IPAddressPool from client output; null when it has no name. */
export function toKubeIPAddressPool(raw: unknown): KubeIPAddressPool | null {
  const m = meta(raw);
  if (!m) return null;
  return deepFreeze({
    ...m,
    generation: num(obj(obj(raw).metadata).generation),
    spec: plainJson(obj(raw).spec) ?? {},
    status: plainJson(obj(raw).status) ?? {},
  });
}

/** An EndpointSlice from client output; null when it has no name. */
export function toKubeEndpointSlice(raw: unknown): KubeEndpointSlice | null {
  const m = meta(raw);
  if (!m) return null;
  const r = obj(raw);
  return deepFreeze({
    ...m,
    serviceName: m.labels['kubernetes.io/service-name'] ?? '',
    addressType: str(r.addressType),
    endpoints: arr(r.endpoints).map((e) => {
      const c = obj(e.conditions);
      // Per the EndpointSlice API, an unset `ready` means ready and `serving` defaults to `ready`.
      const ready = c.ready !== false;
      return {
        addresses: strings(e.addresses),
        nodeName: str(e.nodeName),
        ready,
        serving: typeof c.serving === 'boolean' ? c.serving : ready,
        terminating: c.terminating === true,
      };
    }),
    ports: arr(r.ports).map((p) => ({
      name: str(p.name),
      port: num(p.port),
      protocol: str(p.protocol) || 'TCP',
    })),
  });
}
