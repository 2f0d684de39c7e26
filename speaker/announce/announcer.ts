/**
 * How a speaker makes the network send a VIP's traffic to it. The ownership loop calls `announce`
 * when this node gains a VIP's lease and `withdraw` when it loses it; the data plane does not
 * depend on either (listeners stay bound), so announcing is only about where packets arrive.
 */

/** Announcement mode, chosen per speaker with `--announce`. */
export type AnnounceMode = 'l2' | 'none' | 'local';

/** Makes VIPs reachable at this node, and stops doing so. */
export interface Announcer {
  readonly mode: AnnounceMode;
  /** Check privileges and remove VIP addresses a crashed earlier run left behind. */
  start(): Promise<void>;
  /** Make `vip` arrive here: add the address and tell the neighbours, while `stillOwned()` holds. Idempotent. */
  announce(vip: string, stillOwned?: () => boolean): Promise<void>;
  /** Stop answering for `vip`. Idempotent. */
  withdraw(vip: string): Promise<void>;
  /** VIPs announced now. */
  announced(): ReadonlySet<string>;
  /** Withdraw everything and stop background work. */
  close(): Promise<void>;
}

/**
 * Mode `none`: something else (a router, ECMP, kind's network) delivers VIP traffic to the nodes;
 * mode `local`: VIPs in 127.0.0.0/8, which Linux delivers on loopback without any address added.
 * Both only keep the bookkeeping so status and metrics can show ownership.
 */
export class PassiveAnnouncer implements Announcer {
  readonly mode: AnnounceMode;
  private readonly vips = new Set<string>();

  constructor(mode: 'none' | 'local') {
    this.mode = mode;
  }

  async start(): Promise<void> {}

  async announce(vip: string): Promise<void> {
    this.vips.add(vip);
  }

  async withdraw(vip: string): Promise<void> {
    this.vips.delete(vip);
  }

  announced(): ReadonlySet<string> {
    return this.vips;
  }

  async close(): Promise<void> {
    this.vips.clear();
  }
}
