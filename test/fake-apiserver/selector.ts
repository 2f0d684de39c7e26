/**
 * Label and field selectors as LIST and WATCH take them. Labels: `k=v`, `k==v`, `k!=v`, `k`, `!k`,
 * `k in (a,b)`, `k notin (a,b)`, joined by commas. Fields: `metadata.name` and `metadata.namespace`
 * with `=`, `==` and `!=`, which is what controllers use in practice.
 */

/** A parsed selector: does an object match? */
export type Selector = (obj: {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
}) => boolean;

/** The parse result: a selector or the text that could not be parsed. */
export type SelectorOutcome =
  | { readonly ok: true; readonly match: Selector }
  | { readonly ok: false; readonly message: string };

/** Split on commas that are not inside `( )`. */
function terms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

type Labels = Record<string, string>;

function labelTerm(term: string): ((labels: Labels) => boolean) | null {
  let m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(term);
  if (m) {
    const [, key, op, value] = m as unknown as [string, string, string, string];
    return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
  }
  m = /^([\w./-]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
  if (m) {
    const [, key, op, list] = m as unknown as [string, string, string, string];
    const values = new Set(list.split(',').map((v) => v.trim()));
    return op === 'in'
      ? (l) => l[key] !== undefined && values.has(l[key])
      : (l) => l[key] === undefined || !values.has(l[key]);
  }
  m = /^(!?)([\w./-]+)$/.exec(term);
  if (m) {
    const [, not, key] = m as unknown as [string, string, string];
    return not ? (l) => !(key in l) : (l) => key in l;
  }
  return null;
}

/** Parse a `labelSelector` query value; an empty or absent one matches everything. */
export function parseLabelSelector(text: string | null): SelectorOutcome {
  const checks: ((labels: Labels) => boolean)[] = [];
  for (const term of terms(text ?? '')) {
    const check = labelTerm(term);
    if (!check) return { ok: false, message: `unable to parse requirement: ${JSON.stringify(term)}` };
    checks.push(check);
  }
  return { ok: true, match: (obj) => checks.every((c) => c(obj.metadata?.labels ?? {})) };
}

/** Parse a `fieldSelector` query value (metadata.name / metadata.namespace only). */
export function parseFieldSelector(text: string | null): SelectorOutcome {
  const checks: Selector[] = [];
  for (const term of terms(text ?? '')) {
    const m = /^metadata\.(name|namespace)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) return { ok: false, message: `field label not supported: ${JSON.stringify(term)}` };
    const [, field, op, value] = m as unknown as [string, 'name' | 'namespace', string, string];
    checks.push(
      op === '!='
        ? (o) => (o.metadata?.[field] ?? '') !== value
        : (o) => (o.metadata?.[field] ?? '') === value,
    );
  }
  return { ok: true, match: (obj) => checks.every((c) => c(obj)) };
}
