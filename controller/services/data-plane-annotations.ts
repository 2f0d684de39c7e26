/**
 * The data-plane annotations a Service may carry (`switchyard.io/proxy-protocol`, `lb-algorithm`,
 * `max-connections`, `idle-timeout`, `connect-timeout`), read once into settings. A bad value is a
 * Problem and only that setting falls back to its default: the Service keeps serving, and settings
 * the backend depends on (a valid proxy-protocol, say) are never dropped because a neighbour is wrong.
 */

import { parseDuration } from '../../shared/duration.ts';
import { type Problem, problemOf } from '../../shared/errors.ts';
import type { Algorithm, ProxyProtocol } from '../../shared/model.ts';
import type { CodeIn } from '../../shared/problems.ts';
import { ANNOTATION_PREFIX } from '../api-names.ts';
import type { ServiceObject } from '../model/kubernetes.ts';

/** Our annotation prefix. */

/** The data-plane annotations, by the setting they control. */
export const DATA_PLANE_ANNOTATIONS = {
  proxyProtocol: `${ANNOTATION_PREFIX}proxy-protocol`,
  algorithm: `${ANNOTATION_PREFIX}lb-algorithm`,
  maxConnections: `${ANNOTATION_PREFIX}max-connections`,
  idleTimeout: `${ANNOTATION_PREFIX}idle-timeout`,
  connectTimeout: `${ANNOTATION_PREFIX}connect-timeout`,
} as const;

/** IP-allocation annotations under our prefix; read by the allocator (docs/ip-allocation.md), known here so they are not reported as typos. */
export const IPAM_ANNOTATIONS: readonly string[] = [
  'loadBalancerIPs',
  'address-pool',
  'allow-shared-ip',
  'ip-allocated-from-pool',
].map((n) => `${ANNOTATION_PREFIX}${n}`);

const KNOWN = new Set<string>([...Object.values(DATA_PLANE_ANNOTATIONS), ...IPAM_ANNOTATIONS]);
const PROXY_PROTOCOLS: readonly ProxyProtocol[] = ['none', 'v1', 'v2'];
const ALGORITHMS: readonly Algorithm[] = ['round-robin', 'least-connections', 'source-hash'];
/** Upper bound on timeouts: longer is almost certainly a unit mistake (`300h` for `300s`). */
const MAX_TIMEOUT_MS = 24 * 3_600_000;
/** Upper bound on max-connections; far above what one process can hold, so only typos hit it. */
const MAX_CONNECTIONS = 10_000_000;

/**
 * Settings taken from annotations; a field is undefined when the annotation is absent or invalid,
 * so the caller applies its own default.
 */
export interface DataPlaneSettings {
  readonly proxyProtocol?: ProxyProtocol;
  readonly algorithm?: Algorithm;
  readonly maxConnections?: number;
  readonly idleMs?: number;
  readonly connectMs?: number;
}

/** What reading a Service's annotations found. */
export interface AnnotationReading {
  readonly settings: DataPlaneSettings;
  readonly problems: readonly Problem[];
}

/** Read the data-plane annotations of `service`; `object` names the Service in problems (e.g. `Service default/web`). */
export function readDataPlaneAnnotations(service: ServiceObject, object: string): AnnotationReading {
  const annotations = service.metadata?.annotations ?? {};
  const problems: Problem[] = [];
  const settings: {
    proxyProtocol?: ProxyProtocol;
    algorithm?: Algorithm;
    maxConnections?: number;
    idleMs?: number;
    connectMs?: number;
  } = {};

  const bad = (key: string, value: unknown, code: CodeIn<'compile'>, message: string): void => {
    problems.push(problemOf(`compile.${code}`, object, `metadata.annotations["${key}"]`, value, message));
  };

  for (const key of Object.keys(annotations).sort()) {
    if (key.startsWith(ANNOTATION_PREFIX) && !KNOWN.has(key)) {
      bad(
        key,
        annotations[key],
        'unknown-annotation',
        `Switchyard does not read this annotation, so it has no effect; known ones are ${[...KNOWN].sort().join(', ')} (docs/annotations.md)`,
      );
    }
  }

  const text = (key: string): string | undefined => {
    const v = annotations[key];
    return typeof v === 'string' ? v.trim() : v === undefined ? undefined : String(v);
  };

  const pp = text(DATA_PLANE_ANNOTATIONS.proxyProtocol);
  if (pp !== undefined) {
    if ((PROXY_PROTOCOLS as readonly string[]).includes(pp)) settings.proxyProtocol = pp as ProxyProtocol;
    else
      bad(
        DATA_PLANE_ANNOTATIONS.proxyProtocol,
        pp,
        'invalid-annotation',
        `must be one of ${PROXY_PROTOCOLS.join(', ')}; using none (no PROXY header) until it is fixed`,
      );
  }

  const algo = text(DATA_PLANE_ANNOTATIONS.algorithm);
  if (algo !== undefined) {
    if ((ALGORITHMS as readonly string[]).includes(algo)) settings.algorithm = algo as Algorithm;
    else
      bad(
        DATA_PLANE_ANNOTATIONS.algorithm,
        algo,
        'invalid-annotation',
        `must be one of ${ALGORITHMS.join(', ')}; using round-robin until it is fixed`,
      );
  }

  const max = text(DATA_PLANE_ANNOTATIONS.maxConnections);
  if (max !== undefined) {
    const n = /^\d+$/.test(max) ? Number(max) : Number.NaN;
    if (Number.isSafeInteger(n) && n <= MAX_CONNECTIONS) settings.maxConnections = n;
    else
      bad(
        DATA_PLANE_ANNOTATIONS.maxConnections,
        max,
        'invalid-annotation',
        `must be a whole number of connections from 0 (unlimited) to ${MAX_CONNECTIONS}, e.g. "1000"; using unlimited until it is fixed`,
      );
  }

  const timeout = (key: string, what: string): number | undefined => {
    const raw = text(key);
    if (raw === undefined) return undefined;
    // A bare number is refused: "30" could mean seconds or milliseconds, and guessing wrong is silent.
    const ms = /[a-z]$/.test(raw) ? parseDuration(raw) : null;
    if (ms !== null && ms > 0 && ms <= MAX_TIMEOUT_MS) return ms;
    bad(
      key,
      raw,
      'invalid-annotation',
      `must be a duration with a unit between 1ms and 24h, such as "500ms", "30s" or "5m"; using the default ${what} until it is fixed`,
    );
    return undefined;
  };
  const idle = timeout(DATA_PLANE_ANNOTATIONS.idleTimeout, 'idle timeout');
  if (idle !== undefined) settings.idleMs = idle;
  const connect = timeout(DATA_PLANE_ANNOTATIONS.connectTimeout, 'connect timeout');
  if (connect !== undefined) settings.connectMs = connect;

  return { settings, problems };
}
