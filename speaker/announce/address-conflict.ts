/**
 * Whether another host answers ARP for a VIP this node keeps. It matters in one case: a speaker cut
 * off from the store keeps its VIPs `suspended` (the store may be away for everyone, and dropping
 * them would turn a store outage into a VIP outage), but if only this node lost the store, another
 * node took the lease and added the address, and both now answer ARP. Only a node that reached the
 * store can have claimed the VIP, so the suspended node steps back when it sees the other answer.
 *
 * The probe is an ARP request with sender address 0.0.0.0 (`arping -0`, as duplicate address
 * detection does): hosts that have the address answer it, this host's own kernel does not see it.
 */
import { parseIp } from '../../shared/ip.ts';
import type { Logger } from '../../shared/log.ts';
import type { CommandRunner } from './command-runner.ts';

/** True when another host answers for `vip`, false when none does, null when the probe failed. */
export type ConflictProbe = (vip: string) => Promise<boolean | null>;

/** How long one probe waits for an answer; an answer on the same segment takes well under 1 ms. */
export const PROBE_WAIT_MS = 200;

/** An ARP probe on `iface` with Habets' arping (the one the image and the announcer use). IPv4 only. */
export function arpConflictProbe(iface: string, run: CommandRunner, logger: Logger): ConflictProbe {
  // A probe that cannot run fails every few hundred ms; say so once, then only at debug.
  let warned = false;
  return async (vip) => {
    const ip = parseIp(vip);
    // IPv6 VIPs are added without duplicate address detection; neighbours follow the kernel's adverts.
    if (ip?.family !== 4) return false;
    const wait = (PROBE_WAIT_MS / 1000).toFixed(3);
    // -C 1 returns at the first answer; exit 0: answered, 1: no answer.
    const r = await run('arping', ['-0', '-q', '-c', '1', '-C', '1', '-w', wait, '-i', iface, ip.text]);
    if (r.code === 0) return true;
    if (r.code === 1) return false;
    const level = warned ? 'debug' : 'warn';
    warned = true;
    logger[level]({ event: 'conflict-probe-failed', vip, err: r.stderr.trim() }, 'ARP conflict probe failed');
    return null;
  };
}

/** Options of a conflict watch. */
export interface ConflictWatchOptions {
  readonly probe: ConflictProbe;
  /** Called once per VIP found answered elsewhere; the VIP leaves the watch. */
  readonly onConflict: (vip: string) => void;
  readonly logger: Logger;
  /** Probes in flight at once; VIPs beyond it wait for the next round. */
  readonly concurrency?: number;
  /** Pause between rounds. */
  readonly pauseMs?: number;
}

/** Default probes in flight at once. */
export const DEFAULT_PROBE_CONCURRENCY = 4;
/** Default pause between rounds: with the probe's wait, each VIP is asked about three times a second. */
export const DEFAULT_PROBE_PAUSE_MS = 100;

/** Probes a changing set of VIPs in rounds while the set is not empty. */
export class ConflictWatch {
  private readonly opts: ConflictWatchOptions;
  private vips = new Set<string>();
  /** Where the next round starts, so a long list is covered in turn. */
  private cursor = 0;
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private closed = false;

  constructor(opts: ConflictWatchOptions) {
    this.opts = opts;
  }

  /** VIPs watched now. */
  watched(): ReadonlySet<string> {
    return this.vips;
  }

  /** Replace the watched VIPs; rounds run while there are any. */
  setVips(vips: Iterable<string>): void {
    this.vips = new Set(vips);
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
    const n = Math.min(all.length, this.opts.concurrency ?? DEFAULT_PROBE_CONCURRENCY);
    const batch = Array.from({ length: n }, (_, i) => all[(this.cursor + i) % all.length]!);
    this.cursor = all.length > 0 ? (this.cursor + n) % all.length : 0;
    const answers = await Promise.all(batch.map((vip) => this.opts.probe(vip).catch(() => null)));
    batch.forEach((vip, i) => {
      if (answers[i] !== true || this.closed || !this.vips.has(vip)) return;
      this.vips.delete(vip);
      this.opts.logger.warn(
        { event: 'vip-conflict', vip },
        'another node answers ARP for a VIP kept without the store; stepping back',
      );
      this.opts.onConflict(vip);
    });
  }
}
