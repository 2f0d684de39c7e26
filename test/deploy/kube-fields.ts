/**
 * Strict field validation for built-in Kubernetes kinds, driven by the type tables that
 * @kubernetes/client-node generates from the Kubernetes OpenAPI: a field the type does not have, or a
 * value of the wrong JSON type (a number where the API wants a string), is reported with its path, as
 * `kubectl apply --validate=strict` would refuse it.
 */
import * as k8s from '@kubernetes/client-node';

interface Attribute {
  readonly baseName: string;
  readonly type: string;
}

type Model = { readonly attributeTypeMap?: readonly Attribute[] };

const models = k8s as unknown as Readonly<Record<string, Model | undefined>>;

/** apiVersion/kind to the client-node model name, for the kinds our manifests and examples use. */
export function modelFor(apiVersion: string, kind: string): string | null {
  const version = apiVersion.split('/').at(-1);
  if (version !== 'v1') return null;
  const name = `V1${kind}`;
  return models[name]?.attributeTypeMap ? name : null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Problems with `value` as an instance of `type` (a model name or a client-node type expression). */
export function fieldProblems(value: unknown, type: string, path = ''): string[] {
  const at = path === '' ? '(root)' : path;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (!Array.isArray(value)) return [`${at}: expected a list`];
    return value.flatMap((v, i) => fieldProblems(v, array[1]!, `${path}[${i}]`));
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (!isRecord(value)) return [`${at}: expected a mapping`];
    return Object.entries(value).flatMap(([key, v]) => fieldProblems(v, map[1]!, `${path}.${key}`));
  }
  switch (type) {
    case 'any':
      return [];
    case 'string':
    case 'Date':
      return typeof value === 'string' ? [] : [`${at}: expected a string, got ${JSON.stringify(value)}`];
    case 'number':
      return typeof value === 'number' ? [] : [`${at}: expected a number, got ${JSON.stringify(value)}`];
    case 'boolean':
      return typeof value === 'boolean'
        ? []
        : [`${at}: expected true or false, got ${JSON.stringify(value)}`];
    case 'IntOrString':
      return typeof value === 'string' || Number.isInteger(value)
        ? []
        : [`${at}: expected an integer or a string`];
  }
  const attrs = models[type]?.attributeTypeMap;
  if (!attrs) return [`${at}: no type ${type} to check against`];
  if (!isRecord(value)) return [`${at}: expected a mapping (${type})`];
  const byName = new Map(attrs.map((a) => [a.baseName, a.type]));
  return Object.entries(value).flatMap(([key, v]) => {
    const p = path === '' ? key : `${path}.${key}`;
    const t = byName.get(key);
    if (t === undefined) return [`${p}: unknown field of ${type}`];
    return v === null ? [] : fieldProblems(v, t, p);
  });
}
