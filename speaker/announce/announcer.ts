/**
 * How a speaker makes the network send a VIP's traffic to it. Owning a VIP is two steps with the
 * listeners bound in between: `addAddress` makes the VIP a local address (so its listeners can
 * bind), then `advertise` tells the neighbours (so traffic arrives only once something listens).
 * `announce` does both at once where nothing needs to happen in between.
 */

/**
 * How much longer this node may announce a VIP, in ms (its lease's fence); 0 or less: not now.
 * Asked right before every change that makes the VIP reachable here.
 */
export type Fence = () => number;

/** Announcement mode, chosen per speaker with `--announce`. */
export type AnnounceMode = 'l2' | 'none' | 'local';

/** Makes VIPs reachable at this node, and stops doing so. */
export interface Announcer {
  readonly mode: AnnounceMode;
  /** Check privileges and remove VIP addresses a crashed earlier run left behind. */
  start(): Promise<void>;
  /** Make `vip` a local address, if the fence holds; resolves true when the address is present. Idempotent. */
  addAddress(vip: string, fence?: Fence): Promise<boolean>;
  /**
   * Tell the neighbours `vip` is here now (gratuitous ARP), and again now and then while it stays,
   * none of it past the fence.
   */
  advertise(vip: string, fence?: Fence): void;
  /** `addAddress`, then `advertise` when the address is new. Idempotent. */
  announce(vip: string, fence?: Fence): Promise<void>;
  /** Stop answering for `vip`. Idempotent. */
  withdraw(vip: string): Promise<void>;
  /**
   * Keep answering for VIPs it announced: renew whatever makes the network reach this node for them
   * only while this process lives (l2: the addresses' kernel lifetimes). `owned` VIPs are held
   * under a lease and are restored if something removed them; `retained` ones (kept suspended,
   * without a provable lease) are renewed only while still present.
   */
  keepAlive(owned: Iterable<string>, retained?: Iterable<string>): void;
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

  async addAddress(vip: string): Promise<boolean> {
    this.vips.add(vip);
    return true;
  }

  advertise(): void {}

  keepAlive(): void {}

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
