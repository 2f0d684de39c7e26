/**
 * What the forwarding table takes from a Service, read from the Service alone: its data-plane
 * annotations, source ranges, traffic policy, health-check port, affinity and TCP ports, with the
 * problems found in the order the table compiler reports them. Table-wide settings (flags) and the
 * allocated VIPs are the compiler's; nothing here depends on them.
 */
import { type Problem, problemOf } from '../../shared/errors.ts';
import type { SessionAffinity, TrafficPolicy } from '../../shared/model.ts';
import type { CodeIn } from '../../shared/problems.ts';
import type { ServiceObject } from '../model/kubernetes.ts';
import {
  type AnnotationReading,
  DATA_PLANE_ANNOTATIONS,
  readDataPlaneAnnotations,
} from './data-plane-annotations.ts';
import { type SourceRangeReading, serviceSourceRanges } from './load-balancer-source-ranges.ts';

// The form the table parser accepts for `listener.service`; anything else would make the whole table unparseable.
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** One TCP port of a Service that can become listeners. */
export interface ServicePortPlan {
  readonly name: string;
  readonly port: number;
  readonly nodePort: number;
}

/** The table's view of one Service. */
export interface TableView {
  /** Set when the namespace or name cannot name a listener: the Service gets none, and only this is reported. */
  readonly invalidName: Problem | null;
  readonly annotations: AnnotationReading;
  /** When `ranges.refused`, the Service gets no listeners and nothing after the ranges is reported. */
  readonly ranges: SourceRangeReading;
  /** Problems of the listener settings, then of the ports. */
  readonly listenerProblems: readonly Problem[];
  readonly trafficPolicy: TrafficPolicy;
  /** 0 unless the policy is Local and the Service has a valid healthCheckNodePort. */
  readonly healthCheckNodePort: number;
  readonly sessionAffinity: SessionAffinity;
  /** The TCP ports that have a NodePort. */
  readonly ports: readonly ServicePortPlan[];
}

function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** Read the table's view of `svc`, whose key is `key`. */
export function readTableView(svc: ServiceObject, key: string): TableView {
  const object = `Service ${key}`;
  const listenerProblems: Problem[] = [];
  const add = (field: string, value: unknown, code: CodeIn<'compile'>, message: string): void => {
    listenerProblems.push(problemOf(`compile.${code}`, object, field, value, message));
  };
  const namespace = svc.metadata?.namespace || 'default';
  const name = svc.metadata?.name ?? '';
  const invalidName =
    !NAMESPACE_RE.test(namespace) || !NAME_RE.test(name)
      ? problemOf(
          'compile.invalid-name',
          object,
          'metadata.name',
          key,
          'namespace and name must be DNS labels (a-z, 0-9, "-")',
        )
      : null;
  const annotations = readDataPlaneAnnotations(svc, object);
  const ranges = serviceSourceRanges(svc, object);

  const spec = svc.spec ?? {};
  const trafficPolicy: TrafficPolicy = spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster';
  const rawHcnp = spec.healthCheckNodePort;
  if (trafficPolicy === 'Local' && rawHcnp !== undefined && !isPort(rawHcnp)) {
    add(
      'spec.healthCheckNodePort',
      rawHcnp,
      'invalid-port',
      'must be a port 1-65535; checking nodes by TCP connect instead',
    );
  }
  const healthCheckNodePort = trafficPolicy === 'Local' && isPort(rawHcnp) ? rawHcnp : 0;
  const sessionAffinity: SessionAffinity = spec.sessionAffinity === 'ClientIP' ? 'ClientIP' : 'None';
  const algorithm = annotations.settings.algorithm;
  if (sessionAffinity === 'ClientIP' && algorithm !== undefined && algorithm !== 'source-hash') {
    add(
      `metadata.annotations["${DATA_PLANE_ANNOTATIONS.algorithm}"]`,
      algorithm,
      'conflicting-annotation',
      'sessionAffinity ClientIP needs source-hash, which is used instead; remove the annotation or set sessionAffinity: None',
    );
  }
  const ports: ServicePortPlan[] = [];
  (spec.ports ?? []).forEach((p, i) => {
    const protocol = p.protocol ?? 'TCP';
    const field = `spec.ports[${i}]`;
    if (protocol !== 'TCP') {
      add(
        `${field}.protocol`,
        protocol,
        'unsupported-protocol',
        `only TCP is proxied; ${protocol} port ${p.port} gets no listener`,
      );
    } else if (!isPort(p.port)) {
      add(`${field}.port`, p.port, 'invalid-port', 'must be a port 1-65535');
    } else if (!isPort(p.nodePort)) {
      add(
        `${field}.nodePort`,
        p.nodePort,
        'no-node-port',
        `port ${p.port} has no NodePort, and Switchyard proxies to NodePorts; set allocateLoadBalancerNodePorts: true (or give a nodePort in a manifest)`,
      );
    } else ports.push({ name: p.name ?? '', port: p.port, nodePort: p.nodePort });
  });
  return {
    invalidName,
    annotations,
    ranges,
    listenerProblems,
    trafficPolicy,
    healthCheckNodePort,
    sessionAffinity,
    ports,
  };
}
