/**
 * The edge between the announcer and the host's network tools (`ip`, `arping`). Tests of announcer
 * logic replace it with a recording fake; the real one is tested in network namespaces.
 */
import { execFile } from 'node:child_process';

/** Outcome of one command. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program with arguments (no shell), feeding it `input` on stdin, and reports its exit code and output. */
export type CommandRunner = (
  program: string,
  args: readonly string[],
  input?: string,
) => Promise<CommandResult>;

/** Runs commands for real, each bounded by `timeoutMs`. `prefix` runs them elsewhere, e.g. `['ip','netns','exec','ns1']`. */
export function execRunner(timeoutMs = 5000, prefix: readonly string[] = []): CommandRunner {
  return (program, args, input) =>
    new Promise((resolve) => {
      const [cmd, ...rest] = prefix.length > 0 ? [...prefix, program, ...args] : [program, ...args];
      const child = execFile(
        cmd as string,
        rest,
        { timeout: timeoutMs, encoding: 'utf8' },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
          resolve({ code, stdout, stderr: stderr || (err && code === 127 ? err.message : '') });
        },
      );
      // A program that exits before reading its input makes the write fail; the exit code says enough.
      child.stdin?.on('error', () => {});
      child.stdin?.end(input ?? '');
    });
}
