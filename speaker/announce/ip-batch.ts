/**
 * One long-lived `ip -force -batch -` child through which every VIP address change of a speaker
 * goes: adds, lifetime renewals and deletes. Three reasons for one child rather than a spawn each:
 *
 * - order: a lifetime renewal written before a delete can never run after it and bring the address
 *   back, because the child runs its input in order;
 * - cost: renewing every VIP's lifetime several times a second is one pipe write, not a process;
 * - robustness: the child's pipe is open already when the speaker runs out of descriptors, so a
 *   client flood (EMFILE) cannot stop the renewals and make the kernel drop healthy VIPs.
 *
 * `ip -batch` says nothing on success and, with `-force`, keeps going after a failure, printing the
 * error and then `Command failed -:N` (N = input line) on stderr. To learn when a group of commands
 * has run and which failed, each group ends with a marker command that always fails in a known way
 * (`link show dev sy-sync-N`, a device that cannot exist): its failure line closes the group.
 */
import type { Logger } from '../../shared/log.ts';
import type { LineChild, LineChildStarter } from './command-runner.ts';

/** How long a group of commands may take before it is reported failed (the child is restarted). */
export const IP_BATCH_TIMEOUT_MS = 5000;

/** What became of each command of a group, by position: null when it ran, else its error. */
export type BatchOutcome = (string | null)[];

interface Group {
  /** Input line numbers (1-based, per child) of the group's first command and of its marker. */
  readonly first: number;
  readonly marker: number;
  readonly resolve: (outcome: BatchOutcome) => void;
  readonly timer: NodeJS.Timeout;
}

/** The marker command's device name; at most 15 characters, and no real link is named so. */
function markerDevice(n: number): string {
  return `sy-sync-${n % 10_000_000}`;
}

/** A long-lived `ip -force -batch -` with per-command outcomes. */
export class IpBatch {
  readonly #start: LineChildStarter;
  readonly #log: Logger;
  #child: LineChild | null = null;
  /** Lines written to the current child. */
  #lines = 0;
  #markers = 0;
  readonly #groups: Group[] = [];
  /** Errors by input line, kept until the group holding that line completes. */
  readonly #errors = new Map<number, string>();
  /** Error text printed since the last `Command failed` line. */
  #message: string[] = [];

  constructor(start: LineChildStarter, logger: Logger) {
    this.#start = start;
    this.#log = logger;
  }

  /**
   * Run `commands` (each an `ip` command line without the leading `ip`, e.g. `address del …`) in
   * order, after every command handed over before them. Resolves once they have run, with each
   * one's error or null. Never rejects: a child that died or hung fails the whole group.
   */
  run(commands: readonly string[]): Promise<BatchOutcome> {
    if (commands.length === 0) return Promise.resolve([]);
    const child = this.#ensure();
    const first = this.#lines + 1;
    const marker = first + commands.length;
    const text = `${commands.join('\n')}\nlink show dev ${markerDevice(++this.#markers)}\n`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#restart('timed out'), IP_BATCH_TIMEOUT_MS);
      timer.unref();
      this.#groups.push({ first, marker, resolve, timer });
      this.#lines = marker;
      if (!child.write(text)) this.#restart('exited');
    });
  }

  /** Stop the child; groups still waiting fail. */
  async close(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    this.#failAll('closed');
    await child?.close();
  }

  #ensure(): LineChild {
    if (this.#child?.running) return this.#child;
    this.#failAll('exited');
    this.#lines = 0;
    this.#errors.clear();
    this.#message = [];
    const child = this.#start('ip', ['-force', '-batch', '-'], (line) => {
      if (this.#child === child) this.#stderr(line);
    });
    this.#child = child;
    return child;
  }

  #stderr(line: string): void {
    const failed = /^Command failed -:(\d+)$/.exec(line);
    if (!failed) {
      this.#message.push(line.trim());
      return;
    }
    const n = Number(failed[1]);
    const message = this.#message.join(' ');
    this.#message = [];
    const group = this.#groups[0];
    if (group === undefined || n !== group.marker) {
      this.#errors.set(n, message || 'failed');
      return;
    }
    this.#groups.shift();
    clearTimeout(group.timer);
    const outcome: BatchOutcome = [];
    for (let i = group.first; i < group.marker; i++) {
      outcome.push(this.#errors.get(i) ?? null);
      this.#errors.delete(i);
    }
    group.resolve(outcome);
  }

  #restart(why: string): void {
    this.#log.warn({ event: 'ip-batch-restart', reason: why }, 'restarting the ip -batch child');
    const child = this.#child;
    this.#child = null;
    this.#failAll(why);
    void child?.close();
  }

  #failAll(why: string): void {
    for (const g of this.#groups.splice(0)) {
      clearTimeout(g.timer);
      g.resolve(Array.from({ length: g.marker - g.first }, () => `ip -batch ${why}`));
    }
  }
}
