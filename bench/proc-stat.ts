/**
 * CPU time and memory of a process and its descendants, read from /proc. The process total in
 * `/proc/<pid>/stat` already includes all of its threads; descendants (worker processes) are found
 * by scanning every process's parent id, because `/proc/<pid>/task/<tid>/children` is not always
 * compiled in.
 */
import { readdir, readFile } from 'node:fs/promises';

/** USER_HZ: the unit of utime/stime. It is 100 on every Linux ABI Node runs on. */
export const CLOCK_TICKS_PER_SECOND = 100;

/** The fields of `/proc/<pid>/stat` the benchmark uses. */
export interface ProcStat {
  readonly pid: number;
  readonly comm: string;
  readonly state: string;
  readonly ppid: number;
  /** User-mode CPU time of the whole thread group, in clock ticks. */
  readonly utimeTicks: number;
  /** Kernel-mode CPU time of the whole thread group, in clock ticks. */
  readonly stimeTicks: number;
  readonly threads: number;
  /** Resident set size in pages. */
  readonly rssPages: number;
}

/**
 * Parse one `/proc/<pid>/stat` line. The command name is in parentheses and may itself contain
 * spaces and parentheses, so fields are counted from the last `)`. Returns null on a malformed line.
 */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  // After ")" come fields 3.. of proc(5); index i here is field i + 3.
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  if (rest.length < 22 || !Number.isInteger(pid)) return null;
  const num = (field: number): number => Number(rest[field - 3]);
  const stat: ProcStat = {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: num(4),
    utimeTicks: num(14),
    stimeTicks: num(15),
    threads: num(20),
    rssPages: num(24),
  };
  const numbers = [stat.ppid, stat.utimeTicks, stat.stimeTicks, stat.threads, stat.rssPages];
  return numbers.every((n) => Number.isFinite(n) && n >= 0) ? stat : null;
}

/** Parse `VmRSS` (KiB) out of `/proc/<pid>/status`; null when absent (a zombie has none). */
export function parseVmRssKiB(statusText: string): number | null {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(statusText);
  return m ? Number(m[1]) : null;
}

/** CPU seconds (user + system) of one stat sample. */
export function cpuSeconds(stat: Pick<ProcStat, 'utimeTicks' | 'stimeTicks'>): number {
  return (stat.utimeTicks + stat.stimeTicks) / CLOCK_TICKS_PER_SECOND;
}

/** Ids of `root` and every live descendant, given every process's stat. */
export function descendantsOf(root: number, stats: readonly ProcStat[]): number[] {
  const children = new Map<number, number[]>();
  for (const s of stats) {
    const list = children.get(s.ppid);
    if (list) list.push(s.pid);
    else children.set(s.ppid, [s.pid]);
  }
  const out: number[] = [];
  const queue = [root];
  // A process tree cannot loop, but a bound keeps a corrupt snapshot from spinning.
  while (queue.length > 0 && out.length < 100_000) {
    const pid = queue.shift()!;
    out.push(pid);
    for (const c of children.get(pid) ?? []) queue.push(c);
  }
  return out;
}

async function readStat(pid: number): Promise<ProcStat | null> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null; // the process exited between listing and reading
  }
}

async function allStats(): Promise<ProcStat[]> {
  const names = await readdir('/proc');
  const stats = await Promise.all(names.filter((n) => /^\d+$/.test(n)).map((n) => readStat(Number(n))));
  return stats.filter((s): s is ProcStat => s !== null);
}

/** One reading of a process tree: total CPU seconds and resident memory. */
export interface TreeSample {
  readonly cpuSeconds: number;
  readonly rssKiB: number;
  readonly pids: readonly number[];
}

/**
 * CPU seconds and RSS of `root` and its descendants. Throws if `root` is not running, because a
 * benchmark reading of a dead proxy is a harness bug, not a figure.
 */
export async function sampleTree(root: number): Promise<TreeSample> {
  const stats = await allStats();
  if (!stats.some((s) => s.pid === root)) throw new Error(`process ${root} is not running`);
  const byPid = new Map(stats.map((s) => [s.pid, s]));
  const pids = descendantsOf(root, stats);
  let cpu = 0;
  let rss = 0;
  for (const pid of pids) {
    const s = byPid.get(pid);
    if (s) cpu += cpuSeconds(s);
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    rss += parseVmRssKiB(status) ?? 0;
  }
  return { cpuSeconds: cpu, rssKiB: rss, pids };
}
