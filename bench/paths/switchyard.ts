/**
 * The `switchyard` path: the real speaker binary serving a table file, exactly as a user runs it.
 * Whether this build has a speaker at all is checked first, so a tree without one still benchmarks
 * the other paths and says plainly why this one is missing. The `base` path is the same thing run
 * from another checkout (`--base-root`), for base-vs-change comparisons in one interleaved run.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../addresses.ts';
import { launch } from '../cpu-plan.ts';
import { waitForPort } from '../net-wait.ts';
import type { BenchPath, PathEnv } from './path.ts';
import { renderSpeakerTable } from './speaker-table.ts';

/** Flags the bench passes to `switchyard speaker`; a build whose help lacks one cannot be measured. */
const REQUIRED_FLAGS = ['--table', '--workers', '--metrics-address'];

let tables = 0;

/** The harness's environment without SWITCHYARD_* variables, which would silently change the flags. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHYARD_')));
}

/** Which checkout a speaker path runs: this one's (`switchyard`) or the base's. */
type RootOf = (env: PathEnv) => string | null;

/** Why `helpText` (the output of `switchyard speaker --help`) shows no usable speaker; null if it does. */
export function speakerHelpProblem(helpText: string): string | null {
  const missing = REQUIRED_FLAGS.filter((f) => !helpText.includes(f));
  if (missing.length === 0) return null;
  return (
    `the speaker is unavailable: \`switchyard speaker --help\` does not offer ${missing.join(', ')} ` +
    '(no speaker in this build yet; merge main once the data plane has landed)'
  );
}

/** A speaker path: the speaker of the checkout `rootOf` names, with `--workers N`, on a table of N listeners. */
function speakerPath(name: 'switchyard' | 'base', rootOf: RootOf): BenchPath {
  const root = (env: PathEnv): string => {
    const r = rootOf(env);
    if (r === null) throw new Error(`${name}: no checkout given`);
    return r;
  };
  const cli = (env: PathEnv): string => join(root(env), 'bin', 'switchyard.mjs');
  return {
    name,
    check: (env) =>
      new Promise((resolve) => {
        if (rootOf(env) === null) {
          resolve('no base checkout: give --base-root DIR');
          return;
        }
        execFile(
          env.node,
          [cli(env), 'speaker', '--help'],
          { cwd: root(env), timeout: 60_000, env: cleanEnv() },
          (err, stdout, stderr) => {
            const problem = speakerHelpProblem(`${stdout}\n${stderr}`);
            if (problem) resolve(problem);
            else if (err)
              resolve(`the speaker is unavailable: \`switchyard speaker --help\` failed: ${err.message}`);
            else resolve(null);
          },
        );
      }),
    async start(env, setup) {
      const vips = env.vips.take(setup.listeners);
      const port = await freePort(vips[0]!);
      const table = join(env.dir, `table-${tables++}.yaml`);
      await writeFile(table, renderSpeakerTable(vips, port, setup.backend, setup.health.port));
      const argv = [
        env.node,
        cli(env),
        'speaker',
        '--table',
        table,
        '--workers',
        String(setup.workers),
        '--metrics-address',
        '127.0.0.1:0',
        '--log-level',
        'warn',
      ];
      const child = env.procs.spawn(
        `${name} speaker (${setup.workers} workers)`,
        launch(argv, env.plan.proxy),
        {
          cwd: root(env),
          env: cleanEnv(),
        },
      );
      try {
        // 1,000 listeners take a while to bind through tsx on a busy machine.
        await waitForPort(vips[0]!, port, child, 60_000);
        if (vips.length > 1) await waitForPort(vips.at(-1)!, port, child, 60_000);
      } catch (err) {
        await env.procs.stop(child);
        throw err;
      }
      return {
        name,
        front: { host: vips[0]!, port },
        pid: child.pid,
        stop: async () => {
          await env.procs.stop(child);
        },
      };
    },
  };
}

/** This checkout's speaker (or `--speaker-root`'s). */
export const switchyardPath: BenchPath = speakerPath('switchyard', (env) => env.speakerRoot);

/** The base checkout's speaker (`--base-root`). */
export const basePath: BenchPath = speakerPath('base', (env) => env.baseRoot);
