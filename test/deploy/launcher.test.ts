/**
 * The launcher, bin/switchyard.mjs. Which Node it accepts: one rule everywhere, package.json's
 * `engines.node`, with the lockfile's `node` package (the Node that `npm ci` installs for tests and
 * `npx`) and the image's Node the same release inside it. Which code it runs: dist/ only while no
 * source file is newer than its compiled twin, so an edit never runs stale.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { REPO, readRepoFile } from './repo-files.ts';

const pkg = JSON.parse(readRepoFile('package.json')) as {
  engines: { node: string };
  dependencies: Record<string, string>;
};
const lock = JSON.parse(readRepoFile('package-lock.json')) as {
  packages: Record<string, { version?: string }>;
};
const lockedNode = lock.packages['node_modules/node']?.version ?? '';

/** `24.21.0` as numbers. */
function parts(version: string): [number, number, number] {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  assert.ok(m, `${version} is a full x.y.z version`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** The engines range as the launcher reads it: exactly `>=A.B.C <N` (lower bound and next major). */
function enginesBounds(range: string): { min: [number, number, number]; belowMajor: number } {
  const m = /^>=(\d+\.\d+\.\d+) <(\d+)$/.exec(range);
  assert.ok(m, `engines.node "${range}" has the form ">=A.B.C <N"`);
  return { min: parts(m[1]!), belowMajor: Number(m[2]) };
}

function admits(range: string, version: string): boolean {
  const { min, belowMajor } = enginesBounds(range);
  const v = parts(version);
  const atLeast = v[0] !== min[0] ? v[0] > min[0] : v[1] !== min[1] ? v[1] > min[1] : v[2] >= min[2];
  return atLeast && v[0] < belowMajor;
}

const dir = mkdtempSync(join(tmpdir(), 'sy-node-version-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the launcher beside a package.json with `engines` and a stub dist/bin/cli.js (no sources: the image). */
function launcherRoot(engines: string): string {
  const root = mkdtempSync(join(dir, 'root-'));
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'dist/bin'), { recursive: true });
  copyFileSync(join(REPO, 'bin/switchyard.mjs'), join(root, 'bin/switchyard.mjs'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ type: 'module', engines: { node: engines } }));
  writeFileSync(join(root, 'dist/bin/cli.js'), "process.stdout.write('cli ran\\n');\n");
  return root;
}

/** Runs the launcher of `root` (a root made for `engines` when given a range). */
function launch(rootOrEngines: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const root = rootOrEngines.startsWith('/') ? rootOrEngines : launcherRoot(rootOrEngines);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, 'bin/switchyard.mjs')],
      { timeout: 30_000, encoding: 'utf8' },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('one Node version rule', () => {
  it('the Dockerfile builds and runs on the Node release the lockfile pins, not a floating tag', () => {
    const arg = /^ARG NODE_IMAGE=(\S+)$/m.exec(readRepoFile('Dockerfile'));
    assert.ok(arg, 'the Dockerfile has ARG NODE_IMAGE=...');
    assert.equal(arg[1], `node:${lockedNode}-bookworm-slim`);
    assert.doesNotMatch(
      readRepoFile('Dockerfile'),
      /^FROM node:/m,
      'every stage builds FROM the NODE_IMAGE argument',
    );
  });

  it('the locked Node satisfies engines, and the `node` dependency asks for that release line', () => {
    assert.ok(admits(pkg.engines.node, lockedNode), `${lockedNode} is inside ${pkg.engines.node}`);
    assert.equal(pkg.dependencies['node'], `^${lockedNode}`);
    const { belowMajor } = enginesBounds(pkg.engines.node);
    assert.equal(belowMajor, parts(lockedNode)[0] + 1, 'engines stops before the next major');
    assert.ok(admits(pkg.engines.node, process.versions.node), 'these tests run on a Node engines allows');
  });

  it('the launcher runs under a Node that engines admits', async () => {
    const r = await launch(pkg.engines.node);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'cli ran\n');
  });

  it('the launcher refuses a Node above the engines range, naming the range (it reads engines)', async () => {
    const [major, minor, patch] = parts(process.versions.node);
    const range = `>=${major}.0.0 <${major}.${minor}.${patch}`;
    const r = await launch(range);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.ok(r.stderr.includes(range), r.stderr);
    assert.ok(r.stderr.includes(process.version), r.stderr);
  });

  it('the launcher refuses a Node below the engines range', async () => {
    const [major] = parts(process.versions.node);
    const r = await launch(`>=${major + 1}.0.0 <${major + 2}`);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
  });
});

describe('the launcher runs dist/ only while it is the build of the sources as they are', () => {
  const written = new Date(Date.now() - 120_000);
  const started = new Date(Date.now() - 90_000);
  const built = new Date(Date.now() - 60_000);

  /**
   * A source checkout, bin/cli.ts and shared/who.ts, written two minutes ago; a build began 90 s ago
   * (dist/.build-started) and wrote their twins a minute ago.
   */
  function checkout(): string {
    const root = launcherRoot(pkg.engines.node);
    symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
    writeFileSync(join(root, 'tsconfig.build.json'), JSON.stringify({ include: ['bin', 'shared'] }));
    mkdirSync(join(root, 'shared'));
    mkdirSync(join(root, 'dist/shared'));
    writeFileSync(
      join(root, 'bin/cli.ts'),
      "import { WHO } from '../shared/who.ts';\nprocess.stdout.write(WHO + ' ran\\n');\n",
    );
    writeFileSync(join(root, 'shared/who.ts'), "export const WHO: string = 'sources';\n");
    writeFileSync(join(root, 'dist/shared/who.js'), "export const WHO = 'cli';\n");
    for (const f of ['bin/cli.ts', 'shared/who.ts']) utimesSync(join(root, f), written, written);
    for (const f of ['dist/bin/cli.js', 'dist/shared/who.js']) utimesSync(join(root, f), built, built);
    writeFileSync(join(root, 'dist/.build-started'), '');
    utimesSync(join(root, 'dist/.build-started'), started, started);
    return root;
  }

  it('runs dist/ when every compiled twin is newer than its source', async () => {
    const r = await launch(checkout());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'cli ran\n');
  });

  it('runs the sources (through tsx) once a source is edited after the build', async () => {
    const root = checkout();
    utimesSync(join(root, 'shared/who.ts'), new Date(), new Date());
    const r = await launch(root);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'sources ran\n');
  });

  it('runs the sources when a source was saved while tsc ran (after the build began, before its twin)', async () => {
    const root = checkout();
    const during = new Date(Date.now() - 75_000);
    utimesSync(join(root, 'shared/who.ts'), during, during);
    const r = await launch(root);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'sources ran\n');
  });

  it('runs the sources when a compiled twin predates the build (a build that stopped early)', async () => {
    const root = checkout();
    utimesSync(join(root, 'dist/shared/who.js'), written, written);
    const r = await launch(root);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'sources ran\n');
  });

  it('runs the sources when dist/ has no build stamp (compiled some other way)', async () => {
    const root = checkout();
    rmSync(join(root, 'dist/.build-started'));
    const r = await launch(root);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'sources ran\n');
  });

  it('runs the sources when a source file has no compiled twin (added since the build)', async () => {
    const root = checkout();
    writeFileSync(join(root, 'shared/new.ts'), 'export const NEW = 1;\n');
    utimesSync(join(root, 'shared/new.ts'), written, written);
    const r = await launch(root);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'sources ran\n');
  });
});
