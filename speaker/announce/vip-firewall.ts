/**
 * Keeps a VIP from exposing the host. In `l2` mode the owner adds the VIP to an interface, which
 * makes every socket bound to 0.0.0.0 on the node (sshd, the kubelet, ...) reachable through it.
 * An nftables table `inet switchyard` accepts only the Services' own (VIP, TCP port) pairs and ICMP
 * on VIPs, resets other TCP and drops the rest; traffic to the node's own addresses is untouched.
 * The whole table is replaced in one `nft -f` transaction, so there is never a moment without it.
 */

import { parseIp } from '../../shared/ip.ts';
import type { Logger } from '../../shared/log.ts';
import type { CommandRunner } from './command-runner.ts';

/** One (VIP, TCP port) pair that must stay reachable. */
export interface VipPort {
  readonly vip: string;
  readonly port: number;
}

/** Name of the nftables table the speaker owns. */
export const NFT_TABLE = 'switchyard';

function elements(items: readonly string[]): string {
  return items.length > 0 ? ` elements = { ${items.join(', ')} };` : '';
}

/** The nftables script that allows exactly `allowed` on its VIPs (pure, for tests and dry runs). */
export function renderVipRuleset(allowed: readonly VipPort[]): string {
  const vip4 = new Set<string>();
  const vip6 = new Set<string>();
  const svc4 = new Set<string>();
  const svc6 = new Set<string>();
  for (const { vip, port } of allowed) {
    const ip = parseIp(vip);
    if (!ip) continue;
    (ip.family === 4 ? vip4 : vip6).add(ip.text);
    (ip.family === 4 ? svc4 : svc6).add(`${ip.text} . ${port}`);
  }
  const sorted = (s: Set<string>) => [...s].sort();
  return [
    // Declaring then deleting makes the delete succeed whether or not the table existed.
    `add table inet ${NFT_TABLE}`,
    `delete table inet ${NFT_TABLE}`,
    `table inet ${NFT_TABLE} {`,
    `  set vip4 { type ipv4_addr;${elements(sorted(vip4))} }`,
    `  set vip6 { type ipv6_addr;${elements(sorted(vip6))} }`,
    `  set svc4 { type ipv4_addr . inet_service;${elements(sorted(svc4))} }`,
    `  set svc6 { type ipv6_addr . inet_service;${elements(sorted(svc6))} }`,
    '  chain input {',
    '    type filter hook input priority -10; policy accept;',
    '    ip daddr . tcp dport @svc4 accept',
    '    ip6 daddr . tcp dport @svc6 accept',
    '    ip daddr @vip4 meta l4proto icmp accept',
    // Neighbour discovery and the rest of ICMPv6 must keep working for the VIP to be reachable at all.
    '    ip6 daddr @vip6 meta l4proto ipv6-icmp accept',
    '    ip daddr @vip4 meta l4proto tcp reject with tcp reset',
    '    ip6 daddr @vip6 meta l4proto tcp reject with tcp reset',
    '    ip daddr @vip4 drop',
    '    ip6 daddr @vip6 drop',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Applies the VIP allowlist with `nft`. */
export class NftVipFirewall {
  private readonly run: CommandRunner;
  private readonly logger: Logger;
  private last = '';

  constructor(opts: { run: CommandRunner; logger: Logger }) {
    this.run = opts.run;
    this.logger = opts.logger;
  }

  /** Replace the allowlist; a no-op when nothing changed. Throws if nft refuses, so callers never announce unprotected. */
  async apply(allowed: readonly VipPort[]): Promise<void> {
    const script = renderVipRuleset(allowed);
    if (script === this.last) return;
    const r = await this.runScript(script);
    if (r.code !== 0) throw new Error(`nft refused the VIP allowlist: ${r.stderr.trim()}`);
    this.last = script;
    this.logger.debug({ event: 'vip-firewall-applied', pairs: allowed.length }, 'VIP allowlist applied');
  }

  /** Remove the table (on shutdown, after the VIPs are withdrawn). */
  async close(): Promise<void> {
    await this.runScript(`add table inet ${NFT_TABLE}\ndelete table inet ${NFT_TABLE}\n`);
    this.last = '';
  }

  private runScript(script: string) {
    return this.run('nft', ['-f', '-'], script);
  }
}
