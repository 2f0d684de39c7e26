/**
 * How a forwarding table sits in the store: one JSON document per listener, keyed by its listener
 * key. Listeners are written in the table-file format (docs/table-format.md) and read back through
 * `parseTable`, so whatever a speaker accepts from the store passed the same validation as a table
 * file, and garbage in a key becomes a Problem instead of a crash.
 */
import { type Problem, type Result, show } from '../errors.ts';
import { type ForwardingTable, type Listener, listenerKey } from '../model.ts';
import type { ProblemCode } from '../problems.ts';
import { parseTable } from '../table-parse.ts';
import { renderListener } from '../table-render.ts';
import { forEachSliced } from './sliced-work.ts';

/** Encode every listener to `listener key → JSON`, in slices that yield to the event loop. */
export async function encodeListeners(listeners: readonly Listener[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await forEachSliced(listeners, (l) => {
    out.set(listenerKey(l), JSON.stringify(renderListener(l)));
  });
  return out;
}

/** A stored listener refused: one problem naming the hash field, with the fix. */
function refusal(
  code: ProblemCode,
  key: string,
  source: string,
  field: string,
  value: string,
  why: string,
): Result<Listener> {
  return {
    ok: false,
    problems: [
      {
        code,
        object: `${source}[${key}]`,
        field,
        value,
        message: `${why}; publish the table again from the controller`,
      },
    ],
  };
}

/** Decode and validate one stored listener. `source` names the hash in problems. */
export function decodeListener(key: string, text: string, source: string): Result<Listener> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return refusal(
      'store.malformed-listener',
      key,
      source,
      '(listener)',
      show(text),
      `not valid JSON (${detail})`,
    );
  }
  const parsed = parseTable({ listeners: [doc] }, `${source}[${key}]`);
  if (!parsed.ok) return parsed;
  const listener = parsed.value.listeners[0];
  if (listener === undefined) {
    return refusal(
      'store.malformed-listener',
      key,
      source,
      '(listener)',
      show(text),
      'the stored listener decoded to nothing',
    );
  }
  const stored = listenerKey(listener);
  if (stored !== key) {
    return refusal(
      'store.key-mismatch',
      key,
      source,
      '(listener key)',
      show(stored),
      `the listener stored under ${key} is ${stored}`,
    );
  }
  return { ok: true, value: listener };
}

/** Decode stored listeners into `listener key → Listener`, in slices; every problem is collected. */
export async function decodeListeners(
  entries: Iterable<readonly [string, string]>,
  source: string,
): Promise<Result<Map<string, Listener>>> {
  const out = new Map<string, Listener>();
  const problems: Problem[] = [];
  await forEachSliced(entries, ([key, text]) => {
    const r = decodeListener(key, text, source);
    if (r.ok) out.set(key, r.value);
    else problems.push(...r.problems);
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: out };
}

/** The table for `listeners` at `version`, ordered by listener key so every reader sees one order. */
export function tableOf(listeners: ReadonlyMap<string, Listener>, version: number): ForwardingTable {
  const keys = [...listeners.keys()].sort();
  return { version, listeners: keys.map((k) => listeners.get(k)!) };
}

/** What changed between two encoded tables. */
export interface FieldDiff {
  /** Keys that are new or whose JSON differs. */
  readonly changed: readonly string[];
  /** Keys that are gone. */
  readonly removed: readonly string[];
}

/** Compare two encoded tables key by key. */
export function diffFields(prev: ReadonlyMap<string, string>, next: ReadonlyMap<string, string>): FieldDiff {
  const changed: string[] = [];
  const removed: string[] = [];
  for (const [k, v] of next) if (prev.get(k) !== v) changed.push(k);
  for (const k of prev.keys()) if (!next.has(k)) removed.push(k);
  return { changed, removed };
}
