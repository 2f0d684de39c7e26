/**
 * One Node version rule everywhere: package.json's `engines.node` is the rule, the lockfile's `node`
 * package (the Node that `npm ci` installs for tests and `npx`) and the image's Node are the same
 * release inside it, and the launcher (bin/switchyard.mjs) refuses what engines refuses.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

/** Runs a copy of the launcher beside a package.json with `engines` and a stub dist/bin/cli.js. */
function launch(engines: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const root = mkdtempSync(join(dir, 'root-'));
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'dist/bin'), { recursive: true });
  copyFileSync(join(REPO, 'bin/switchyard.mjs'), join(root, 'bin/switchyard.mjs'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ type: 'module', engines: { node: engines } }));
  writeFileSync(join(root, 'dist/bin/cli.js'), "process.stdout.write('cli ran\\n');\n");
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
