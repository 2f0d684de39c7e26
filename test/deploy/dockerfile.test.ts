/**
 * The Dockerfile cannot be built here (no container engine), so these tests read it: the stages,
 * what the runtime stage runs and as whom, and that the .dockerignore keeps what the build copies.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isIgnored, parseDockerignore } from './dockerignore.ts';
import { REPO, readRepoFile } from './repo-files.ts';

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly base: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Instructions of a Dockerfile: continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, ' ');
  const out: Instruction[] = [];
  for (const line of joined.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const m = /^(\S+)\s*(.*)$/.exec(t)!;
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.replace(/\s+/g, ' ') });
  }
  return out;
}

/** Stages, with `${ARG}` in FROM resolved from the defaults of ARGs before the first FROM. */
function stages(list: readonly Instruction[]): Stage[] {
  const args = new Map<string, string>();
  const out: Stage[] = [];
  for (const ins of list) {
    if (ins.keyword === 'ARG' && out.length === 0) {
      const [k, v] = ins.args.split('=');
      if (k && v !== undefined) args.set(k, v);
    } else if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      const base = m[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args.get(a ?? b) ?? '');
      out.push({ base, name: m[2], instructions: [] });
    } else out.at(-1)?.instructions.push(ins);
  }
  return out;
}

const dockerfile = instructions(readRepoFile('Dockerfile'));
const all = stages(dockerfile);
const runtime = all.at(-1)!;
const ignore = parseDockerignore(readRepoFile('.dockerignore'));

function stage(name: string): Stage {
  const s = all.find((x) => x.name === name);
  assert.ok(s, `stage ${name}`);
  return s;
}

function runs(s: Stage): string {
  return s.instructions
    .filter((i) => i.keyword === 'RUN')
    .map((i) => i.args)
    .join('\n');
}

/** Sources of COPY instructions that read the build context (not another stage). */
function contextSources(s: Stage): string[] {
  return s.instructions
    .filter((i) => i.keyword === 'COPY' && !i.args.includes('--from='))
    .flatMap((i) =>
      i.args
        .split(' ')
        .filter((w) => !w.startsWith('--'))
        .slice(0, -1),
    );
}

describe('Dockerfile', () => {
  it('is multi-stage, every stage named and on a Node 24 base', () => {
    assert.ok(all.length >= 2);
    for (const s of all) {
      assert.ok(s.name, `FROM ${s.base} has a stage name`);
      assert.match(s.base, /^node:24[-.]/, `${s.name} builds on Node 24`);
    }
  });

  it('builds with `npm run build` (tsc -p tsconfig.build.json) in a stage the runtime copies dist/ from', () => {
    const build = stage('build');
    assert.match(runs(build), /npm run build/);
    const scripts = (JSON.parse(readRepoFile('package.json')) as { scripts: Record<string, string> }).scripts;
    assert.equal(scripts['build'], 'tsc -p tsconfig.build.json');
    assert.ok(
      runtime.instructions.some((i) => i.keyword === 'COPY' && /--from=build\s+\S*dist\b/.test(i.args)),
      'runtime copies dist/ from the build stage',
    );
  });

  it('ships no TypeScript source and no dev dependencies in the runtime stage', () => {
    assert.deepEqual(contextSources(runtime), ['package.json', 'bin/switchyard.mjs']);
    const deps = stage('deps');
    assert.match(runs(deps), /npm ci --omit=dev/);
    assert.ok(
      runtime.instructions.some((i) => i.keyword === 'COPY' && /--from=deps\s+\S*node_modules/.test(i.args)),
    );
  });

  it('runs as a non-root user by default', () => {
    const users = runtime.instructions.filter((i) => i.keyword === 'USER');
    assert.ok(users.length > 0, 'the runtime stage sets USER');
    const user = users.at(-1)!.args.split(':')[0]!;
    assert.ok(user !== 'root' && user !== '0', `USER ${user} is not root`);
    assert.doesNotMatch(user, /^0+$/);
  });

  it('has an exec-form ENTRYPOINT that runs the switchyard launcher, which loads compiled JS', () => {
    const entry = runtime.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1);
    assert.ok(entry);
    const argv = JSON.parse(entry.args) as string[];
    assert.ok(argv.includes('node'));
    const script = argv.find((a) => a.endsWith('.mjs') || a.endsWith('.js'));
    assert.equal(script, '/app/bin/switchyard.mjs');
    assert.ok(!argv.some((a) => a.includes('tsx') || a.endsWith('.ts')), 'no transpiling at start-up');
    // The launcher prefers dist/; the image holds no cli.ts to fall back on.
    assert.match(readRepoFile('bin/switchyard.mjs'), /'\.\.\/dist\/bin\/cli\.js'/);
  });

  it('installs ip, arping, nft and ndisc6 for the speaker in the runtime stage', () => {
    const text = runs(runtime);
    for (const pkg of ['iproute2', 'arping', 'nftables', 'ndisc6'])
      assert.match(text, new RegExp(`\\b${pkg}\\b`), pkg);
  });
});

describe('.dockerignore', () => {
  it('keeps every file the Dockerfile copies from the context', () => {
    const copied = all.flatMap(contextSources).filter((s) => s !== '.');
    for (const src of copied) {
      assert.ok(existsSync(join(REPO, src)), `${src} exists`);
      assert.ok(!isIgnored(src, ignore), `${src} is in the context`);
    }
    for (const src of [
      'bin/cli.ts',
      'shared/model.ts',
      'speaker/announce/announcer.ts',
      'tsconfig.build.json',
    ])
      assert.ok(!isIgnored(src, ignore), `${src} reaches the build stage`);
  });

  it('leaves out node_modules, dist, .git, tests and docs', () => {
    for (const p of [
      'node_modules/yaml/index.js',
      'dist/bin/cli.js',
      '.git/HEAD',
      'test/deploy/rbac.test.ts',
      'docs/operations.md',
    ])
      assert.ok(isIgnored(p, ignore), `${p} is left out`);
  });

  it('matches as BuildKit does: last pattern wins, a directory pattern covers its contents', () => {
    const rules = ['*', '!src', 'src/**/*.test.ts', '!keep.md'];
    assert.equal(isIgnored('src/a/b.ts', rules), false);
    assert.equal(isIgnored('src/a/b.test.ts', rules), true);
    assert.equal(isIgnored('keep.md', rules), false);
    assert.equal(isIgnored('other/src/x.ts', rules), true);
  });
});
