/**
 * The problem catalog and the docs say the same thing: docs/problems.md has one row per code of
 * shared/problems.ts with its severity and meaning, docs/ip-allocation.md lists every allocation,
 * Service and pool code, and no page names a code the catalog lacks.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { PROBLEMS, type ProblemCode } from '../../shared/problems.ts';

const DOCS = new URL('../../docs/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, DOCS), 'utf8');
const CODES = Object.keys(PROBLEMS) as ProblemCode[];
const AREAS = new Set(CODES.map((c) => c.slice(0, c.indexOf('.'))));

/** The rows of docs/problems.md: code -> severity and meaning, as written. */
function documentedRows(): Map<string, { severity: string; when: string }> {
  const rows = new Map<string, { severity: string; when: string }>();
  for (const line of read('problems.md').split('\n')) {
    const m = /^\| `([a-z0-9.-]+)` \| (error|warning) \| (.*) \|$/.exec(line);
    if (!m) continue;
    assert.ok(!rows.has(m[1] as string), `${m[1]} has two rows`);
    rows.set(m[1] as string, { severity: m[2] as string, when: (m[3] as string).replaceAll('\\|', '|') });
  }
  return rows;
}

describe('problem codes: catalog and docs', () => {
  it('docs/problems.md has one row per catalog code, with its severity and meaning', () => {
    const rows = documentedRows();
    for (const code of CODES) {
      const row = rows.get(code);
      assert.ok(row, `${code} is not documented in docs/problems.md`);
      assert.deepEqual(row, { severity: PROBLEMS[code].severity, when: PROBLEMS[code].when }, code);
    }
    for (const code of rows.keys())
      assert.ok(code in PROBLEMS, `docs/problems.md documents ${code}, not in the catalog`);
  });

  it('docs/ip-allocation.md lists every allocation, Service and pool code', () => {
    const text = read('ip-allocation.md');
    const missing = CODES.filter((c) => /^(alloc|service|pool)\./.test(c) && !text.includes(`\`${c}\``));
    assert.deepEqual(missing, []);
  });

  it('no page under docs/ names a code the catalog lacks', () => {
    for (const name of readdirSync(DOCS).filter((n) => n.endsWith('.md'))) {
      for (const [, code] of read(name).matchAll(/`([a-z-]+\.[a-z0-9-]+)`/g)) {
        const area = (code as string).slice(0, (code as string).indexOf('.'));
        if (!AREAS.has(area) || /\.(ts|md|yaml|json|io)$/.test(code as string)) continue;
        assert.ok(
          (code as string) in PROBLEMS,
          `docs/${name} names ${code}, which is not in shared/problems.ts`,
        );
      }
    }
  });
});
