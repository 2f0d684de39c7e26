/**
 * Whether another host answers for a VIP this node keeps. It matters in one case: a speaker cut off
 * from the store keeps its VIPs `suspended` (the store may be away for everyone, and dropping them
 * would turn a store outage into a VIP outage), but if only this node lost the store, another node
 * took the lease and added the address, and both now answer. Only a node that reached the store can
 * have claimed the VIP, so the suspended node steps back when it sees the other answer.
 *
 * Keeping a VIP without a lease is allowed only while this node keeps proving it is alone: every
 * suspended VIP is probed at least twice per proof window (the probes in flight grow with the number
 * of VIPs), and one not proven alone within the window, because its probes fail or cannot run, is
 * given up too. So two nodes answer for at most about one probe interval after the other node
 * appears, and never longer than the proof window.
 *
 * The IPv4 probe is an ARP request with sender address 0.0.0.0 (`arping -0`, as duplicate address
 * detection does): hosts that have the address answer it, this host's own kernel does not see it.
 * The IPv6 probe is a neighbour solicitation (`ndisc6`): it leaves this host, so only other hosts
 * with the address answer.
 */
import { parseIp } from '../../shared/ip.ts';
import type { Logger } from '../../shared/log.ts';
import type { CommandRunner } from './command-runner.ts';

/** True when another host answers for `vip`, false when none does, null when the probe failed. */
export type ConflictProbe = (vip: string) => Promise<boolean | null>;

/** How long one probe waits for an answer; an answer on the same segment takes well under 1 ms. */
export const PROBE_WAIT_MS = 200;

/**
 * A probe on `iface`: ARP with Habets' arping for IPv4 (the one the image and the announcer use),
 * neighbour solicitation with ndisc6 for IPv6.
 */
export function neighbourConflictProbe(iface: string, run: CommandRunner, logger: Logger): ConflictProbe {
  // A probe that cannot run fails every few hundred ms; say so once, then only at debug.
  let warned = false;
  return async (vip) => {
    const ip = parseIp(vip);
    if (!ip) return null;
    // Exit codes, arping: 0 answered, 1 no answer (-C 1: return at the first answer); ndisc6: 0
    // answered, 2 no answer (-1: return at the first answer); anything else: the probe failed.
    const r =
      ip.family === 4
        ? await run('arping', [
            '-0',
            '-q',
            '-c',
            '1',
            '-C',
            '1',
            '-w',
            (PROBE_WAIT_MS / 1000).toFixed(3),
            '-i',
            iface,
            ip.text,
          ])
        : await run('ndisc6', ['-1', '-q', '-n', '-r', '1', '-w', String(PROBE_WAIT_MS), ip.text, iface]);
    if (r.code === 0) return true;
    if (r.code === (ip.family === 4 ? 1 : 2)) return false;
    const level = warned ? 'debug' : 'warn';
    warned = true;
    logger[level](
      { event: 'conflict-probe-failed', vip, err: r.stderr.trim() || `exit ${r.code}` },
      'neighbour conflict probe failed; a VIP that cannot be proven alone is given up',
    );
    return null;
  };
}

/** Why a watched VIP is given up. */
export type ConflictOutcome =
  /** Another host answers for it. */
  | 'conflict'
  /** No probe proved it alone within the proof window (probes failed or could not run in time). */
  | 'unproven';

/** Options of a conflict watch. */
export interface ConflictWatchOptions {
  readonly probe: ConflictProbe;
  /** Called once per VIP given up; the VIP leaves the watch. */
  readonly onGiveUp: (vip: string, why: ConflictOutcome) => void;
  readonly logger: Logger;
  /** A watched VIP must be proven alone at least once in every window this long (the lease TTL). */
  readonly proofWindowMs: number;
  /** Most probes in flight at once. */
  readonly maxConcurrency?: number;
  /** Pause between rounds. */
  readonly pauseMs?: number;
  /** Monotonic clock in ms. */
  readonly now?: () => number;
}

/** Fewest probes per round. */
export const MIN_PROBE_CONCURRENCY = 4;
/** Default most probes in flight at once: past it, VIPs that cannot be proven in time are given up. */
export const DEFAULT_MAX_PROBE_CONCURRENCY = 32;
/** Default pause between rounds: with the probe's wait, a round takes about 300 ms. */
export const DEFAULT_PROBE_PAUSE_MS = 100;

/**
 * Probes per round so that every one of `vips` is probed twice per proof window: a round lasts
 * the pause plus the probe's wait.
 */
export function probesPerRound(vips: number, proofWindowMs: number, pauseMs: number, max: number): number {
  const rounds = Math.max(1, Math.floor(proofWindowMs / 2 / (pauseMs + PROBE_WAIT_MS)));
  return Math.min(vips, max, Math.max(MIN_PROBE_CONCURRENCY, Math.ceil(vips / rounds)));
}

/** Probes a changing set of VIPs in rounds while the set is not empty. */
export class ConflictWatch {
  private readonly opts: ConflictWatchOptions;
  private vips = new Set<string>();
  /** When each watched VIP was last proven alone (or began to be watched). */
  private readonly proven = new Map<string, number>();
  private readonly now: () => number;
  /** Where the next round starts, so a long list is covered in turn. */
  private cursor = 0;
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private closed = false;

  constructor(opts: ConflictWatchOptions) {
    this.opts = opts;
    this.now = opts.now ?? (() => performance.now());
  }

  /** VIPs watched now. */
  watched(): ReadonlySet<string> {
    return this.vips;
  }

  /** Replace the watched VIPs; rounds run while there are any. */
  setVips(vips: Iterable<string>): void {
    this.vips = new Set(vips);
    const now = this.now();
    for (const vip of [...this.proven.keys()]) if (!this.vips.has(vip)) this.proven.delete(vip);
    // A VIP begins its first proof window when it is first watched.
    for (const vip of this.vips) if (!this.proven.has(vip)) this.proven.set(vip, now);
    if (this.vips.size > 0) this.schedule(0);
  }

  /** Stop probing; resolves when no probe is running. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.round;
  }

  private schedule(ms: number): void {
    if (this.closed || this.timer || this.round) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.round = this.runRound().finally(() => {
        this.round = null;
        if (this.vips.size > 0) this.schedule(this.opts.pauseMs ?? DEFAULT_PROBE_PAUSE_MS);
      });
    }, ms);
    this.timer.unref();
  }

  private async runRound(): Promise<void> {
    const all = [...this.vips];
    const pauseMs = this.opts.pauseMs ?? DEFAULT_PROBE_PAUSE_MS;
    const max = this.opts.maxConcurrency ?? DEFAULT_MAX_PROBE_CONCURRENCY;
    const n = probesPerRound(all.length, this.opts.proofWindowMs, pauseMs, max);
    const batch = Array.from({ length: n }, (_, i) => all[(this.cursor + i) % all.length]!);
    this.cursor = all.length > 0 ? (this.cursor + n) % all.length : 0;
    const answers = await Promise.all(batch.map((vip) => this.opts.probe(vip).catch(() => null)));
    if (this.closed) return;
    const now = this.now();
    batch.forEach((vip, i) => {
      if (!this.vips.has(vip)) return;
      if (answers[i] === false) this.proven.set(vip, now);
      else if (answers[i] === true) this.giveUp(vip, 'conflict');
    });
    for (const vip of [...this.vips]) {
      if (now - (this.proven.get(vip) ?? now) > this.opts.proofWindowMs) this.giveUp(vip, 'unproven');
    }
  }

  private giveUp(vip: string, why: ConflictOutcome): void {
    this.vips.delete(vip);
    this.proven.delete(vip);
    this.opts.logger.warn(
      { event: `vip-${why}`, vip },
      why === 'conflict'
        ? 'another node answers for a VIP kept without the store; stepping back'
        : 'could not prove that no other node answers for a VIP kept without the store; stepping back',
    );
    this.opts.onGiveUp(vip, why);
  }
}
