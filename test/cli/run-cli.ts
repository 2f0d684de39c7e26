/** Runs the real `switchyard` executable (bin/switchyard.mjs) under this Node, for CLI tests. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Path of the executable. */
export const BIN = fileURLToPath(new URL('../../bin/switchyard.mjs', import.meta.url));

/** Exit code and output of one CLI run, bounded by `timeoutMs`. */
export function runCli(
  args: readonly string[],
  timeoutMs = 30_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { timeout: timeoutMs, encoding: 'utf8' },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}
