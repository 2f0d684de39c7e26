/**
 * The shape a manifest object must have before it can be handed on as a typed Kubernetes object:
 * the fields Switchyard reads, with the types and enumerations the API server would enforce. This
 * is structure only; what a pool's addresses mean is for controller/pools/parse.ts, and what an
 * annotation's value means is for the table compiler.
 */
import type { CodeIn } from '../../../shared/problems.ts';

/** Receives one structural fault: the field path, the value found, a code suffix and the fix. */
export type ShapeReport = (field: string, value: unknown, code: CodeIn<'manifest'>, message: string) => void;

type Obj = Record<string, unknown>;

/** Whether `v` is a YAML mapping (not a list, not a scalar). */
export function isMapping(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// DNS-1123 label (Namespace names, Service names must also start with a letter) and subdomain.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Which name rule a kind's `metadata.name` follows. */
export type NameRule = 'label' | 'service' | 'subdomain';

/** Typed field readers that report, rather than throw, on a mismatch. */
class Fields {
  private readonly report: ShapeReport;
  constructor(report: ShapeReport) {
    this.report = report;
  }

  mapping(o: Obj, key: string, path: string, required = false): Obj | undefined {
    const v = o[key];
    if (v === undefined || v === null) {
      if (required) this.report(path, v, 'missing-field', 'is required: add it as a mapping');
      return undefined;
    }
    if (!isMapping(v)) {
      this.report(path, v, 'invalid-field', 'must be a mapping (key: value lines)');
      return undefined;
    }
    return v;
  }

  list(o: Obj, key: string, path: string, required = false): unknown[] | undefined {
    const v = o[key];
    if (v === undefined || v === null) {
      if (required) this.report(path, v, 'missing-field', 'is required: add it as a list');
      return undefined;
    }
    if (!Array.isArray(v)) {
      this.report(path, v, 'invalid-field', 'must be a list ("- item" lines)');
      return undefined;
    }
    return v;
  }

  string(
    o: Obj,
    key: string,
    path: string,
    opts: { required?: boolean; oneOf?: readonly string[] } = {},
  ): void {
    const v = o[key];
    if (v === undefined || v === null) {
      if (opts.required) this.report(path, v, 'missing-field', 'is required');
      return;
    }
    if (typeof v !== 'string') {
      this.report(path, v, 'invalid-field', 'must be a string; quote the value');
    } else if (opts.oneOf && !opts.oneOf.includes(v)) {
      this.report(path, v, 'invalid-field', `must be one of ${opts.oneOf.join(', ')}`);
    }
  }

  int(o: Obj, key: string, path: string, min: number, max: number, required = false): void {
    const v = o[key];
    if (v === undefined || v === null) {
      if (required) this.report(path, v, 'missing-field', `is required: a whole number ${min}-${max}`);
      return;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.report(path, v, 'invalid-field', `must be a whole number ${min}-${max}`);
    }
  }

  bool(o: Obj, key: string, path: string): void {
    const v = o[key];
    if (v !== undefined && v !== null && typeof v !== 'boolean') {
      this.report(path, v, 'invalid-field', 'must be true or false');
    }
  }

  stringMap(o: Obj, key: string, path: string): void {
    const m = this.mapping(o, key, path);
    for (const [k, v] of Object.entries(m ?? {})) {
      if (typeof v !== 'string') {
        this.report(
          `${path}["${k}"]`,
          v,
          'invalid-field',
          `must be a string, as Kubernetes requires; quote it: "${String(v)}"`,
        );
      }
    }
  }

  stringList(o: Obj, key: string, path: string, required = false): void {
    (this.list(o, key, path, required) ?? []).forEach((v, i) => {
      if (typeof v !== 'string') this.report(`${path}[${i}]`, v, 'invalid-field', 'must be a string');
    });
  }

  /** Each element of a list of mappings, with its path; non-mappings are reported and skipped. */
  each(o: Obj, key: string, path: string, fn: (item: Obj, path: string) => void, required = false): void {
    (this.list(o, key, path, required) ?? []).forEach((item, i) => {
      const p = `${path}[${i}]`;
      if (isMapping(item)) fn(item, p);
      else this.report(p, item, 'invalid-field', 'must be a mapping');
    });
  }
}

/** Check `metadata`: a name following `rule`, optional namespace, string labels and annotations. */
export function checkMetadata(raw: Obj, rule: NameRule, report: ShapeReport): void {
  const f = new Fields(report);
  const meta = f.mapping(raw, 'metadata', 'metadata', true);
  if (!meta) return;
  const name = meta['name'];
  if (typeof name !== 'string' || name === '') {
    report('metadata.name', name, 'missing-name', 'every object needs metadata.name: add a name');
  } else {
    const ok =
      rule === 'subdomain'
        ? DNS_SUBDOMAIN.test(name) && name.length <= 253
        : DNS_LABEL.test(name) && name.length <= 63 && (rule === 'label' || /^[a-z]/.test(name));
    if (!ok) {
      report(
        'metadata.name',
        name,
        'invalid-name',
        rule === 'subdomain'
          ? 'must be lower-case letters, digits, "-" and "." (a DNS subdomain)'
          : `must be at most 63 lower-case letters, digits and "-"${rule === 'service' ? ', starting with a letter' : ''}`,
      );
    }
  }
  const ns = meta['namespace'];
  if (ns !== undefined && ns !== null && (typeof ns !== 'string' || !DNS_LABEL.test(ns) || ns.length > 63)) {
    report('metadata.namespace', ns, 'invalid-name', 'must be at most 63 lower-case letters, digits and "-"');
  }
  f.stringMap(meta, 'labels', 'metadata.labels');
  f.stringMap(meta, 'annotations', 'metadata.annotations');
  const ts = meta['creationTimestamp'];
  if (ts !== undefined && ts !== null && (typeof ts !== 'string' || Number.isNaN(Date.parse(ts)))) {
    report(
      'metadata.creationTimestamp',
      ts,
      'invalid-field',
      'must be an RFC 3339 time such as "2025-01-31T12:00:00Z"',
    );
  }
}

/** Check the Service fields the allocator and the table compiler read. */
export function checkService(raw: Obj, report: ShapeReport): void {
  const f = new Fields(report);
  const spec = f.mapping(raw, 'spec', 'spec', true);
  if (!spec) return;
  f.string(spec, 'type', 'spec.type', { oneOf: ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] });
  f.each(spec, 'ports', 'spec.ports', (p, path) => {
    f.string(p, 'name', `${path}.name`);
    f.string(p, 'protocol', `${path}.protocol`, { oneOf: ['TCP', 'UDP', 'SCTP'] });
    f.int(p, 'port', `${path}.port`, 1, 65535, true);
    f.int(p, 'nodePort', `${path}.nodePort`, 0, 65535);
    const target = p['targetPort'];
    if (target !== undefined && typeof target !== 'string' && typeof target !== 'number') {
      report(`${path}.targetPort`, target, 'invalid-field', 'must be a port number or a port name');
    }
  });
  f.stringMap(spec, 'selector', 'spec.selector');
  f.string(spec, 'externalTrafficPolicy', 'spec.externalTrafficPolicy', { oneOf: ['Cluster', 'Local'] });
  f.int(spec, 'healthCheckNodePort', 'spec.healthCheckNodePort', 0, 65535);
  f.string(spec, 'sessionAffinity', 'spec.sessionAffinity', { oneOf: ['None', 'ClientIP'] });
  f.stringList(spec, 'loadBalancerSourceRanges', 'spec.loadBalancerSourceRanges');
  f.string(spec, 'loadBalancerIP', 'spec.loadBalancerIP');
  f.string(spec, 'loadBalancerClass', 'spec.loadBalancerClass');
  f.bool(spec, 'allocateLoadBalancerNodePorts', 'spec.allocateLoadBalancerNodePorts');
  f.stringList(spec, 'ipFamilies', 'spec.ipFamilies');
  f.string(spec, 'ipFamilyPolicy', 'spec.ipFamilyPolicy', {
    oneOf: ['SingleStack', 'PreferDualStack', 'RequireDualStack'],
  });
}

/** Check the Node fields eligibility and addressing read: labels, Ready condition, InternalIPs. */
export function checkNode(raw: Obj, report: ShapeReport): void {
  const f = new Fields(report);
  f.mapping(raw, 'spec', 'spec');
  const status = f.mapping(raw, 'status', 'status');
  if (!status) return;
  f.each(status, 'conditions', 'status.conditions', (c, path) => {
    f.string(c, 'type', `${path}.type`, { required: true });
    f.string(c, 'status', `${path}.status`, { required: true, oneOf: ['True', 'False', 'Unknown'] });
  });
  f.each(status, 'addresses', 'status.addresses', (a, path) => {
    f.string(a, 'type', `${path}.type`, { required: true });
    f.string(a, 'address', `${path}.address`, { required: true });
  });
}

/** Check the EndpointSlice fields Local traffic policy reads: endpoints, readiness, node names. */
export function checkEndpointSlice(raw: Obj, report: ShapeReport): void {
  const f = new Fields(report);
  f.string(raw, 'addressType', 'addressType', { required: true, oneOf: ['IPv4', 'IPv6', 'FQDN'] });
  f.each(raw, 'endpoints', 'endpoints', (e, path) => {
    f.stringList(e, 'addresses', `${path}.addresses`, true);
    f.string(e, 'nodeName', `${path}.nodeName`);
    const cond = f.mapping(e, 'conditions', `${path}.conditions`);
    if (cond) for (const k of ['ready', 'serving', 'terminating']) f.bool(cond, k, `${path}.conditions.${k}`);
  });
  f.each(raw, 'ports', 'ports', (p, path) => {
    f.string(p, 'name', `${path}.name`);
    f.int(p, 'port', `${path}.port`, 1, 65535);
    f.string(p, 'protocol', `${path}.protocol`, { oneOf: ['TCP', 'UDP', 'SCTP'] });
  });
}

/** Check an IPAddressPool has a spec mapping; its meaning is checked by controller/pools/parse.ts. */
export function checkPool(raw: Obj, report: ShapeReport): void {
  new Fields(report).mapping(raw, 'spec', 'spec', true);
}
