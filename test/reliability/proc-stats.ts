/**
 * What the suite reads about a process from /proc: resident memory, open descriptors, CPU time, the
 * descriptor limit, and the TCP sockets in a given state. Linux only, like the speaker itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readOpenFileLimits } from '../../shared/open-files.ts';

/** One sample of a process. */
export interface ProcSample {
  /** Resident set size in KiB (VmRSS). */
  readonly rssKiB: number;
  /** Open file descriptors. */
  readonly fds: number;
  /** User plus system CPU time consumed so far, in milliseconds. */
  readonly cpuMs: number;
  /** performance.now() when sampled. */
  readonly at: number;
}

/** Clock ticks per second of /proc/PID/stat; 100 on every Linux the speaker runs on. */
const CLK_TCK = 100;

/** Sample `pid` now. */
export function sampleProc(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  // The command name in field 2 may hold spaces; the fields after the last ')' are fixed.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return {
    rssKiB,
    fds: readdirSync(`/proc/${pid}/fd`).length,
    cpuMs: (ticks * 1000) / CLK_TCK,
    at: performance.now(),
  };
}

/** CPU share of one core used between two samples (1.0 is one core busy all the time). */
export function cpuShare(from: ProcSample, to: ProcSample): number {
  const wall = to.at - from.at;
  return wall > 0 ? (to.cpuMs - from.cpuMs) / wall : 0;
}

/** The hard limit on open files this process may give its children (they cannot go higher). */
export function hardFdLimit(): number {
  return readOpenFileLimits().hard ?? 1_048_576;
}

/** TCP states as /proc/net/tcp writes them (hex). */
export const TCP_STATE = {
  ESTABLISHED: '01',
  FIN_WAIT1: '04',
  FIN_WAIT2: '05',
  TIME_WAIT: '06',
  CLOSE: '07',
  CLOSE_WAIT: '08',
  LAST_ACK: '09',
  CLOSING: '0B',
} as const;

/** One IPv4 TCP socket of the network namespace. */
export interface TcpSocket {
  readonly local: string;
  readonly remote: string;
  readonly state: string;
}

function ipv4(hex: string): string {
  const [addr, port] = hex.split(':') as [string, string];
  const n = Number.parseInt(addr, 16);
  // /proc/net/tcp prints the address in host byte order (little-endian here).
  return `${n & 255}.${(n >>> 8) & 255}.${(n >>> 16) & 255}.${n >>> 24}:${Number.parseInt(port, 16)}`;
}

/** Every IPv4 TCP socket of this network namespace whose local or remote address is in `addresses`. */
export function tcpSockets(addresses: ReadonlySet<string>): TcpSocket[] {
  const out: TcpSocket[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const local = ipv4(f[1]!);
    const remote = ipv4(f[2]!);
    const host = (a: string) => a.slice(0, a.lastIndexOf(':'));
    if (addresses.has(host(local)) || addresses.has(host(remote))) out.push({ local, remote, state: f[3]! });
  }
  return out;
}
