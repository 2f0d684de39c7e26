/**
 * Starting and stopping every program the benchmark runs. Each child gets its own process group, so
 * stopping it by its PID also stops whatever it forked (speaker workers, nginx workers) and a
 * Ctrl-C in the terminal reaches the harness only, which then stops them all in order.
 */
import { type ChildProcess, spawn } from 'node:child_process';

/** How a child ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Output kept per child, enough for the last error message without growing with a long run. */
const OUTPUT_TAIL_CHARS = 64 * 1024;
/** Time a child gets to exit after SIGTERM before it is killed. */
const STOP_GRACE_MS = 3000;

/** A running child and its output. */
export class Child {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Settles when the child exits; never rejects. */
  readonly exited: Promise<Exit>;
  private exitInfo: Exit | null = null;
  private tail = '';
  private pending = '';
  private readonly lineWaiters = new Set<(line: string) => void>();

  constructor(name: string, child: ChildProcess) {
    if (child.pid === undefined) throw new Error(`${name} did not start`);
    this.name = name;
    this.pid = child.pid;
    this.process = child;
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
    const collect = (chunk: Buffer): void => this.collect(chunk.toString('utf8'));
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
  }

  /** Whether the child has exited. */
  get hasExited(): boolean {
    return this.exitInfo !== null;
  }

  /** Resolve with the exit, or with null if the child is still running after `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<Exit | null> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The last output (stdout and stderr interleaved). */
  output(): string {
    return this.tail + this.pending;
  }

  /** Why the child ended, for an error message: its exit and its last lines of output. */
  describeExit(): string {
    const e = this.exitInfo;
    const how = e ? (e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`) : 'is running';
    const last = this.output().trim().split('\n').slice(-8).join('\n');
    return `${this.name} ${how}${last ? `:\n${last}` : ''}`;
  }

  private collect(text: string): void {
    this.pending += text;
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) {
      this.tail += `${line}\n`;
      for (const w of this.lineWaiters) w(line);
    }
    if (this.tail.length > OUTPUT_TAIL_CHARS) this.tail = this.tail.slice(-OUTPUT_TAIL_CHARS);
  }

  /**
   * Resolve with the first output line matching `re` from now on, or with one already seen; reject
   * if the child exits first or `timeoutMs` passes.
   */
  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const seen = this.output()
      .split('\n')
      .map((l) => re.exec(l))
      .find((m) => m !== null);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.lineWaiters.delete(onLine);
      };
      const onLine = (line: string): void => {
        const m = re.exec(line);
        if (m) {
          done();
          resolve(m);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name} printed no line matching ${re} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.lineWaiters.add(onLine);
      void this.exited.then(() => {
        if (!this.lineWaiters.has(onLine)) return;
        done();
        reject(new Error(this.describeExit()));
      });
    });
  }
}

/** Options for one child. */
export interface SpawnOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Every child the benchmark started; `stopAll` is what the `finally` and the signal handlers call. */
export class ProcessSet {
  private readonly children = new Set<Child>();

  /** Start `argv` in its own process group, with stdout and stderr captured. */
  spawn(name: string, argv: readonly string[], opts: SpawnOptions = {}): Child {
    const [cmd, ...args] = argv;
    if (!cmd) throw new Error(`no command for ${name}`);
    const proc = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // An exec failure (ENOENT) arrives as an event; without a listener it would crash the harness.
    const started = new Promise<void>((resolve, reject) => {
      proc.once('spawn', resolve);
      proc.once('error', reject);
    });
    void started.catch(() => {});
    const child = new Child(name, proc);
    this.children.add(child);
    void child.exited.then(() => this.children.delete(child));
    return child;
  }

  /** Children still running. */
  running(): Child[] {
    return [...this.children];
  }

  /** SIGTERM the child's process group, then SIGKILL it if it has not exited within the grace time. */
  async stop(child: Child, graceMs = STOP_GRACE_MS): Promise<Exit> {
    if (!child.hasExited) {
      signalGroup(child.pid, 'SIGTERM');
      if ((await child.waitForExit(graceMs)) === null) signalGroup(child.pid, 'SIGKILL');
    }
    // Members of the group that outlived their leader (forked workers) go too.
    signalGroup(child.pid, 'SIGKILL');
    return child.exited;
  }

  /** Stop every running child, in reverse start order. */
  async stopAll(): Promise<void> {
    for (const c of [...this.children].reverse()) await this.stop(c);
  }

  /** Last resort on process exit, where nothing can be awaited: SIGKILL every group. */
  killAllNow(): void {
    for (const c of this.children) signalGroup(c.pid, 'SIGKILL');
  }
}

/** Signal the process group led by `pid`; a group that is already gone is not an error. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: nothing left in the group.
  }
}
