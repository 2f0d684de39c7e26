/**
 * The image's build step for real: `tsc -p tsconfig.build.json` into a temporary directory laid out
 * as the image is (bin/switchyard.mjs beside dist/, no TypeScript sources), then the launcher runs.
 * It takes about a second, so it stays in the normal suite.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from './repo-files.ts';

const TIMEOUT_MS = 60_000;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.js'))
    .map((f) => join(dir, f));
}

describe('production build', { timeout: 2 * TIMEOUT_MS }, () => {
  let root = '';
  let built: { code: number; stdout: string; stderr: string };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'switchyard-build-'));
    symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
    mkdirSync(join(root, 'bin'));
    copyFileSync(join(REPO, 'bin/switchyard.mjs'), join(root, 'bin/switchyard.mjs'));
    // The image copies package.json too: the launcher reads its engines rule and version there.
    copyFileSync(join(REPO, 'package.json'), join(root, 'package.json'));
    const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
    built = await run([tsc, '-p', join(REPO, 'tsconfig.build.json'), '--outDir', join(root, 'dist')]);
  });

  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('compiles without errors', () => {
    assert.equal(built.code, 0, built.stdout + built.stderr);
  });

  it('rewrites every relative .ts import to .js', () => {
    const files = jsFiles(join(root, 'dist'));
    assert.ok(files.some((f) => f.endsWith(join('bin', 'cli.js'))));
    const tsImport = /(?:from\s*|import\s*\(\s*)['"]\.{1,2}\/[^'"]*\.ts['"]/;
    for (const f of files) assert.doesNotMatch(readFileSync(f, 'utf8'), tsImport, f);
  });

  it('runs `switchyard --help` from compiled JavaScript with plain node', async () => {
    // No bin/cli.ts sits beside the launcher, so a fallback to tsx would fail rather than pass.
    const r = await run([join(root, 'bin/switchyard.mjs'), '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /--log-level/);
  });
});
