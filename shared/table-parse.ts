/**
 * Parses a forwarding-table document (YAML or JSON, the format in docs/table-format.md) into the
 * immutable model, once, at the boundary. It returns either the whole table or every problem found,
 * each naming the listener, the field and the value, so a bad table is refused whole and the last
 * good one keeps serving.
 */

import { parse as parseYaml } from 'yaml';
import { parseDuration } from './duration.ts';
import { ProblemCollector, type Result } from './errors.ts';
import { parseCidr, parseIp } from './ip.ts';
import {
  type Algorithm,
  type Backend,
  type ForwardingTable,
  type HealthCheck,
  type HealthTiming,
  type Listener,
  type ListenerTimeouts,
  listenerKey,
  type ProxyProtocol,
  type SessionAffinity,
  type TrafficPolicy,
} from './model.ts';
import type { CodeIn } from './problems.ts';

/** Defaults used where neither the listener nor the document's `defaults` say otherwise. */
export const TABLE_DEFAULTS = {
  timeouts: { connectMs: 2000, idleMs: 300_000, halfClosedMs: 60_000, drainMs: 30_000 } as ListenerTimeouts,
  healthTiming: { intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3 } as HealthTiming,
  connectAttempts: 3,
  kubeProxyHealthPort: 10256,
  algorithm: 'round-robin' as Algorithm,
};

/**
 * Longest duration a table may give. Longer ones overflow Node's timers, which then fire after 1 ms:
 * a health interval of a year would probe in a tight loop and a probe timeout would always expire.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const ALGORITHMS: readonly Algorithm[] = ['round-robin', 'least-connections', 'source-hash'];
const POLICIES: readonly TrafficPolicy[] = ['Cluster', 'Local'];
const AFFINITIES: readonly SessionAffinity[] = ['None', 'ClientIP'];
const PROXY_PROTOCOLS: readonly ProxyProtocol[] = ['none', 'v1', 'v2'];

const LISTENER_FIELDS = new Set([
  'service',
  'portName',
  'vip',
  'port',
  'protocol',
  'backends',
  'externalTrafficPolicy',
  'healthCheckNodePort',
  'healthCheck',
  'algorithm',
  'sessionAffinity',
  'proxyProtocol',
  'loadBalancerSourceRanges',
  'maxConnections',
  'connectAttempts',
  'timeouts',
]);
const TIMEOUT_FIELDS: Record<string, keyof ListenerTimeouts> = {
  connect: 'connectMs',
  idle: 'idleMs',
  halfClosed: 'halfClosedMs',
  drain: 'drainMs',
};
const HEALTH_FIELDS = new Set(['type', 'port', 'path', 'interval', 'timeout', 'rise', 'fall']);

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Collects problems while walking one document. */
class Checker extends ProblemCollector {
  add(object: string, field: string, value: unknown, code: CodeIn<'table'>, message: string): void {
    this.report(`table.${code}`, field, value, message, `${this.object} ${object}`.trim());
  }

  unknownFields(obj: Obj, allowed: Set<string>, object: string, path: string): void {
    for (const k of Object.keys(obj)) {
      if (!allowed.has(k)) {
        this.add(
          object,
          `${path}${k}`,
          obj[k],
          'unknown-field',
          `unknown field; allowed fields are ${[...allowed].join(', ')}`,
        );
      }
    }
  }

  port(v: unknown, object: string, field: string, allowZero = false): number {
    if (v === undefined && allowZero) return 0;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < (allowZero ? 0 : 1) || v > 65535) {
      this.add(object, field, v, 'invalid-port', `must be an integer port ${allowZero ? '0' : '1'}-65535`);
      return 0;
    }
    return v;
  }

  count(v: unknown, fallback: number, object: string, field: string, min: number): number {
    if (v === undefined) return fallback;
    // Safe integers only: past 2^53 a version + 1 equals the version and counts stop counting.
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      this.add(object, field, v, 'invalid-number', `must be an integer >= ${min} and < 2^53`);
      return fallback;
    }
    return v;
  }

  duration(v: unknown, fallback: number, object: string, field: string): number {
    if (v === undefined) return fallback;
    const ms = parseDuration(v);
    if (ms !== null && ms > MAX_DURATION_MS) {
      this.add(
        object,
        field,
        v,
        'invalid-duration',
        `must be at most ${MAX_DURATION_MS} ms (about 24 days), the longest timer Node.js keeps`,
      );
      return fallback;
    }
    if (ms === null) {
      this.add(
        object,
        field,
        v,
        'invalid-duration',
        'must be milliseconds or a duration such as "500ms", "2s", "5m"',
      );
      return fallback;
    }
    return ms;
  }

  oneOf<T extends string>(v: unknown, allowed: readonly T[], fallback: T, object: string, field: string): T {
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || !allowed.includes(v as T)) {
      this.add(object, field, v, 'invalid-value', `must be one of ${allowed.join(', ')}`);
      return fallback;
    }
    return v as T;
  }
}

interface Defaults {
  timeouts: ListenerTimeouts;
  healthTiming: HealthTiming;
  connectAttempts: number;
  kubeProxyHealthPort: number;
}

function parseTimeouts(
  c: Checker,
  raw: unknown,
  base: ListenerTimeouts,
  object: string,
  path: string,
): ListenerTimeouts {
  if (raw === undefined) return base;
  if (!isObj(raw)) {
    c.add(object, path, raw, 'invalid-type', 'must be a mapping of connect, idle, halfClosed, drain');
    return base;
  }
  c.unknownFields(raw, new Set(Object.keys(TIMEOUT_FIELDS)), object, `${path}.`);
  const out = { ...base };
  for (const [name, key] of Object.entries(TIMEOUT_FIELDS)) {
    out[key] = c.duration(raw[name], base[key], object, `${path}.${name}`);
  }
  if (out.connectMs <= 0)
    c.add(object, `${path}.connect`, raw['connect'], 'invalid-duration', 'must be greater than 0');
  return out;
}

function parseHealthTiming(
  c: Checker,
  raw: Obj,
  base: HealthTiming,
  object: string,
  path: string,
): HealthTiming {
  const t: HealthTiming = {
    intervalMs: c.duration(raw['interval'], base.intervalMs, object, `${path}.interval`),
    timeoutMs: c.duration(raw['timeout'], base.timeoutMs, object, `${path}.timeout`),
    rise: c.count(raw['rise'], base.rise, object, `${path}.rise`, 1),
    fall: c.count(raw['fall'], base.fall, object, `${path}.fall`, 1),
  };
  if (t.intervalMs < 100)
    c.add(object, `${path}.interval`, raw['interval'], 'invalid-duration', 'must be at least 100ms');
  if (t.timeoutMs <= 0)
    c.add(object, `${path}.timeout`, raw['timeout'], 'invalid-duration', 'must be greater than 0');
  return t;
}

function parseDefaults(c: Checker, raw: unknown): Defaults {
  const d: Defaults = {
    timeouts: TABLE_DEFAULTS.timeouts,
    healthTiming: TABLE_DEFAULTS.healthTiming,
    connectAttempts: TABLE_DEFAULTS.connectAttempts,
    kubeProxyHealthPort: TABLE_DEFAULTS.kubeProxyHealthPort,
  };
  if (raw === undefined) return d;
  if (!isObj(raw)) {
    c.add('defaults', 'defaults', raw, 'invalid-type', 'must be a mapping');
    return d;
  }
  c.unknownFields(
    raw,
    new Set(['timeouts', 'healthCheck', 'connectAttempts', 'kubeProxyHealthPort']),
    'defaults',
    'defaults.',
  );
  d.timeouts = parseTimeouts(c, raw['timeouts'], d.timeouts, 'defaults', 'defaults.timeouts');
  const hc = raw['healthCheck'];
  if (hc !== undefined) {
    if (isObj(hc)) {
      c.unknownFields(
        hc,
        new Set(['interval', 'timeout', 'rise', 'fall']),
        'defaults',
        'defaults.healthCheck.',
      );
      d.healthTiming = parseHealthTiming(c, hc, d.healthTiming, 'defaults', 'defaults.healthCheck');
    } else c.add('defaults', 'defaults.healthCheck', hc, 'invalid-type', 'must be a mapping');
  }
  d.connectAttempts = c.count(
    raw['connectAttempts'],
    d.connectAttempts,
    'defaults',
    'defaults.connectAttempts',
    1,
  );
  d.kubeProxyHealthPort = c.port(
    raw['kubeProxyHealthPort'] ?? d.kubeProxyHealthPort,
    'defaults',
    'defaults.kubeProxyHealthPort',
    true,
  );
  return d;
}

function parseBackends(c: Checker, raw: unknown, object: string, path: string): Backend[] {
  if (!Array.isArray(raw)) {
    c.add(object, path, raw, 'invalid-type', 'must be a list of {node, address, nodePort}');
    return [];
  }
  const out: Backend[] = [];
  const seen = new Set<string>();
  raw.forEach((b, i) => {
    const p = `${path}[${i}]`;
    if (!isObj(b)) {
      c.add(object, p, b, 'invalid-type', 'must be a mapping {node, address, nodePort}');
      return;
    }
    c.unknownFields(b, new Set(['node', 'address', 'nodePort']), object, `${p}.`);
    const ip = typeof b['address'] === 'string' ? parseIp(b['address']) : null;
    if (!ip)
      c.add(object, `${p}.address`, b['address'], 'invalid-address', 'must be an IPv4 or IPv6 address');
    const node = typeof b['node'] === 'string' && b['node'] !== '' ? b['node'] : (ip?.text ?? '');
    const nodePort = c.port(b['nodePort'], object, `${p}.nodePort`);
    if (!ip || nodePort === 0) return;
    const key = `${ip.text}|${nodePort}`;
    if (seen.has(key)) {
      c.add(object, p, b, 'duplicate-backend', `backend ${ip.text}:${nodePort} is listed twice; remove one`);
      return;
    }
    seen.add(key);
    out.push({ node, address: ip.text, nodePort });
  });
  return out;
}

function resolveHealthCheck(
  c: Checker,
  raw: Obj,
  policy: TrafficPolicy,
  hcnp: number,
  d: Defaults,
  object: string,
  path: string,
): HealthCheck {
  const type = c.oneOf(raw['type'], ['auto', 'http', 'tcp'] as const, 'auto', object, `${path}.type`);
  if (type === 'tcp') return { type: 'tcp' };
  const path_ = raw['path'] === undefined ? '/healthz' : raw['path'];
  if (typeof path_ !== 'string' || !path_.startsWith('/') || /\s/.test(path_)) {
    c.add(
      object,
      `${path}.path`,
      raw['path'],
      'invalid-value',
      'must be an HTTP path starting with "/" and without spaces',
    );
  }
  const httpPath = typeof path_ === 'string' ? path_ : '/healthz';
  if (type === 'http') {
    const port = c.port(
      raw['port'] ?? (policy === 'Local' && hcnp ? hcnp : d.kubeProxyHealthPort),
      object,
      `${path}.port`,
    );
    return { type: 'http', port, path: httpPath };
  }
  // auto: the Service's own health port for Local, kube-proxy's for Cluster, TCP where neither exists.
  if (policy === 'Local' && hcnp > 0) return { type: 'http', port: hcnp, path: httpPath };
  if (policy === 'Cluster' && d.kubeProxyHealthPort > 0)
    return { type: 'http', port: d.kubeProxyHealthPort, path: httpPath };
  return { type: 'tcp' };
}

function parseListener(c: Checker, raw: unknown, i: number, d: Defaults): Listener | null {
  const path = `listeners[${i}]`;
  const svcName = isObj(raw) && typeof raw['service'] === 'string' ? raw['service'] : '';
  const object = `listener ${i}${svcName ? ` (${svcName})` : ''}`;
  if (!isObj(raw)) {
    c.add(object, path, raw, 'invalid-type', 'must be a mapping');
    return null;
  }
  const before = c.problems.length;
  c.unknownFields(raw, LISTENER_FIELDS, object, `${path}.`);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(svcName)) {
    c.add(
      object,
      `${path}.service`,
      raw['service'],
      'invalid-service',
      'must be "namespace/name" of the Service',
    );
  }
  const portName = raw['portName'] === undefined ? '' : raw['portName'];
  if (typeof portName !== 'string')
    c.add(object, `${path}.portName`, portName, 'invalid-type', 'must be a string');
  const vip = typeof raw['vip'] === 'string' ? parseIp(raw['vip']) : null;
  if (!vip)
    c.add(
      object,
      `${path}.vip`,
      raw['vip'],
      'invalid-vip',
      'must be an IPv4 or IPv6 address, e.g. 192.0.2.10',
    );
  const port = c.port(raw['port'], object, `${path}.port`);
  const protocol = raw['protocol'] ?? 'TCP';
  if (protocol !== 'TCP') {
    c.add(
      object,
      `${path}.protocol`,
      protocol,
      'unsupported-protocol',
      'only TCP is proxied; remove this listener or set protocol: TCP',
    );
  }
  const backends = parseBackends(c, raw['backends'] ?? [], object, `${path}.backends`);
  const trafficPolicy = c.oneOf(
    raw['externalTrafficPolicy'],
    POLICIES,
    'Cluster',
    object,
    `${path}.externalTrafficPolicy`,
  );
  const healthCheckNodePort = c.port(raw['healthCheckNodePort'], object, `${path}.healthCheckNodePort`, true);
  const hcRaw = raw['healthCheck'] ?? {};
  let healthCheck: HealthCheck = { type: 'tcp' };
  let healthTiming = d.healthTiming;
  if (isObj(hcRaw)) {
    c.unknownFields(hcRaw, HEALTH_FIELDS, object, `${path}.healthCheck.`);
    healthCheck = resolveHealthCheck(
      c,
      hcRaw,
      trafficPolicy,
      healthCheckNodePort,
      d,
      object,
      `${path}.healthCheck`,
    );
    healthTiming = parseHealthTiming(c, hcRaw, d.healthTiming, object, `${path}.healthCheck`);
  } else c.add(object, `${path}.healthCheck`, hcRaw, 'invalid-type', 'must be a mapping');
  const sessionAffinity = c.oneOf(
    raw['sessionAffinity'],
    AFFINITIES,
    'None',
    object,
    `${path}.sessionAffinity`,
  );
  const algorithm = c.oneOf(
    raw['algorithm'],
    ALGORITHMS,
    TABLE_DEFAULTS.algorithm,
    object,
    `${path}.algorithm`,
  );
  const proxyProtocol = c.oneOf(
    raw['proxyProtocol'],
    PROXY_PROTOCOLS,
    'none',
    object,
    `${path}.proxyProtocol`,
  );
  const rangesRaw = raw['loadBalancerSourceRanges'] ?? [];
  const sourceRanges: string[] = [];
  if (Array.isArray(rangesRaw)) {
    rangesRaw.forEach((r, j) => {
      const cidr = typeof r === 'string' ? parseCidr(r) : null;
      if (!cidr) {
        c.add(
          object,
          `${path}.loadBalancerSourceRanges[${j}]`,
          r,
          'invalid-cidr',
          'must be a CIDR such as 203.0.113.0/24',
        );
      } else sourceRanges.push(cidr.text);
    });
  } else
    c.add(object, `${path}.loadBalancerSourceRanges`, rangesRaw, 'invalid-type', 'must be a list of CIDRs');
  const maxConnections = c.count(raw['maxConnections'], 0, object, `${path}.maxConnections`, 0);
  const connectAttempts = c.count(
    raw['connectAttempts'],
    d.connectAttempts,
    object,
    `${path}.connectAttempts`,
    1,
  );
  const timeouts = parseTimeouts(c, raw['timeouts'], d.timeouts, object, `${path}.timeouts`);
  if (c.problems.length > before || !vip) return null;
  return {
    service: svcName,
    portName: typeof portName === 'string' ? portName : '',
    vip: vip.text,
    port,
    protocol: 'TCP',
    backends,
    trafficPolicy,
    healthCheckNodePort,
    healthCheck,
    healthTiming,
    // ClientIP affinity is what source hashing provides; it overrides the algorithm.
    algorithm: sessionAffinity === 'ClientIP' ? 'source-hash' : algorithm,
    sessionAffinity,
    proxyProtocol,
    sourceRanges,
    maxConnections,
    connectAttempts,
    timeouts,
  };
}

/** Validate an already-decoded table document. `source` names it in problems (e.g. the file path). */
export function parseTable(doc: unknown, source = 'table'): Result<ForwardingTable> {
  const c = new Checker(source);
  if (!isObj(doc)) {
    c.add('', '(document)', doc, 'invalid-type', 'the table must be a mapping with a "listeners" list');
    return { ok: false, problems: c.problems };
  }
  c.unknownFields(doc, new Set(['version', 'defaults', 'listeners']), '', '');
  const version = c.count(doc['version'], 0, '', 'version', 0);
  const d = parseDefaults(c, doc['defaults']);
  const rawListeners = doc['listeners'] ?? [];
  const listeners: Listener[] = [];
  if (!Array.isArray(rawListeners)) {
    c.add('', 'listeners', rawListeners, 'invalid-type', 'must be a list of listeners');
  } else {
    const seen = new Map<string, number>();
    rawListeners.forEach((raw, i) => {
      const l = parseListener(c, raw, i, d);
      if (!l) return;
      const key = listenerKey(l);
      const first = seen.get(key);
      if (first !== undefined) {
        c.add(
          `listener ${i} (${l.service})`,
          `listeners[${i}]`,
          key,
          'duplicate-listener',
          `listener ${key} is already defined by listeners[${first}]; each VIP:port/protocol may appear once`,
        );
        return;
      }
      seen.set(key, i);
      listeners.push(l);
    });
  }
  if (c.problems.length > 0) return { ok: false, problems: c.problems };
  return { ok: true, value: { version, listeners } };
}

/** Decode YAML or JSON text (JSON is YAML) and validate it. */
export function parseTableText(text: string, source = 'table'): Result<ForwardingTable> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return {
      ok: false,
      problems: [
        {
          code: 'table.malformed',
          object: source,
          field: '(document)',
          value: '',
          message: `not valid YAML or JSON: ${message}`,
        },
      ],
    };
  }
  return parseTable(doc, source);
}
