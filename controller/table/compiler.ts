/**
 * The controller's "build" step (cloud-provider-kind's proxy.go shape): a pure function that turns
 * Services, their allocated VIPs, Nodes and EndpointSlices into the forwarding table the speakers
 * serve. It never mutates its inputs and never throws on user input: what it cannot use becomes a
 * Problem, and one bad Service never costs another its listeners. Identical inputs give an
 * identical table, so a publisher can compare tables to skip no-op publishes.
 */

import { type Problem, problemOf, show } from '../../shared/errors.ts';
import { type Ip, parseIp } from '../../shared/ip.ts';
import {
  type ForwardingTable,
  type HealthCheck,
  type HealthTiming,
  type Listener,
  type ListenerTimeouts,
  listenerKey,
  type TrafficPolicy,
} from '../../shared/model.ts';
import type { CodeIn } from '../../shared/problems.ts';
import { TABLE_DEFAULTS } from '../../shared/table-parse.ts';
import type { EndpointSliceObject, NodeObject, ServiceObject } from '../model/kubernetes.ts';
import { type ParsedService, parseService } from '../services/service.ts';
import type { TableView } from '../services/table-view.ts';
import {
  type EligibleNode,
  eligibleNodes,
  familyBackends,
  readyEndpointNodesByService,
} from './backend-nodes.ts';

/** Table-wide settings the Services do not carry (from the controller's flags). */
export interface CompileOptions {
  /** kube-proxy's health port probed for Cluster Services; 0 means no kube-proxy, so every check is a TCP connect. */
  readonly kubeProxyHealthPort: number;
  /** HTTP path probed on kube-proxy's health port and on a Service's healthCheckNodePort. */
  readonly healthCheckPath: string;
  /** Timeouts of listeners whose Service has no timeout annotations. */
  readonly timeouts: ListenerTimeouts;
  readonly healthTiming: HealthTiming;
  readonly connectAttempts: number;
}

/** Options used where the caller gives none; the same defaults the table parser applies. */
export const COMPILE_DEFAULTS: CompileOptions = {
  kubeProxyHealthPort: TABLE_DEFAULTS.kubeProxyHealthPort,
  healthCheckPath: '/healthz',
  timeouts: TABLE_DEFAULTS.timeouts,
  healthTiming: TABLE_DEFAULTS.healthTiming,
  connectAttempts: TABLE_DEFAULTS.connectAttempts,
};

/** Caller-supplied options: any subset, nested objects included. */
export interface CompileOptionsInput {
  readonly kubeProxyHealthPort?: number;
  readonly healthCheckPath?: string;
  readonly timeouts?: Partial<ListenerTimeouts>;
  readonly healthTiming?: Partial<HealthTiming>;
  readonly connectAttempts?: number;
}

/** Everything the table is compiled from. Objects are read, never modified. */
export interface CompileInput {
  readonly services: readonly ServiceObject[];
  /** `namespace/name` → the Service's external IPs, from the allocator. */
  readonly assignments: ReadonlyMap<string, readonly string[]>;
  readonly nodes: readonly NodeObject[];
  readonly endpointSlices: readonly EndpointSliceObject[];
  readonly options?: CompileOptionsInput;
  /** Version stamped on the table; the publisher owns the counter. Default 0. */
  readonly version?: number;
}

/** The compiled table and everything in the input that could not be used as written. */
export interface CompiledTable {
  readonly table: ForwardingTable;
  readonly problems: readonly Problem[];
}

/** Merge caller options over the defaults; throws on values no table could carry (a wiring bug, not user input). */
export function resolveCompileOptions(input: CompileOptionsInput = {}): CompileOptions {
  const o: CompileOptions = {
    kubeProxyHealthPort: input.kubeProxyHealthPort ?? COMPILE_DEFAULTS.kubeProxyHealthPort,
    healthCheckPath: input.healthCheckPath ?? COMPILE_DEFAULTS.healthCheckPath,
    timeouts: { ...COMPILE_DEFAULTS.timeouts, ...input.timeouts },
    healthTiming: { ...COMPILE_DEFAULTS.healthTiming, ...input.healthTiming },
    connectAttempts: input.connectAttempts ?? COMPILE_DEFAULTS.connectAttempts,
  };
  const isInt = (n: number, min: number, max = Number.MAX_SAFE_INTEGER): boolean =>
    Number.isInteger(n) && n >= min && n <= max;
  const bad: string[] = [];
  if (!isInt(o.kubeProxyHealthPort, 0, 65535)) bad.push('kubeProxyHealthPort');
  if (!o.healthCheckPath.startsWith('/') || /\s/.test(o.healthCheckPath)) bad.push('healthCheckPath');
  if (!(o.timeouts.connectMs > 0)) bad.push('timeouts.connectMs');
  for (const k of ['idleMs', 'halfClosedMs', 'drainMs'] as const)
    if (!(o.timeouts[k] >= 0)) bad.push(`timeouts.${k}`);
  if (!(o.healthTiming.intervalMs >= 100)) bad.push('healthTiming.intervalMs');
  if (!(o.healthTiming.timeoutMs > 0)) bad.push('healthTiming.timeoutMs');
  if (!isInt(o.healthTiming.rise, 1) || !isInt(o.healthTiming.fall, 1)) bad.push('healthTiming.rise/fall');
  if (!isInt(o.connectAttempts, 1)) bad.push('connectAttempts');
  if (bad.length > 0) throw new RangeError(`invalid compile options: ${bad.join(', ')}`);
  return o;
}

/** Older Services first, so when two claim the same VIP:port the one that had it keeps it. */
function byAgeThenKey(a: ParsedService, b: ParsedService): number {
  const d = (a.created ?? Number.POSITIVE_INFINITY) - (b.created ?? Number.POSITIVE_INFINITY);
  if (d !== 0 && !Number.isNaN(d)) return d < 0 ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function healthCheckFor(policy: TrafficPolicy, hcnp: number, o: CompileOptions): HealthCheck {
  // Without kube-proxy nothing serves either health port, so only a TCP connect says anything.
  if (o.kubeProxyHealthPort === 0) return { type: 'tcp' };
  if (policy === 'Local')
    return hcnp > 0 ? { type: 'http', port: hcnp, path: o.healthCheckPath } : { type: 'tcp' };
  return { type: 'http', port: o.kubeProxyHealthPort, path: o.healthCheckPath };
}

/** What every Service's compilation shares: options, the eligible nodes, indexes, and the problem sinks. */
interface CompileContext {
  readonly o: CompileOptions;
  readonly nodes: readonly EligibleNode[];
  readonly readyEndpointNodes: ReadonlyMap<string, ReadonlySet<string>>;
  readonly problems: Problem[];
  readonly nodeProblems: Map<string, Problem>;
}

/** Compile the forwarding table. See the module comment for the guarantees. */
export function compileTable(input: CompileInput): CompiledTable {
  const ctx: CompileContext = {
    o: resolveCompileOptions(input.options),
    nodes: eligibleNodes(input.nodes),
    readyEndpointNodes: readyEndpointNodesByService(input.endpointSlices),
    problems: [],
    nodeProblems: new Map(),
  };
  const built: { listener: Listener; vip: Ip }[] = [];
  const owners = new Map<string, string>();

  for (const svc of input.services.map(parseService).sort(byAgeThenKey)) {
    if (svc.type !== 'LoadBalancer') continue;
    const key = svc.key;
    const assigned = input.assignments.get(key);
    if (!assigned || assigned.length === 0) continue;
    for (const b of compileService(svc, assigned, ctx)) {
      const lk = listenerKey(b.listener);
      const owner = owners.get(lk);
      if (owner !== undefined) {
        ctx.problems.push({
          code: 'compile.listener-conflict',
          object: `Service ${key}`,
          field: 'spec.ports',
          value: show(lk),
          message:
            owner === key
              ? `${lk} is listed twice in this Service; remove one port`
              : `${lk} is already served for ${owner}, the older Service; give this Service another IP or port`,
        });
        continue;
      }
      owners.set(lk, key);
      built.push(b);
    }
  }

  built.sort(
    (a, b) =>
      a.vip.family - b.vip.family || cmpBig(a.vip.value, b.vip.value) || a.listener.port - b.listener.port,
  );
  // Node problems are keyed so each is reported once however many listeners meet it.
  const nodeIssues = [...ctx.nodeProblems.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, p]) => p);
  return {
    table: { version: input.version ?? 0, listeners: built.map((b) => b.listener) },
    problems: [...ctx.problems, ...nodeIssues],
  };
}

/** The listeners of one Service (not yet checked against other Services), reporting into `ctx`. */
function compileService(
  svc: ParsedService,
  assigned: readonly string[],
  ctx: CompileContext,
): { listener: Listener; vip: Ip }[] {
  const { key, table: view } = svc;
  if (view.invalidName) {
    ctx.problems.push(view.invalidName);
    return [];
  }
  ctx.problems.push(...view.annotations.problems, ...view.ranges.problems);
  if (view.ranges.refused) return [];
  ctx.problems.push(...view.listenerProblems);
  const settings = listenerSettings(view, ctx.o);
  const local = settings.trafficPolicy === 'Local' ? (ctx.readyEndpointNodes.get(key) ?? new Set()) : null;
  const serving = local ? ctx.nodes.filter((n) => local.has(n.name)) : ctx.nodes;
  const out: { listener: Listener; vip: Ip }[] = [];
  const object = `Service ${key}`;
  const add = (field: string, value: unknown, code: CodeIn<'compile'>, message: string): void => {
    ctx.problems.push(problemOf(`compile.${code}`, object, field, value, message));
  };
  for (const vip of assignedVips(assigned, add)) {
    const backends = familyBackends(serving, vip.family, ctx.nodeProblems);
    for (const p of view.ports) {
      const listener: Listener = {
        service: key,
        portName: p.name,
        vip: vip.text,
        port: p.port,
        protocol: 'TCP',
        backends: backends.map((b) => ({ node: b.node, address: b.address, nodePort: p.nodePort })),
        ...settings,
        sourceRanges: view.ranges.ranges,
      };
      out.push({ listener, vip });
    }
  }
  return out;
}

type Report = (field: string, value: unknown, code: CodeIn<'compile'>, message: string) => void;
type ListenerSettings = Omit<
  Listener,
  'service' | 'portName' | 'vip' | 'port' | 'protocol' | 'backends' | 'sourceRanges'
>;

/** The per-Service part of a listener: the Service's view over the table-wide options. */
function listenerSettings(view: TableView, o: CompileOptions): ListenerSettings {
  const s = view.annotations.settings;
  const { trafficPolicy, healthCheckNodePort, sessionAffinity } = view;
  return {
    trafficPolicy,
    healthCheckNodePort,
    healthCheck: healthCheckFor(trafficPolicy, healthCheckNodePort, o),
    healthTiming: o.healthTiming,
    // ClientIP affinity is what source hashing provides, so it overrides the annotation.
    algorithm: sessionAffinity === 'ClientIP' ? 'source-hash' : (s.algorithm ?? TABLE_DEFAULTS.algorithm),
    sessionAffinity,
    proxyProtocol: s.proxyProtocol ?? 'none',
    maxConnections: s.maxConnections ?? 0,
    connectAttempts: o.connectAttempts,
    timeouts: {
      ...o.timeouts,
      connectMs: s.connectMs ?? o.timeouts.connectMs,
      idleMs: s.idleMs ?? o.timeouts.idleMs,
    },
  };
}

/** The assigned VIPs, parsed and de-duplicated; anything else is reported. */
function assignedVips(assigned: readonly string[], add: Report): Ip[] {
  const vips = new Map<string, Ip>();
  assigned.forEach((text, i) => {
    const ip = typeof text === 'string' ? parseIp(text) : null;
    if (ip) vips.set(ip.text, ip);
    else
      add(
        `assignments[${i}]`,
        text,
        'invalid-vip',
        'the allocator assigned something that is not an IP address; this is a bug, please report it',
      );
  });
  return [...vips.values()];
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
