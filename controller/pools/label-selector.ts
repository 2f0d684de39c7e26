/**
 * Kubernetes label selectors (matchLabels + matchExpressions) compiled once into a checked, immutable
 * form, with the API server's matching semantics: every requirement must hold, and an empty selector
 * matches everything.
 */
import { type Problem, problemOf } from '../../shared/errors.ts';

/** A label set as Kubernetes stores it. */
export type Labels = Readonly<Record<string, string>>;

/** Operator of one selector requirement. */
export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** One requirement; `values` is empty for Exists/DoesNotExist. */
export interface SelectorRequirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  readonly values: readonly string[];
}

/** A compiled selector: matchLabels become `In` requirements with one value. */
export interface LabelSelector {
  readonly requirements: readonly SelectorRequirement[];
}

const OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Whether `key` is a valid label key: optional DNS-subdomain prefix and `/`, then a name of <= 63 characters. */
export function isLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : null;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== null && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return false;
  }
  return name.length > 0 && name.length <= 63 && NAME.test(name);
}

/** Whether `value` is a valid label value: empty, or a name of <= 63 characters. */
export function isLabelValue(value: string): boolean {
  return value === '' || (value.length <= 63 && NAME.test(value));
}

/** Where a selector sits, so each problem can name the object and the field. */
export interface SelectorSite {
  readonly object: string;
  readonly field: string;
}

function problem(site: SelectorSite, field: string, value: unknown, message: string): Problem {
  return problemOf('pool.invalid-selector', site.object, `${site.field}${field}`, value, message);
}

/**
 * Compile a selector, or return every problem in it. Input comes from YAML or the API server, so
 * nothing about its shape is trusted.
 */
export function compileSelector(
  raw: unknown,
  site: SelectorSite,
): { selector: LabelSelector | null; problems: Problem[] } {
  const problems: Problem[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problems.push(problem(site, '', raw, 'must be a label selector {matchLabels, matchExpressions}'));
    return { selector: null, problems };
  }
  const obj = raw as Record<string, unknown>;
  const requirements: SelectorRequirement[] = [];
  for (const k of Object.keys(obj)) {
    if (k !== 'matchLabels' && k !== 'matchExpressions') {
      problems.push(problem(site, `.${k}`, obj[k], 'unknown field; use matchLabels or matchExpressions'));
    }
  }
  const ml = obj['matchLabels'];
  if (ml !== undefined) {
    if (typeof ml !== 'object' || ml === null || Array.isArray(ml)) {
      problems.push(problem(site, '.matchLabels', ml, 'must be a mapping of label key to value'));
    } else {
      for (const [key, value] of Object.entries(ml as Record<string, unknown>)) {
        if (!isLabelKey(key)) {
          problems.push(problem(site, `.matchLabels.${key}`, key, 'is not a valid label key'));
        } else if (typeof value !== 'string' || !isLabelValue(value)) {
          problems.push(
            problem(site, `.matchLabels.${key}`, value, 'must be a label value (<= 63 letters, digits, -_.)'),
          );
        } else requirements.push({ key, operator: 'In', values: [value] });
      }
    }
  }
  const me = obj['matchExpressions'];
  if (me !== undefined) {
    if (!Array.isArray(me)) {
      problems.push(problem(site, '.matchExpressions', me, 'must be a list of {key, operator, values}'));
    } else {
      me.forEach((e: unknown, i: number) => {
        const req = compileRequirement(e, site, `.matchExpressions[${i}]`, problems);
        if (req) requirements.push(req);
      });
    }
  }
  return { selector: problems.length === 0 ? { requirements } : null, problems };
}

function compileRequirement(
  e: unknown,
  site: SelectorSite,
  path: string,
  problems: Problem[],
): SelectorRequirement | null {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) {
    problems.push(problem(site, path, e, 'must be a mapping {key, operator, values}'));
    return null;
  }
  const r = e as Record<string, unknown>;
  const before = problems.length;
  const key = r['key'];
  if (typeof key !== 'string' || !isLabelKey(key)) {
    problems.push(problem(site, `${path}.key`, key, 'must be a valid label key'));
  }
  const op = r['operator'];
  if (typeof op !== 'string' || !OPERATORS.includes(op as SelectorOperator)) {
    problems.push(problem(site, `${path}.operator`, op, `must be one of ${OPERATORS.join(', ')}`));
  }
  const rawValues = r['values'] ?? [];
  const values: string[] = [];
  if (!Array.isArray(rawValues)) {
    problems.push(problem(site, `${path}.values`, rawValues, 'must be a list of label values'));
  } else {
    for (const v of rawValues) {
      if (typeof v !== 'string' || !isLabelValue(v)) {
        problems.push(problem(site, `${path}.values`, v, 'each value must be a label value'));
      } else values.push(v);
    }
  }
  if (problems.length > before) return null;
  const operator = op as SelectorOperator;
  if ((operator === 'In' || operator === 'NotIn') && values.length === 0) {
    problems.push(problem(site, `${path}.values`, rawValues, `${operator} needs at least one value`));
    return null;
  }
  if ((operator === 'Exists' || operator === 'DoesNotExist') && values.length > 0) {
    problems.push(problem(site, `${path}.values`, rawValues, `${operator} takes no values; remove them`));
    return null;
  }
  return { key: key as string, operator, values };
}

/** Whether `labels` satisfy every requirement of `selector`. */
export function selectorMatches(selector: LabelSelector, labels: Labels): boolean {
  for (const r of selector.requirements) {
    const has = Object.hasOwn(labels, r.key);
    const value = labels[r.key];
    switch (r.operator) {
      case 'In':
        if (!has || !r.values.includes(value as string)) return false;
        break;
      case 'NotIn':
        if (has && r.values.includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}
