import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRecord, readRepoFile } from './repo-files.ts';

/** How every panel names its data source: Grafana's `datasource` template variable. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template.
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

const DASHBOARD = 'deploy/grafana-dashboard.json';

/** The metrics table of docs/operations.md: name -> type, from rows starting "| `switchyard_". */
function documentedMetrics(): Map<string, string> {
  const text = readRepoFile('docs/operations.md');
  const section = text.slice(text.indexOf('\n## Metrics'));
  const end = section.indexOf('\n## ', 1);
  const out = new Map<string, string>();
  for (const line of (end < 0 ? section : section.slice(0, end)).split('\n')) {
    const m = /^\|\s*`(switchyard_[a-z0-9_]+)`\s*\|\s*(\w+)\s*\|/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** Every PromQL text in the dashboard: panel targets, nested row panels and template queries. */
function queries(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) queries(n, out);
  else if (isRecord(node))
    for (const [k, v] of Object.entries(node)) {
      if ((k === 'expr' || k === 'query' || k === 'definition') && typeof v === 'string') out.push(v);
      else queries(v, out);
    }
  return out;
}

/** The metric a series name belongs to: histogram series carry _bucket, _sum or _count. */
function baseMetric(series: string, documented: Map<string, string>): string {
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  return m && documented.get(m[1]!) === 'histogram' ? m[1]! : series;
}

const dashboard = JSON.parse(readRepoFile(DASHBOARD)) as Record<string, unknown>;
const documented = documentedMetrics();
const used = new Set(
  queries(dashboard).flatMap((q) =>
    [...q.matchAll(/\bswitchyard_[a-z0-9_]+/g)].map((m) => baseMetric(m[0], documented)),
  ),
);

describe('Grafana dashboard', () => {
  it('is a dashboard with a stable uid, a data-source variable and panels', () => {
    assert.equal(dashboard['uid'], 'switchyard');
    const vars = (dashboard['templating'] as { list: { name: string; type: string }[] }).list;
    assert.ok(vars.some((v) => v.name === 'datasource' && v.type === 'datasource'));
    assert.ok(Array.isArray(dashboard['panels']) && dashboard['panels'].length >= 10);
  });

  it('queries only metrics documented in the docs/operations.md metrics table', () => {
    assert.ok(documented.size >= 11, `the table documents ${documented.size} metrics`);
    for (const name of used) assert.ok(documented.has(name), `${name} is not in the metrics table`);
  });

  it('shows every documented metric somewhere', () => {
    for (const name of documented.keys()) assert.ok(used.has(name), `${name} has no panel`);
  });

  it('reads every panel from the data-source variable and gives each panel a unique id and a place', () => {
    const ids = new Set<number>();
    for (const p of dashboard['panels'] as Record<string, unknown>[]) {
      assert.ok(!ids.has(Number(p['id'])), `panel id ${p['id']} repeats`);
      ids.add(Number(p['id']));
      assert.ok(isRecord(p['gridPos']), `${p['title']} has a gridPos`);
      if (p['type'] === 'row') continue;
      assert.deepEqual(p['datasource'], DATASOURCE, String(p['title']));
      assert.ok(Array.isArray(p['targets']) && p['targets'].length > 0, `${p['title']} has queries`);
    }
  });
});
