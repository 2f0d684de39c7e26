/**
 * Layer-2 announcement: the VIP's owner adds the address to an interface and tells its neighbours
 * (gratuitous ARP with `arping` for IPv4, an unsolicited neighbour advertisement with `na6` for IPv6;
 * see docs/announcement.md), so switches and hosts send the VIP's frames to this node.
 *
 * Every VIP address is added with a short kernel lifetime (`valid_lft`/`preferred_lft`) that the
 * speaker renews several times a second (`keepAlive`). The kernel itself removes the address, and
 * stops answering ARP and TCP for it, about `lifetimeS` after the last renewal: a speaker that was
 * killed, frozen or whose event loop hangs stops answering for its VIPs by itself, before any other
 * node can take their leases (docs/cluster.md, "Dead man's switch"). A renewal also puts back an
 * address someone deleted.
 *
 * Our addresses are recognisable after a crash: IPv4 VIPs carry the label `<ifname>:sy`, IPv6 VIPs
 * are /128 without DAD. `start()` removes any such address left by an earlier run.
 */

import { networkInterfaces } from 'node:os';
import { type Problem, UserError } from '../../shared/errors.ts';
import { parseIp } from '../../shared/ip.ts';
import type { Logger } from '../../shared/log.ts';
import type { Announcer, Fence } from './announcer.ts';
import { missingCapabilities } from './capabilities.ts';
import { type CommandRunner, type LineChildStarter, spawnLineChild } from './command-runner.ts';
import { IpBatch } from './ip-batch.ts';

/** Settings of the L2 announcer. */
export interface L2Options {
  /** Interface the VIPs are added to, e.g. `eth0`. At most 12 characters (the label adds `:sy`). */
  readonly interface: string;
  readonly run: CommandRunner;
  /** Starts the long-lived `ip -batch` child that adds, renews and deletes addresses. */
  readonly startChild?: LineChildStarter;
  /** Kernel lifetime of a VIP address in whole seconds (`addressLifetimeS` of the lease timing). */
  readonly lifetimeS: number;
  readonly logger: Logger;
  /**
   * Gratuitous ARPs (IPv6: unsolicited neighbour advertisements) sent when a VIP is announced: one at
   * once, the rest `burstIntervalMs` apart.
   */
  readonly burstCount?: number;
  readonly burstIntervalMs?: number;
  /** Then one more every this long while the VIP stays announced and fenced; 0: never. */
  readonly repeatMs?: number;
  /** Skip the capability check (tests that run the commands in a namespace as root). */
  readonly skipCapabilityCheck?: boolean;
}

/** Every address on this host's interfaces now (from getifaddrs, no process spawned). */
function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.add(parseIp(a.address)?.text ?? a.address);
  }
  return out;
}

/** Default `repeatMs`: kube-vip repeats every 3 s, MetalLB never; 10 s costs little. */
export const ANNOUNCE_REPEAT_MS = 10_000;

/** Exit code of `GARP_IF_FENCED` when the fence had passed and nothing was sent. */
const FENCE_PASSED = 3;

/** `sh -c` prologue: $1 is the fence's end (wall ms); exits unless it is still ahead. */
const WHILE_FENCED = `[ "$(date +%s%3N)" -lt "$1" ] || exit ${FENCE_PASSED}`;

/**
 * The announcement of each family, as `sh -c` scripts: $1 fence end, $2 interface, $3 VIP.
 * IPv4: a gratuitous ARP (`-U`: unsolicited, broadcast). IPv6: an unsolicited neighbour advertisement
 * to all nodes with the override flag and this interface's MAC as the target link-layer address
 * (`na6` of the IPv6 Toolkit), which replaces the entry of a neighbour that has the VIP cached, as
 * RFC 4861 section 7.2.6 describes. The kernel sends none for a `nodad` address.
 */
const ANNOUNCE_IF_FENCED = {
  4: `${WHILE_FENCED}; exec arping -q -U -c 1 -i "$2" -S "$3" "$3"`,
  6: `${WHILE_FENCED}; exec na6 -i "$2" -s "$3" -d ff02::1 -t "$3" -o -e`,
} as const;

/** The fence of callers that own the VIP without a lease (tests, single-process mode). */
const unfenced: Fence = () => Number.POSITIVE_INFINITY;

interface IpAddrJson {
  ifname?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number; label?: string; nodad?: boolean }[];
}

/** Announces VIPs on one interface with `ip addr`, `arping` and `na6`. */
export class L2Announcer implements Announcer {
  readonly mode = 'l2' as const;
  private readonly opts: L2Options;
  private readonly label: string;
  private readonly vips = new Set<string>();
  /** Pending repeat of announcements per VIP; cleared on withdraw. */
  private readonly bursts = new Map<string, NodeJS.Timeout>();
  private readonly ip: IpBatch;
  private keeping: Promise<unknown> | null = null;

  constructor(opts: L2Options) {
    if (!(Number.isInteger(opts.lifetimeS) && opts.lifetimeS >= 1))
      throw new Error(`L2Announcer: lifetimeS must be a whole number of seconds >= 1, got ${opts.lifetimeS}`);
    this.opts = opts;
    this.label = `${opts.interface}:sy`;
    this.ip = new IpBatch(opts.startChild ?? spawnLineChild(), opts.logger);
  }

  /** The `ip` command that adds `vip`, or renews its lifetime (and puts it back if it was removed). */
  private replaceCommand(vip: string, family: 4 | 6): string {
    const lft = `valid_lft ${this.opts.lifetimeS} preferred_lft ${this.opts.lifetimeS}`;
    return family === 4
      ? `address replace ${vip}/32 dev ${this.opts.interface} label ${this.label} ${lft}`
      : `address replace ${vip}/128 dev ${this.opts.interface} nodad ${lft}`;
  }

  async start(): Promise<void> {
    const problems: Problem[] = [];
    if (this.opts.interface.length > 12) {
      problems.push({
        code: 'announce.interface-name',
        object: 'speaker',
        field: '--interface',
        value: this.opts.interface,
        message:
          'l2 mode labels VIP addresses "<ifname>:sy", which Linux limits to 15 characters; use an interface name of at most 12 characters',
      });
    }
    const missing = this.opts.skipCapabilityCheck ? [] : missingCapabilities(['NET_ADMIN', 'NET_RAW']);
    if (missing.length > 0) {
      problems.push({
        code: 'announce.capabilities',
        object: 'speaker',
        field: '--announce',
        value: 'l2',
        message: `l2 mode needs ${missing.join(' and ')} to add VIP addresses and send ARP; run as root or grant them (the DaemonSet adds NET_ADMIN and NET_RAW), or use --announce none`,
      });
    }
    if (problems.length > 0) throw new UserError(problems);
    const shown = await this.opts.run('ip', ['-j', 'addr', 'show', 'dev', this.opts.interface]);
    if (shown.code !== 0) {
      throw new UserError([
        {
          code: 'announce.interface-missing',
          object: 'speaker',
          field: '--interface',
          value: this.opts.interface,
          message: `no such interface (${shown.stderr.trim()}); name the interface that faces the clients, e.g. eth0`,
        },
      ]);
    }
    for (const stale of this.ownAddresses(shown.stdout)) {
      await this.opts.run('ip', ['addr', 'del', stale, 'dev', this.opts.interface]);
      this.opts.logger.info(
        { event: 'vip-stale-removed', vip: stale },
        'removed a VIP address left by an earlier run',
      );
    }
  }

  /** Addresses on the interface that an earlier speaker added (`addr/prefix`). */
  private ownAddresses(json: string): string[] {
    let parsed: IpAddrJson[];
    try {
      parsed = JSON.parse(json) as IpAddrJson[];
    } catch {
      return [];
    }
    const out: string[] = [];
    for (const link of parsed) {
      for (const a of link.addr_info ?? []) {
        if (!a.local) continue;
        const ours =
          (a.family === 'inet' && a.label === this.label && a.prefixlen === 32) ||
          (a.family === 'inet6' && a.nodad === true && a.prefixlen === 128);
        if (ours) out.push(`${a.local}/${a.prefixlen}`);
      }
    }
    return out;
  }

  /**
   * Add the VIP and send gratuitous ARP. The fence is asked right before every ARP so that a
   * speaker whose lease may have lapsed never claims the VIP on the wire.
   */
  async announce(vip: string, fence: Fence = unfenced): Promise<void> {
    const ip = parseIp(vip);
    if (!ip) throw new Error(`announce: not an IP address: ${vip}`);
    if (this.vips.has(ip.text)) return;
    if (await this.addAddress(ip.text, fence)) this.advertise(ip.text, fence);
  }

  /** Add the VIP to the interface (labelled, so a later run can find it), if the fence holds. */
  async addAddress(vip: string, fence: Fence = unfenced): Promise<boolean> {
    const ip = parseIp(vip);
    if (!ip) throw new Error(`addAddress: not an IP address: ${vip}`);
    if (this.vips.has(ip.text)) return true;
    if (fence() <= 0) return false;
    // `replace` also takes over an address someone else added, with our label and lifetime.
    const [err] = await this.ip.run([this.replaceCommand(ip.text, ip.family)]);
    if (err) {
      this.opts.logger.error({ event: 'vip-add-failed', vip: ip.text, err }, 'could not add VIP address');
      return false;
    }
    this.vips.add(ip.text);
    this.opts.logger.info(
      { event: 'vip-address-added', vip: ip.text, interface: this.opts.interface },
      'VIP address added',
    );
    return true;
  }

  /**
   * Send a burst of announcements for an address this announcer added (gratuitous ARP for IPv4, an
   * unsolicited neighbour advertisement for IPv6), then one every `repeatMs` while it stays, so
   * caches that missed the burst converge. A new burst replaces one still running.
   */
  advertise(vip: string, fence: Fence = unfenced): void {
    const ip = parseIp(vip);
    if (!ip || !this.vips.has(ip.text)) return;
    const pending = this.bursts.get(ip.text);
    if (pending) clearTimeout(pending);
    this.bursts.delete(ip.text);
    this.opts.logger.info(
      { event: 'vip-announced', vip: ip.text, interface: this.opts.interface },
      'announcing VIP',
    );
    this.burst(ip.text, ip.family, this.opts.burstCount ?? 3, fence);
  }

  private burst(vip: string, family: 4 | 6, remaining: number, fence: Fence): void {
    const left = fence();
    if (!this.vips.has(vip) || left <= 0) {
      this.bursts.delete(vip);
      return;
    }
    this.sendAnnouncement(vip, family, left);
    // The burst, then one now and then while the VIP stays.
    const inBurst = remaining > 1;
    const next = inBurst ? (this.opts.burstIntervalMs ?? 1000) : (this.opts.repeatMs ?? ANNOUNCE_REPEAT_MS);
    if (next <= 0) {
      this.bursts.delete(vip);
      return;
    }
    const t = setTimeout(() => this.burst(vip, family, inBurst ? remaining - 1 : 1, fence), next);
    t.unref();
    this.bursts.set(vip, t);
  }

  /**
   * One announcement, sent only if the fence still holds when the tool is about to run: the child
   * compares the wall clock with the fence's end right before it execs arping or na6, so a spawn
   * delayed by a loaded machine cannot announce past the fence.
   */
  private sendAnnouncement(vip: string, family: 4 | 6, fenceLeftMs: number): void {
    // A whole number of ms for the shell's integer comparison (fences come from performance.now(),
    // with fractions); an unfenced caller (Infinity) still needs one.
    const until = Date.now() + Math.floor(Math.min(fenceLeftMs, 3_600_000));
    // arping exits 1 on "no reply", which is normal for an unsolicited ARP; na6 exits 0 when sent.
    const worstFine = family === 4 ? 1 : 0;
    const what = family === 4 ? 'gratuitous ARP' : 'unsolicited neighbour advertisement';
    void this.opts
      .run('sh', ['-c', ANNOUNCE_IF_FENCED[family], 'announce', String(until), this.opts.interface, vip])
      .then((r) => {
        if (r.code === FENCE_PASSED) {
          this.opts.logger.debug(
            { event: 'garp-fenced', vip },
            `the fence passed before the ${what} went out`,
          );
        } else if (r.code > worstFine) {
          this.opts.logger.warn({ event: 'garp-failed', vip, err: r.stderr.trim() }, `${what} failed`);
        }
      });
  }

  async withdraw(vip: string): Promise<void> {
    const ip = parseIp(vip);
    if (!ip || !this.vips.has(ip.text)) return;
    const burst = this.bursts.get(ip.text);
    if (burst) clearTimeout(burst);
    this.bursts.delete(ip.text);
    this.vips.delete(ip.text);
    const prefix = ip.family === 4 ? 32 : 128;
    // Through the same child as the renewals: none written before this can run after it.
    const [err] = await this.ip.run([`address del ${ip.text}/${prefix} dev ${this.opts.interface}`]);
    if (err && !/Cannot assign|not found/i.test(err)) {
      // The address goes by itself within the lifetime: nothing renews it any more.
      this.opts.logger.error(
        { event: 'vip-del-failed', vip: ip.text, err, lifetimeS: this.opts.lifetimeS },
        'could not remove VIP address; the kernel removes it when its lifetime ends',
      );
    }
    this.opts.logger.info({ event: 'vip-withdrawn', vip: ip.text }, 'stopped announcing VIP');
  }

  /**
   * Renew the kernel lifetime of the addresses this announcer added: every one of `owned` (putting
   * back any that was removed: the lease proves the VIP is this node's), and those of `retained` that
   * are still present (a VIP kept without a provable lease must never come back once the kernel
   * dropped it, e.g. after this process was frozen). Skipped while the previous renewal is still
   * running, so a hung child cannot pile them up.
   */
  keepAlive(owned: Iterable<string>, retained: Iterable<string> = []): void {
    if (this.keeping) return;
    const commands: string[] = [];
    const add = (vip: string, onlyIfPresent: ReadonlySet<string> | null) => {
      const ip = parseIp(vip);
      if (!ip || !this.vips.has(ip.text)) return;
      if (onlyIfPresent && !onlyIfPresent.has(ip.text)) return;
      commands.push(this.replaceCommand(ip.text, ip.family));
    };
    for (const vip of owned) add(vip, null);
    let present: ReadonlySet<string> | null = null;
    for (const vip of retained) {
      present ??= localAddresses();
      add(vip, present);
    }
    if (commands.length === 0) return;
    this.keeping = this.ip.run(commands).then((outcome) => {
      this.keeping = null;
      const failed = outcome.filter((e) => e !== null);
      if (failed.length > 0)
        this.opts.logger.warn(
          { event: 'vip-keepalive-failed', failed: failed.length, err: failed[0] },
          'could not renew VIP address lifetimes',
        );
    });
  }

  announced(): ReadonlySet<string> {
    return this.vips;
  }

  async close(): Promise<void> {
    for (const vip of [...this.vips]) await this.withdraw(vip);
    await this.keeping;
    await this.ip.close();
  }
}
