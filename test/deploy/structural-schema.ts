/**
 * A validator for the part of Kubernetes' structural OpenAPI v3 schemas that our CRDs use: `type`,
 * `properties`, `required`, `items`, `enum`, `minItems`, `minLength`, `additionalProperties` and the
 * formats `int64`, `int32` and `date-time`. It judges objects as an API server with strict field
 * validation does: an unknown field is an error, not something silently pruned.
 *
 * A keyword it does not implement makes `structuralProblems` fail rather than be skipped, so a CRD
 * change that needs more of OpenAPI cannot pass these tests by being half-checked.
 */

/** One way a schema or a value is wrong, at a path written as kubectl does (`spec.items[0].key`). */
export interface SchemaViolation {
  readonly path: string;
  readonly message: string;
}

type Schema = Readonly<Record<string, unknown>>;

/** Keywords this validator implements, plus annotations that do not constrain values. */
const KEYWORDS = new Set([
  'type',
  'properties',
  'required',
  'items',
  'enum',
  'minItems',
  'minLength',
  'additionalProperties',
  'format',
  'default',
  'description',
  'x-kubernetes-map-type',
]);
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
const FORMATS: Readonly<Record<string, string>> = {
  int64: 'integer',
  int32: 'integer',
  'date-time': 'string',
};
const INT64 = 2n ** 63n;
const INT32 = 2n ** 31n;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** ObjectMeta fields a client may send; the API server validates metadata itself, not the CRD schema. */
const OBJECT_META = new Set([
  'name',
  'generateName',
  'namespace',
  'labels',
  'annotations',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'ownerReferences',
  'finalizers',
  'managedFields',
  'selfLink',
]);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function child(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'bigint') return 'integer';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function hasType(v: unknown, type: string): boolean {
  const actual = typeOf(v);
  return actual === type || (type === 'number' && actual === 'integer') || (type === 'object' && isRecord(v));
}

/**
 * Why `schema` is not a structural schema this validator can apply: a missing or unknown `type`, a
 * `$ref`, an unknown keyword, `properties` beside `additionalProperties`, an array without `items`, a
 * format on the wrong type, or a `default`/`enum` value the node itself refuses. Empty when fine.
 */
export function structuralProblems(schema: unknown, path = ''): SchemaViolation[] {
  const out: SchemaViolation[] = [];
  const at = path === '' ? '(root)' : path;
  if (!isRecord(schema)) return [{ path: at, message: 'a schema node must be a mapping' }];
  for (const key of Object.keys(schema)) {
    if (key === '$ref') out.push({ path: at, message: '$ref is not allowed in a structural schema' });
    else if (!KEYWORDS.has(key)) out.push({ path: at, message: `keyword ${key} is not implemented here` });
  }
  const type = schema['type'];
  if (typeof type !== 'string' || !TYPES.has(type)) {
    out.push({ path: at, message: `every node needs a type, one of ${[...TYPES].join(', ')}` });
    return out;
  }
  const props = schema['properties'];
  const additional = schema['additionalProperties'];
  if (
    (props !== undefined || additional !== undefined || schema['required'] !== undefined) &&
    type !== 'object'
  )
    out.push({ path: at, message: 'properties, additionalProperties and required belong to objects' });
  if (props !== undefined && additional !== undefined)
    out.push({ path: at, message: 'properties and additionalProperties are mutually exclusive' });
  if (props !== undefined) {
    if (!isRecord(props)) out.push({ path: at, message: 'properties must be a mapping' });
    else for (const [k, sub] of Object.entries(props)) out.push(...structuralProblems(sub, child(path, k)));
  }
  if (isRecord(additional)) out.push(...structuralProblems(additional, child(path, '*')));
  const required = schema['required'];
  if (required !== undefined) {
    if (!Array.isArray(required) || !required.every((r) => typeof r === 'string'))
      out.push({ path: at, message: 'required must be a list of field names' });
    else if (isRecord(props))
      for (const r of required)
        if (!Object.hasOwn(props, r)) out.push({ path: at, message: `required field ${r} has no schema` });
  }
  if (type === 'array') {
    if (schema['items'] === undefined) out.push({ path: at, message: 'an array needs items' });
    else out.push(...structuralProblems(schema['items'], `${path}[]`));
  } else if (schema['items'] !== undefined || schema['minItems'] !== undefined)
    out.push({ path: at, message: 'items and minItems belong to arrays' });
  if (schema['minLength'] !== undefined && type !== 'string')
    out.push({ path: at, message: 'minLength belongs to strings' });
  const format = schema['format'];
  if (format !== undefined && FORMATS[String(format)] !== type)
    out.push({ path: at, message: `format ${String(format)} is not implemented for type ${type}` });
  const enumValues = schema['enum'];
  if (enumValues !== undefined) {
    if (!Array.isArray(enumValues) || enumValues.length === 0)
      out.push({ path: at, message: 'enum must be a non-empty list' });
    else
      for (const e of enumValues)
        if (!hasType(e, type)) out.push({ path: at, message: `enum value ${String(e)} is not a ${type}` });
  }
  if (schema['default'] !== undefined)
    for (const v of validate(schema, schema['default'], path))
      out.push({ path: at, message: `default is invalid: ${v.message}` });
  return out;
}

/** Checks the metadata of a custom object: what the API server's ObjectMeta validation would refuse. */
function validateMetadata(meta: unknown, path: string): SchemaViolation[] {
  if (!isRecord(meta)) return [{ path, message: 'metadata must be a mapping' }];
  const out: SchemaViolation[] = [];
  for (const k of Object.keys(meta))
    if (!OBJECT_META.has(k)) out.push({ path: child(path, k), message: 'unknown field in metadata' });
  if (typeof meta['name'] !== 'string' || meta['name'] === '')
    if (typeof meta['generateName'] !== 'string')
      out.push({ path: child(path, 'name'), message: 'a name (or generateName) is required' });
  for (const k of ['labels', 'annotations']) {
    const m = meta[k];
    if (m === undefined) continue;
    if (!isRecord(m)) out.push({ path: child(path, k), message: 'must be a mapping of strings' });
    else
      for (const [key, v] of Object.entries(m))
        if (typeof v !== 'string')
          out.push({ path: `${path}.${k}.${key}`, message: 'values must be strings' });
  }
  return out;
}

/**
 * Everything wrong with `value` under `schema`, as an API server with strict field validation would
 * report it. `path` is the value's location; at the root, `metadata` is judged as ObjectMeta.
 */
export function validate(schema: Schema, value: unknown, path = ''): SchemaViolation[] {
  const at = path === '' ? '(root)' : path;
  const type = String(schema['type']);
  if (value === null) return [{ path: at, message: `null is not a ${type}` }];
  if (!hasType(value, type)) return [{ path: at, message: `expected ${type}, got ${typeOf(value)}` }];
  const out: SchemaViolation[] = [];
  const enumValues = schema['enum'];
  if (Array.isArray(enumValues) && !enumValues.includes(value))
    out.push({
      path: at,
      message: `unsupported value ${JSON.stringify(value)}: one of ${enumValues.join(', ')}`,
    });
  if (type === 'string') {
    const s = value as string;
    const minLength = schema['minLength'];
    if (typeof minLength === 'number' && [...s].length < minLength)
      out.push({ path: at, message: `shorter than ${minLength} characters` });
    if (schema['format'] === 'date-time' && !DATE_TIME.test(s))
      out.push({ path: at, message: 'not an RFC 3339 date-time' });
  }
  if (type === 'integer') {
    const n = typeof value === 'bigint' ? value : BigInt(value as number);
    const limit = schema['format'] === 'int32' ? INT32 : schema['format'] === 'int64' ? INT64 : null;
    if (limit !== null && (n < -limit || n >= limit))
      out.push({ path: at, message: `out of range for ${String(schema['format'])}` });
  }
  if (type === 'array') {
    const items = value as unknown[];
    const minItems = schema['minItems'];
    if (typeof minItems === 'number' && items.length < minItems)
      out.push({ path: at, message: `must have at least ${minItems} items` });
    const itemSchema = schema['items'];
    if (isRecord(itemSchema))
      items.forEach((item, i) => {
        out.push(...validate(itemSchema, item, `${path}[${i}]`));
      });
  }
  if (type === 'object') {
    const obj = value as Record<string, unknown>;
    const props = isRecord(schema['properties']) ? schema['properties'] : {};
    const additional = schema['additionalProperties'];
    for (const r of Array.isArray(schema['required']) ? schema['required'] : [])
      if (obj[r] === undefined) out.push({ path: child(path, String(r)), message: 'required value' });
    for (const [k, v] of Object.entries(obj)) {
      const p = child(path, k);
      if (path === '' && k === 'metadata') out.push(...validateMetadata(v, p));
      else if (isRecord(props[k])) out.push(...validate(props[k], v, p));
      else if (isRecord(additional)) out.push(...validate(additional, v, p));
      else if (additional !== true) out.push({ path: p, message: 'unknown field' });
    }
  }
  return out;
}
