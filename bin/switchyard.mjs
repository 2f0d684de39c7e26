#!/usr/bin/env node
// The `switchyard` executable. It runs the compiled JavaScript in dist/ (`npm run build`, which
// `npm ci` runs as `prepare`) when that build is of the sources as they are, else the TypeScript
// sources through tsx, so an edited source is never run stale. The image has dist/ and no sources:
// there dist/ is always used.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

// One Node version rule: package.json's `engines.node`, a space-separated list of comparators
// (`>=24.0.0 <25`); test/deploy/launcher.test.ts keeps the Dockerfile and lockfile inside it.
const range = pkg.engines.node;
if (!satisfies(process.versions.node, range)) {
  process.stderr.write(
    `switchyard needs Node.js ${range} (package.json "engines"), but this is ${process.version}.\n` +
      'Run it through npm (`npx switchyard ...`, `npm start`), which uses the Node 24 installed by `npm ci`.\n',
  );
  process.exit(1);
}

// `--version` alone is answered here, from the package.json just read (what yargs would print), so it
// costs no more than starting Node.
if (process.argv.length === 3 && process.argv[2] === '--version') {
  process.stdout.write(`${pkg.version}\n`);
  process.exit(0);
}

const dist = new URL('../dist/', import.meta.url);
const compiled = new URL('../dist/bin/cli.js', import.meta.url);
if (existsSync(compiled) && !(hasSources() && stale())) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./cli.ts');
}

/** Whether `version` (`24.21.0`) meets every comparator of `range` (`>=24.0.0 <25`). */
function satisfies(version, range) {
  const v = version.split('.').map(Number);
  return range
    .trim()
    .split(/\s+/)
    .every((comparator) => {
      const m = /^(>=|<=|>|<|=)?v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(comparator);
      if (!m) throw new Error(`package.json engines.node: cannot read "${comparator}" in "${range}"`);
      const bound = [m[2], m[3] ?? 0, m[4] ?? 0].map(Number);
      let cmp = 0;
      for (let i = 0; i < 3 && cmp === 0; i++) cmp = Math.sign(v[i] - bound[i]);
      return { '>=': cmp >= 0, '<=': cmp <= 0, '>': cmp > 0, '<': cmp < 0, '=': cmp === 0 }[m[1] ?? '='];
    });
}

/** A source checkout (not the image): the TypeScript the build compiled is beside this file. */
function hasSources() {
  return existsSync(new URL('cli.ts', import.meta.url));
}

/**
 * Whether dist/ may not be the sources as they are. `npm run build` touches dist/.build-started
 * (`prebuild`) before tsc reads a source, and tsc then rewrites every compiled file; so dist/ is
 * current only if it has that stamp, every source that tsconfig.build.json compiles is older than
 * it (not edited or checked out since the build began, even while tsc ran), and every source has a
 * compiled twin written after it (none added since, none left over from a build that stopped). A
 * deleted source only mattered through an importer, which then changed too. About 300 stat calls:
 * a few milliseconds.
 */
function stale() {
  const started = statSync(new URL('.build-started', dist), { throwIfNoEntry: false });
  if (started === undefined) return true;
  const root = fileURLToPath(new URL('../', import.meta.url));
  const { include } = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8'));
  for (const dir of include) {
    for (const entry of readdirSync(join(root, dir), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
      const source = join(entry.parentPath, entry.name);
      if (statSync(source).mtimeMs > started.mtimeMs) return true;
      const twin = join(fileURLToPath(dist), relative(root, source)).replace(/\.ts$/, '.js');
      const compiled = statSync(twin, { throwIfNoEntry: false });
      if (compiled === undefined || compiled.mtimeMs < started.mtimeMs) return true;
    }
  }
  return false;
}
