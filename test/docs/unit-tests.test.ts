/**
 * `npm run test:unit` is the fast loop the README promises: its folders (read from the script in
 * package.json) hold tests that start no process, no redis-server and no network namespace. This
 * test follows every test-local import of those files and fails on one that could.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TEST = join(ROOT, 'test');

/** Imports that start processes, Redis or namespaces. */
const FORBIDDEN: readonly RegExp[] = [
  /^(node:)?child_process$/,
  /\/harness\/redis\.ts$/,
  /\/harness\/netns\.ts$/,
  /\/cli\/run-cli\.ts$/,
];

/** The folders the `test:unit` script runs: `test/{a,b}/**` or `test/a/**`. */
function unitFolders(): string[] {
  const script = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts['test:unit'];
  assert.ok(script, 'package.json has a test:unit script');
  const m = /"test\/(?:\{([\w,-]+)\}|([\w-]+))\/\*\*\/\*\.test\.ts"/.exec(script);
  assert.ok(m, `test:unit names its folders as "test/{a,b}/**/*.test.ts": ${script}`);
  return (m[1] ?? m[2]!).split(',').map((f) => join(TEST, f));
}

/** Every forbidden import reachable from the test files under `folders`, through files under test/. */
function forbiddenImports(folders: readonly string[]): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /^\s*(?:import|export)\b[^'"]*?\bfrom\s+'([^']+)'|^\s*import\s+'([^']+)'/gm,
    )) {
      const spec = (m[1] ?? m[2])!;
      const target = spec.startsWith('.') ? resolve(dirname(file), spec) : spec;
      if (FORBIDDEN.some((re) => re.test(target))) found.push(`${relative(ROOT, file)} imports ${spec}`);
      else if (target.startsWith(`${TEST}/`) && target.endsWith('.ts')) visit(target);
    }
  };
  for (const folder of folders) {
    for (const name of readdirSync(folder, { recursive: true }) as string[]) {
      if (name.endsWith('.test.ts')) visit(join(folder, name));
    }
  }
  return found;
}

describe('npm run test:unit', () => {
  it('runs folders whose tests start no process, Redis or network namespace', () => {
    assert.deepEqual(forbiddenImports(unitFolders()), []);
  });

  it('would notice one that does (the check can fail): test/cli spawns the CLI', () => {
    assert.ok(forbiddenImports([join(TEST, 'cli')]).length > 0);
  });
});
