/**
 * Which clients a Service admits: `spec.loadBalancerSourceRanges`, or when that is empty the
 * `service.beta.kubernetes.io/load-balancer-source-ranges` annotation (comma-separated), exactly the
 * precedence Kubernetes cloud providers use. Ranges restrict access, so a bad one must never widen
 * it: bad entries are dropped with a Problem, and if none is left the Service is refused rather
 * than opened to every client.
 */

import { type Problem, show } from '../../shared/errors.ts';
import { parseCidr } from '../../shared/ip.ts';
import type { ServiceObject } from '../model/kubernetes.ts';

/** The Kubernetes annotation read when `spec.loadBalancerSourceRanges` is empty. */
export const SOURCE_RANGES_ANNOTATION = 'service.beta.kubernetes.io/load-balancer-source-ranges';

/** The admitted ranges (canonical CIDRs, empty = every client) or a refusal, with what was wrong. */
export interface SourceRangeReading {
  readonly ranges: readonly string[];
  /** True when ranges were given but none was usable: the Service must get no listeners. */
  readonly refused: boolean;
  readonly problems: readonly Problem[];
}

/** Read the source ranges of `service`; `object` names it in problems. */
export function serviceSourceRanges(service: ServiceObject, object: string): SourceRangeReading {
  const spec = service.spec?.loadBalancerSourceRanges ?? [];
  const fromSpec = spec.length > 0;
  const annotation = service.metadata?.annotations?.[SOURCE_RANGES_ANNOTATION];
  const entries: { text: unknown; field: string }[] = fromSpec
    ? spec.map((text, i) => ({ text, field: `spec.loadBalancerSourceRanges[${i}]` }))
    : (typeof annotation === 'string' ? annotation.split(',') : [])
        .map((t) => t.trim())
        .filter((t) => t !== '')
        .map((text) => ({ text, field: `metadata.annotations["${SOURCE_RANGES_ANNOTATION}"]` }));

  const problems: Problem[] = [];
  const ranges: string[] = [];
  for (const e of entries) {
    const cidr = typeof e.text === 'string' ? parseCidr(e.text) : null;
    if (!cidr) {
      problems.push({
        code: 'compile.invalid-source-range',
        object,
        field: e.field,
        value: show(e.text),
        message:
          'must be a CIDR such as 203.0.113.0/24 or 2001:db8::/64; clients from it are refused until it is fixed',
      });
    } else if (!ranges.includes(cidr.text)) ranges.push(cidr.text);
  }
  const refused = entries.length > 0 && ranges.length === 0;
  if (refused) {
    problems.push({
      code: 'compile.no-valid-source-range',
      object,
      field: fromSpec
        ? 'spec.loadBalancerSourceRanges'
        : `metadata.annotations["${SOURCE_RANGES_ANNOTATION}"]`,
      value: show(fromSpec ? spec : annotation),
      message:
        'no source range is valid, and serving the Service without them would admit every client, so it gets no listeners; fix the ranges',
    });
  }
  return { ranges, refused, problems };
}
