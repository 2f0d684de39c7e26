/**
 * Layer-2 announcement: the VIP's owner adds the address to an interface and tells its neighbours
 * (gratuitous ARP for IPv4; for IPv6 the kernel's unsolicited neighbour advertisement, see
 * docs/announcement.md), so switches and hosts send the VIP's frames to this node.
 *
 * Our addresses are recognisable after a crash: IPv4 VIPs carry the label `<ifname>:sy`, IPv6 VIPs
 * are /128 without DAD. `start()` removes any such address left by an earlier run.
 */

import { UserError } from '../../shared/errors.ts';
import { parseIp } from '../../shared/ip.ts';
import type { Logger } from '../../shared/log.ts';
import type { Announcer } from './announcer.ts';
import { missingCapabilities } from './capabilities.ts';
import type { CommandRunner } from './command-runner.ts';

/** Settings of the L2 announcer. */
export interface L2Options {
  /** Interface the VIPs are added to, e.g. `eth0`. At most 12 characters (the label adds `:sy`). */
  readonly interface: string;
  readonly run: CommandRunner;
  readonly logger: Logger;
  /** Gratuitous ARPs sent per announcement: one at once, the rest `garpIntervalMs` apart. */
  readonly garpCount?: number;
  readonly garpIntervalMs?: number;
  /** Skip the capability check (tests that run the commands in a namespace as root). */
  readonly skipCapabilityCheck?: boolean;
}

interface IpAddrJson {
  ifname?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number; label?: string; nodad?: boolean }[];
}

/** Announces VIPs on one interface with `ip addr` and `arping`. */
export class L2Announcer implements Announcer {
  readonly mode = 'l2' as const;
  private readonly opts: L2Options;
  private readonly label: string;
  private readonly vips = new Set<string>();
  /** Pending repeat of gratuitous ARPs per VIP; cleared on withdraw. */
  private readonly bursts = new Map<string, NodeJS.Timeout>();

  constructor(opts: L2Options) {
    this.opts = opts;
    this.label = `${opts.interface}:sy`;
  }

  async start(): Promise<void> {
    const problems = [];
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
   * Add the VIP and send gratuitous ARP. `stillOwned` is asked right before every ARP so that a
   * speaker whose lease may have lapsed never claims the VIP on the wire.
   */
  async announce(vip: string, stillOwned: () => boolean = () => true): Promise<void> {
    const ip = parseIp(vip);
    if (!ip) throw new Error(`announce: not an IP address: ${vip}`);
    if (this.vips.has(ip.text)) return;
    if (await this.addAddress(ip.text, stillOwned)) this.advertise(ip.text, stillOwned);
  }

  /** Add the VIP to the interface (labelled, so a later run can find it), if `stillOwned()` holds. */
  async addAddress(vip: string, stillOwned: () => boolean = () => true): Promise<boolean> {
    const ip = parseIp(vip);
    if (!ip) throw new Error(`addAddress: not an IP address: ${vip}`);
    if (this.vips.has(ip.text)) return true;
    if (!stillOwned()) return false;
    const args =
      ip.family === 4
        ? ['addr', 'add', `${ip.text}/32`, 'dev', this.opts.interface, 'label', this.label]
        : ['addr', 'add', `${ip.text}/128`, 'dev', this.opts.interface, 'nodad'];
    const r = await this.opts.run('ip', args);
    if (r.code !== 0 && !/File exists/i.test(r.stderr)) {
      this.opts.logger.error(
        { event: 'vip-add-failed', vip: ip.text, err: r.stderr.trim() },
        'could not add VIP address',
      );
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
   * Send a burst of gratuitous ARPs for an address this announcer added (IPv4; for IPv6 the kernel
   * advertises). A new burst replaces one still running.
   */
  advertise(vip: string, stillOwned: () => boolean = () => true): void {
    const ip = parseIp(vip);
    if (ip?.family !== 4 || !this.vips.has(ip.text)) return;
    const pending = this.bursts.get(ip.text);
    if (pending) clearTimeout(pending);
    this.bursts.delete(ip.text);
    this.opts.logger.info(
      { event: 'vip-announced', vip: ip.text, interface: this.opts.interface },
      'announcing VIP',
    );
    this.garpBurst(ip.text, this.opts.garpCount ?? 3, stillOwned);
  }

  private garpBurst(vip: string, remaining: number, stillOwned: () => boolean): void {
    if (remaining <= 0 || !this.vips.has(vip) || !stillOwned()) {
      this.bursts.delete(vip);
      return;
    }
    // `-U` makes it unsolicited (broadcast); arping exits 1 on "no reply", which is normal here.
    void this.opts
      .run('arping', ['-q', '-U', '-c', '1', '-i', this.opts.interface, '-S', vip, vip])
      .then((r) => {
        if (r.code > 1)
          this.opts.logger.warn({ event: 'garp-failed', vip, err: r.stderr.trim() }, 'gratuitous ARP failed');
      });
    const t = setTimeout(
      () => this.garpBurst(vip, remaining - 1, stillOwned),
      this.opts.garpIntervalMs ?? 1000,
    );
    t.unref();
    this.bursts.set(vip, t);
  }

  async withdraw(vip: string): Promise<void> {
    const ip = parseIp(vip);
    if (!ip || !this.vips.has(ip.text)) return;
    const burst = this.bursts.get(ip.text);
    if (burst) clearTimeout(burst);
    this.bursts.delete(ip.text);
    this.vips.delete(ip.text);
    const prefix = ip.family === 4 ? 32 : 128;
    const r = await this.opts.run('ip', ['addr', 'del', `${ip.text}/${prefix}`, 'dev', this.opts.interface]);
    if (r.code !== 0 && !/Cannot assign/i.test(r.stderr)) {
      this.opts.logger.error(
        { event: 'vip-del-failed', vip: ip.text, err: r.stderr.trim() },
        'could not remove VIP address',
      );
    }
    this.opts.logger.info({ event: 'vip-withdrawn', vip: ip.text }, 'stopped announcing VIP');
  }

  announced(): ReadonlySet<string> {
    return this.vips;
  }

  async close(): Promise<void> {
    for (const vip of [...this.vips]) await this.withdraw(vip);
  }
}
