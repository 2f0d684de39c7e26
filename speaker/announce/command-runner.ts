/**
 * The edge between the announcer and the host's network tools (`ip`, `arping`): one-shot commands,
 * and long-running ones fed lines (`ip -batch`). Tests of announcer
 * logic replace it with a recording fake; the real one is tested in network namespaces.
 */
import { execFile, spawn } from 'node:child_process';

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

/** A long-running program fed lines on its stdin, e.g. `ip -force -batch -`. */
export interface LineChild {
  /** Hand `text` (whole lines) to the program; false when it has exited and took nothing. */
  write(text: string): boolean;
  /** Whether the program is still running. */
  readonly running: boolean;
  /** End its input and wait (bounded) for it to exit. */
  close(): Promise<void>;
}

/** Starts a `LineChild`; each line it prints on stderr goes to `onStderr`. */
export type LineChildStarter = (
  program: string,
  args: readonly string[],
  onStderr: (line: string) => void,
) => LineChild;

/** How long `LineChild.close` waits for the program to exit before killing it. */
const LINE_CHILD_CLOSE_MS = 2000;

/** Starts line children for real; `prefix` runs them elsewhere, as for `execRunner`. */
export function spawnLineChild(prefix: readonly string[] = []): LineChildStarter {
  return (program, args, onStderr) => {
    const [cmd, ...rest] = [...prefix, program, ...args];
    const child = spawn(cmd as string, rest, { stdio: ['pipe', 'ignore', 'pipe'] });
    let running = true;
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        running = false;
        resolve();
      });
      child.once('error', () => {
        running = false;
        resolve();
      });
    });
    let partial = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      partial += d;
      for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
        onStderr(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
      }
    });
    // A write racing the program's exit fails with EPIPE; `running` already says so.
    child.stdin?.on('error', () => {});
    return {
      get running() {
        return running;
      },
      write(text) {
        if (!running || !child.stdin?.writable) return false;
        child.stdin.write(text);
        return true;
      },
      async close() {
        child.stdin?.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), LINE_CHILD_CLOSE_MS);
        await exited;
        clearTimeout(timer);
      },
    };
  };
}
