/**
 * What a new forwarding table changes for the listeners a speaker serves. Pure: the listener manager
 * applies the result (bind the added, re-pick the changed, drain the removed, leave the rest alone).
 */
import { type Listener, listenerKey } from '../shared/model.ts';

/** The listeners of a new table sorted by what must happen to them. */
export interface TableDiff {
  readonly added: readonly Listener[];
  /** Same VIP:port, different backends or settings: new picker and settings, no rebind. */
  readonly changed: readonly Listener[];
  readonly unchanged: readonly Listener[];
  /** Keys of listeners that are gone: they drain. */
  readonly removed: readonly string[];
}

/** Structural equality of two parsed model values (plain data: objects, arrays, primitives). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return ka.every((k) => Object.hasOwn(rb, k) && sameValue(ra[k], rb[k]));
}

/** Compare the listeners being served (by key) with a new table's listeners. */
export function diffListeners(current: ReadonlyMap<string, Listener>, next: readonly Listener[]): TableDiff {
  const added: Listener[] = [];
  const changed: Listener[] = [];
  const unchanged: Listener[] = [];
  const seen = new Set<string>();
  for (const l of next) {
    const key = listenerKey(l);
    seen.add(key);
    const old = current.get(key);
    if (old === undefined) added.push(l);
    else if (sameValue(old, l)) unchanged.push(l);
    else changed.push(l);
  }
  const removed = [...current.keys()].filter((k) => !seen.has(k));
  return { added, changed, unchanged, removed };
}
