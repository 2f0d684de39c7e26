/**
 * Running a reliability scenario inside a network namespace of the test's own: loopback only, with
 * kernel settings the test needs but must not change on the host (net.ipv4.* sysctls are per
 * namespace). The scenario is a program that takes its options as one JSON argument and prints its
 * result as the last line of stdout. Namespaces carry the `sye2e-PID-` prefix, so a later run
 * removes those a crashed run left (test/harness/netns.ts).
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { within } from '../speaker/loopback.ts';
import { NODE } from './speaker-process.ts';

function ip(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 10_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** A bare namespace named after `tag`, loopback up, with `sysctls` (`name=value`) set in it. */
export async function scenarioNamespace(tag: string, sysctls: readonly string[]): Promise<string> {
  const ns = `sye2e-${process.pid}-${Math.floor(Math.random() * 1e6)}-${tag}`;
  await ip(['netns', 'add', ns]);
  try {
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    for (const s of sysctls) await ip(['netns', 'exec', ns, 'sysctl', '-q', '-w', s]);
  } catch (err) {
    await deleteNamespace(ns);
    throw err;
  }
  return ns;
}

/** Delete a namespace made by `scenarioNamespace`; already gone is fine. */
export async function deleteNamespace(ns: string): Promise<void> {
  await ip(['netns', 'del', ns]).catch(() => {});
}

/**
 * Run `script` (a TypeScript program beside the tests) with `options` in `ns`, bounded by
 * `timeoutMs`. Lines it prints before the result are passed on (figures, `[reliability]` lines);
 * the last line is parsed as the result. Rejects on a non-zero exit, with its stderr's tail.
 */
export async function runScenarioIn<T>(
  ns: string,
  script: string,
  options: unknown,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const child = spawn('ip', ['netns', 'exec', ns, NODE, '--import', 'tsx', script, JSON.stringify(options)], {
    cwd: join(import.meta.dirname, '../..'),
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  const exited = once(child, 'exit').catch(() => [1]) as Promise<[number | null]>;
  let code: number | null;
  try {
    [code] = await within(timeoutMs, what, exited);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  const lines = out.trim().split('\n');
  for (const line of lines.slice(0, -1)) console.log(line);
  if (code !== 0) throw new Error(`${what} exited ${code}: ${err.slice(-2000)}`);
  return JSON.parse(lines.at(-1)!) as T;
}
