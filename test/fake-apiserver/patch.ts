/**
 * The PATCH bodies the fake API server takes: JSON merge patch (RFC 7386), JSON patch (RFC 6902),
 * and strategic merge patch, which is treated as a merge patch. That is exact for the maps and
 * scalars Switchyard patches; lists with merge keys (e.g. `ports`) are replaced whole instead of
 * merged by key, which a test relying on that would notice.
 */

/** A JSON value as it comes out of `JSON.parse`. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The patched document, or why the patch cannot be applied (a 422 from the server). */
export type PatchOutcome =
  | { readonly ok: true; readonly value: Json }
  | { readonly ok: false; readonly message: string };

/** Content types of PATCH, as clients send them. */
export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
} as const;

function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7386: objects merge key by key, `null` deletes, anything else replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: { [key: string]: Json } = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key] ?? null, value);
  }
  return out;
}

/** Decode one RFC 6901 pointer into its reference tokens. */
function pointerTokens(pointer: string): string[] | null {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) return null;
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** The container holding the pointer's last token, and that token. */
function locate(doc: Json, tokens: string[]): { parent: Json; key: string } | null {
  let cur: Json = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)] ?? null;
    else if (isObject(cur)) cur = cur[t] ?? null;
    else return null;
    if (cur === null) return null;
  }
  const key = tokens.at(-1);
  return key === undefined ? null : { parent: cur, key };
}

function getAt(doc: Json, tokens: string[]): Json | undefined {
  if (tokens.length === 0) return doc;
  const loc = locate(doc, tokens);
  if (!loc) return undefined;
  if (Array.isArray(loc.parent)) return loc.parent[Number(loc.key)];
  return isObject(loc.parent) ? loc.parent[loc.key] : undefined;
}

function arrayIndex(arr: Json[], key: string, forInsert: boolean): number | null {
  if (forInsert && key === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(key)) return null;
  const i = Number(key);
  return i < arr.length || (forInsert && i === arr.length) ? i : null;
}

function removeAt(doc: Json, tokens: string[]): boolean {
  const loc = locate(doc, tokens);
  if (!loc) return false;
  if (Array.isArray(loc.parent)) {
    const i = arrayIndex(loc.parent, loc.key, false);
    if (i === null) return false;
    loc.parent.splice(i, 1);
    return true;
  }
  if (!isObject(loc.parent) || !(loc.key in loc.parent)) return false;
  delete loc.parent[loc.key];
  return true;
}

function addAt(doc: Json, tokens: string[], value: Json, replace: boolean): boolean {
  const loc = locate(doc, tokens);
  if (!loc) return false;
  if (Array.isArray(loc.parent)) {
    const i = arrayIndex(loc.parent, loc.key, !replace);
    if (i === null) return false;
    loc.parent.splice(i, replace ? 1 : 0, value);
    return true;
  }
  if (!isObject(loc.parent)) return false;
  if (replace && !(loc.key in loc.parent)) return false;
  loc.parent[loc.key] = value;
  return true;
}

/** RFC 6902: apply the operations in order; any failing operation fails the whole patch. */
export function jsonPatch(target: Json, ops: Json): PatchOutcome {
  if (!Array.isArray(ops)) return { ok: false, message: 'a JSON patch must be an array of operations' };
  let doc = structuredClone(target);
  for (const [n, op] of ops.entries()) {
    if (!isObject(op) || typeof op.op !== 'string' || typeof op.path !== 'string') {
      return { ok: false, message: `operation ${n}: needs "op" and "path"` };
    }
    const path = pointerTokens(op.path);
    const from = typeof op.from === 'string' ? pointerTokens(op.from) : null;
    if (!path) return { ok: false, message: `operation ${n}: bad path ${JSON.stringify(op.path)}` };
    const value = op.value === undefined ? undefined : structuredClone(op.value);
    let done: boolean;
    switch (op.op) {
      case 'add':
      case 'replace':
        if (value === undefined) return { ok: false, message: `operation ${n}: "${op.op}" needs "value"` };
        if (path.length === 0) {
          doc = value;
          done = true;
        } else {
          done = addAt(doc, path, value, op.op === 'replace');
        }
        break;
      case 'remove':
        done = removeAt(doc, path);
        break;
      case 'move':
      case 'copy': {
        const moved = from ? getAt(doc, from) : undefined;
        if (!from || moved === undefined) return { ok: false, message: `operation ${n}: bad "from"` };
        const copy = structuredClone(moved);
        if (op.op === 'move' && !removeAt(doc, from))
          return { ok: false, message: `operation ${n}: bad "from"` };
        done = addAt(doc, path, copy, false);
        break;
      }
      case 'test':
        done = JSON.stringify(getAt(doc, path)) === JSON.stringify(value);
        if (!done) return { ok: false, message: `operation ${n}: test failed at ${op.path}` };
        break;
      default:
        return { ok: false, message: `operation ${n}: unknown op ${JSON.stringify(op.op)}` };
    }
    if (!done) return { ok: false, message: `operation ${n}: "${op.op}" cannot apply at ${op.path}` };
  }
  return { ok: true, value: doc };
}

/** Apply a PATCH body of `contentType` to `target`; null when the content type is not a patch type. */
export function applyPatch(contentType: string, target: Json, patch: Json): PatchOutcome | null {
  switch (contentType) {
    case PATCH_TYPES.json:
      return jsonPatch(target, patch);
    case PATCH_TYPES.merge:
    case PATCH_TYPES.strategic:
      if (!isObject(patch)) return { ok: false, message: 'a merge patch must be a JSON object' };
      return { ok: true, value: mergePatch(target, patch) };
    default:
      return null;
  }
}
