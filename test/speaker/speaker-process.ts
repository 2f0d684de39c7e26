/**
 * A real `switchyard speaker` process for the tests that need one: spawned through the launcher with
 * the project's Node, its NDJSON log lines collected as they come, and waits for a given line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const node = join(root, 'node_modules/.bin/node');
const bin = join(root, 'bin/switchyard.mjs');

/** A speaker process with its log lines (NDJSON) and its exit. */
export interface SpeakerProc {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  stderr: string;
  readonly exited: Promise<number | null>;
  /**
   * Resolves with the `count`th log line whose `event` is `event`; rejects, with what the process
   * wrote to stderr, if it ends without one.
   */
  waitFor(event: string, count?: number): Promise<Record<string, unknown>>;
}

/** What a speaker process is started with besides its arguments. */
export interface SpeakerProcOptions {
  /** Flags for Node itself, before the launcher (e.g. `--throw-deprecation`). */
  readonly nodeFlags?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** Start `switchyard speaker ARGS`. */
export function startSpeakerProcess(args: readonly string[], opts: SpeakerProcOptions = {}): SpeakerProc {
  const child = spawn(node, [...(opts.nodeFlags ?? []), bin, 'speaker', ...args], {
    cwd: root,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: {
    event: string;
    count: number;
    resolve: (l: Record<string, unknown>) => void;
    reject: (err: Error) => void;
  }[] = [];
  const nth = (event: string, count: number) => lines.filter((l) => l['event'] === event)[count - 1];
  let buffered = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf('\n');
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line);
      } catch {
        continue;
      }
      lines.push(parsed);
      for (const w of waiters) {
        const hit = nth(w.event, w.count);
        if (hit) w.resolve(hit);
      }
    }
  });
  // `close` comes after the last of stdout was read: a line still missing then never comes.
  const closed = once(child, 'close');
  const proc: SpeakerProc = {
    child,
    lines,
    stderr: '',
    exited: once(child, 'exit').then(([code]) => code as number | null),
    waitFor: (event, count = 1) => {
      const seen = nth(event, count);
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        waiters.push({ event, count, resolve: res, reject: rej });
        void closed.then(() => rej(new Error(`the speaker ended before "${event}": ${proc.stderr}`)));
      });
    },
  };
  child.stderr!.on('data', (d: Buffer) => {
    proc.stderr += d.toString();
  });
  return proc;
}
