/**
 * The speaker as a member of a cluster: it follows the forwarding table in the store, takes its
 * share of the VIPs through leases (ownership-loop.ts), and turns ownership into addresses,
 * listeners and announcements.
 *
 * In `l2` mode a VIP's listeners can only bind where the VIP is a local address, so only its owner
 * binds them, in this order: the nftables allowlist covers every VIP:port of the table, the address
 * is added, the listeners are bound (the speaker has applied the table), and only then does the
 * gratuitous ARP go out, so no client is drawn to a node that does not listen yet. On loss the
 * address goes first, then the listeners drain. In `none` and `local` modes every speaker binds every
 * VIP and ownership is bookkeeping (status, metrics).
 *
 * The data plane never waits for the store: if Redis goes away, the last good table keeps serving,
 * owners keep their VIPs `suspended` (no gratuitous ARP past the lease), and in `l2` mode an owner
 * steps back if another node answers ARP for a VIP it keeps (address-conflict.ts).
 *
 * A timer of its own, independent of the store, keeps what this node announces alive (the kernel
 * lifetimes of VIP addresses in `l2`) and watches the client-facing link: a link that goes down
 * gives every VIP up so that other nodes serve them.
 */
import type { Registry } from 'prom-client';
import type { Logger } from '../shared/log.ts';
import type { ForwardingTable, Listener } from '../shared/model.ts';
import type { SpeakerInfo, Store, TableSubscription } from '../shared/store/store.ts';
import { type ConflictProbe, ConflictWatch } from './announce/address-conflict.ts';
import type { Announcer } from './announce/announcer.ts';
import type { VipPort } from './announce/vip-firewall.ts';
import { LEASE_DEFAULTS, type LeaseTiming } from './ownership/lease.ts';
import { type OwnershipLoss, type VipOwnership, VipOwnershipLoop } from './ownership/ownership-loop.ts';
import { OwnershipMetrics } from './ownership/ownership-metrics.ts';
import type { BindFilter, Speaker } from './speaker.ts';

/** The VIP allowlist as the cluster speaker uses it (`NftVipFirewall`, or a recording fake). */
export interface VipAllowlist {
  /** Replace the allowed (VIP, port) pairs; throws when it could not. */
  apply(allowed: readonly VipPort[]): Promise<void>;
  /** Remove the allowlist. */
  close(): Promise<void>;
}

/** Everything a cluster speaker is started with. */
export interface ClusterSpeakerOptions {
  readonly store: Store;
  /** The running speaker (started without a table file); the cluster speaker feeds it. */
  readonly speaker: Speaker;
  /** Started already (privileges checked, stale addresses removed). */
  readonly announcer: Announcer;
  /** `l2` only: the allowlist applied before any VIP address is added. */
  readonly allowlist?: VipAllowlist | null;
  /**
   * `l2` only: asks whether another host answers for a VIP, one this node keeps suspended or one it
   * would take after the store lost its memory.
   */
  readonly conflictProbe?: ConflictProbe | null;
  /** How long a VIP is kept suspended while the store is away (see `OwnershipLoopOptions`). */
  readonly retainOnStoreLossMs?: number;
  readonly self: SpeakerInfo;
  readonly timing?: Partial<LeaseTiming>;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Loop tuning, for tests; defaults as in ownership-loop.ts. */
  readonly settleMs?: number;
  readonly handoverDelayMs?: number;
  /** How often the table subscription checks for a lost announcement; the store's default if unset. */
  readonly resyncIntervalMs?: number;
  /**
   * How often to renew what keeps the announced VIPs alive and to check the link; default half the
   * lease renew interval. It must be well under the l2 address lifetime (`addressLifetimeS`).
   */
  readonly keepAliveMs?: number;
  /** Whether the client-facing link is up (`l2`); absent: never checked. */
  readonly linkUp?: (() => boolean) | null;
}

/** Wait before trying again when the allowlist or an address could not be applied. */
export const RECONCILE_RETRY_MS = 1000;

/** A VIP as the cluster speaker reports it. */
export interface VipStatus {
  readonly vip: string;
  readonly state: VipOwnership;
  readonly epoch: number;
  /** The address is on the interface (l2) or recorded (none/local). */
  readonly announced: boolean;
}

function allowedPairs(table: ForwardingTable): VipPort[] {
  return table.listeners.map((l) => ({ vip: l.vip, port: l.port }));
}

/** A speaker following the store and owning its share of the VIPs. */
export class ClusterSpeaker {
  readonly #opts: ClusterSpeakerOptions;
  readonly #log: Logger;
  readonly #loop: VipOwnershipLoop;
  readonly #metrics: OwnershipMetrics;
  readonly #conflicts: ConflictWatch | null;
  readonly #l2: boolean;
  #subscription: TableSubscription | null = null;
  #table: ForwardingTable = { version: 0, listeners: [] };
  /** VIPs gained since their last gratuitous ARP: advertised once their listeners are bound. */
  readonly #toAdvertise = new Set<string>();
  /** What the speaker was last given: the table and the VIPs allowed to bind. */
  #lastServed: { table: ForwardingTable; vips: string } | null = null;
  #dirty = false;
  #reconciling: Promise<void> | null = null;
  #retry: NodeJS.Timeout | null = null;
  #keepAlive: NodeJS.Timeout | null = null;
  #stopping: Promise<void> | null = null;

  private constructor(opts: ClusterSpeakerOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ node: opts.self.node });
    this.#l2 = opts.announcer.mode === 'l2';
    this.#loop = new VipOwnershipLoop({
      store: opts.store,
      self: opts.self,
      logger: opts.logger,
      ...(opts.timing ? { timing: opts.timing } : {}),
      ...(opts.settleMs !== undefined ? { settleMs: opts.settleMs } : {}),
      ...(opts.handoverDelayMs !== undefined ? { handoverDelayMs: opts.handoverDelayMs } : {}),
      ...(opts.retainOnStoreLossMs !== undefined ? { retainOnStoreLossMs: opts.retainOnStoreLossMs } : {}),
      otherAnswers: this.#l2 ? (opts.conflictProbe ?? null) : null,
      handlers: {
        gained: (c) => {
          this.#metrics.changed('gained');
          this.#toAdvertise.add(c.vip);
          // Never rejects: a failed pass is logged and retried inside #reconcile.
          void this.#reconcile();
        },
        suspended: () => {
          this.#metrics.changed('suspended');
          void this.#reconcile(); // never rejects (see above)
        },
        lost: (loss: OwnershipLoss) => {
          this.#metrics.changed('lost');
          this.#toAdvertise.delete(loss.vip);
          // The loop releases the lease once this resolves: the address is gone by then.
          return this.#reconcile();
        },
      },
    });
    this.#metrics = new OwnershipMetrics(
      opts.registry,
      opts.self.node,
      () => this.#loop.snapshot(),
      () => this.#loop.discontinuities,
    );
    this.#conflicts =
      this.#l2 && opts.conflictProbe
        ? new ConflictWatch({
            probe: opts.conflictProbe,
            logger: this.#log,
            proofWindowMs: opts.timing?.ttlMs ?? LEASE_DEFAULTS.ttlMs,
            onGiveUp: (vip, why) => this.#loop.relinquish(vip, why),
          })
        : null;
  }

  /** Follow the table in the store and start taking VIPs (after the loop's settle time). */
  static start(opts: ClusterSpeakerOptions): ClusterSpeaker {
    const cs = new ClusterSpeaker(opts);
    cs.#subscription = opts.store.subscribeTable(
      {
        onTable: (table, generation) => {
          cs.#log.debug({ event: 'store-table', version: table.version, generation });
          cs.#table = table;
          cs.#loop.setVips(new Set(table.listeners.map((l) => l.vip)));
          void cs.#reconcile(); // never rejects: a failed pass is logged and retried inside it
        },
        onRefused: (r) => opts.speaker.reportRefused(r.problems, `store table v${r.version}`),
      },
      opts.resyncIntervalMs !== undefined ? { resyncIntervalMs: opts.resyncIntervalMs } : {},
    );
    cs.#loop.start();
    const keepAliveMs = opts.keepAliveMs ?? Math.max(1, Math.floor((opts.timing?.renewMs ?? 500) / 2));
    cs.#keepAlive = setInterval(() => cs.#keepAliveTick(), keepAliveMs);
    cs.#keepAlive.unref();
    cs.#log.info(
      { event: 'cluster-speaker-started', announce: opts.announcer.mode, store: opts.store.target },
      'following the store',
    );
    return cs;
  }

  /** Every VIP this node owns or keeps suspended. */
  vips(): VipStatus[] {
    const announced = this.#opts.announcer.announced();
    return this.#loop.snapshot().map((o) => ({ ...o, announced: announced.has(o.vip) }));
  }

  /**
   * Why this speaker should be restarted, or null while it is healthy: its ownership loop has not
   * started a tick for more than `maxMs` (a hung loop renews nothing and takes nothing over).
   */
  stalled(now: number, maxMs: number): string | null {
    const age = now - this.#loop.lastTickAt;
    if (age <= maxMs) return null;
    return Number.isFinite(age)
      ? `the VIP ownership loop last ticked ${Math.round(age)} ms ago (limit ${maxMs} ms)`
      : 'the VIP ownership loop has not ticked yet';
  }

  /** The table most recently taken from the store. */
  get table(): ForwardingTable {
    return this.#table;
  }

  /** Serve the current table again (SIGHUP), which also retries listeners that failed to bind. */
  reapply(): Promise<void> {
    this.#lastServed = null;
    return this.#reconcile();
  }

  /** Resolves when every change seen so far has been applied. */
  async settled(): Promise<void> {
    while (this.#reconciling) await this.#reconciling;
  }

  /**
   * Release every lease and withdraw every VIP, stop following the store, remove the allowlist.
   * The speaker itself and the store are the caller's to stop. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#retry) clearTimeout(this.#retry);
      await this.#loop.stop({ release: true });
      if (this.#keepAlive) clearInterval(this.#keepAlive);
      await this.#subscription?.close();
      await this.#conflicts?.close();
      await this.settled();
      await this.#opts.announcer.close();
      await this.#opts.allowlist?.close();
      this.#log.info({ event: 'cluster-speaker-stopped' }, 'left the cluster');
    })();
    return this.#stopping;
  }

  /**
   * On its own timer: keep the VIPs this node owns or keeps suspended alive, and give them all up
   * while the client-facing link is down (a node that cannot be reached must not hold VIPs).
   */
  #keepAliveTick(): void {
    const { linkUp, announcer } = this.#opts;
    if (linkUp) this.#loop.setLocalFault(linkUp() ? null : 'link-down');
    const owned: string[] = [];
    const retained: string[] = [];
    for (const o of this.#loop.snapshot()) {
      // A fence that has passed (a timer not run yet after a freeze) proves nothing: retained.
      if (o.state === 'owned' && this.#loop.canAnnounce(o.vip)) owned.push(o.vip);
      else retained.push(o.vip);
    }
    if (owned.length + retained.length > 0) announcer.keepAlive(owned, retained);
  }

  /** Ask for a reconcile; changes that arrive while one runs are folded into the next. */
  #reconcile(): Promise<void> {
    this.#dirty = true;
    this.#reconciling ??= (async () => {
      try {
        while (this.#dirty) {
          this.#dirty = false;
          await this.#reconcileOnce().catch((err: unknown) => {
            this.#log.error({ event: 'reconcile-failed', err }, 'could not apply VIP ownership');
            this.#retryLater();
          });
        }
      } finally {
        this.#reconciling = null;
      }
    })();
    return this.#reconciling;
  }

  #retryLater(): void {
    if (this.#retry || this.#stopping) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      void this.#reconcile();
    }, RECONCILE_RETRY_MS);
    this.#retry.unref();
  }

  /** Bring addresses, allowlist, listeners and announcements in line with ownership and the table. */
  async #reconcileOnce(): Promise<void> {
    const { announcer, allowlist, speaker } = this.#opts;
    const table = this.#table;
    const inTable = new Set(table.listeners.map((l) => l.vip));
    const snapshot = this.#loop.snapshot().filter((o) => inTable.has(o.vip));
    const keep = new Set(snapshot.map((o) => o.vip));

    // 1. Addresses this node no longer keeps go first, before their listeners or their allowlist.
    for (const vip of [...announcer.announced()]) {
      if (!keep.has(vip)) await announcer.withdraw(vip);
    }
    // 2. The allowlist must cover a VIP before its address exists.
    let guarded = true;
    if (allowlist) {
      try {
        await allowlist.apply(allowedPairs(table));
      } catch (err) {
        guarded = false;
        this.#log.error(
          { event: 'vip-firewall-failed', err },
          'could not apply the VIP allowlist; no VIP is added until it is',
        );
        this.#retryLater();
      }
    }
    // 3. Addresses of VIPs owned with a provable lease.
    if (guarded) {
      for (const o of snapshot) {
        if (o.state !== 'owned' || announcer.announced().has(o.vip)) continue;
        const added = await announcer.addAddress(o.vip, () => this.#loop.fenceMs(o.vip));
        if (!added && this.#loop.canAnnounce(o.vip)) this.#retryLater();
      }
    }
    // 4. Listeners: in l2 only those of VIPs whose address is here; elsewhere all of them.
    const announced = announcer.announced();
    const bind: BindFilter | undefined = this.#l2 ? (l: Listener) => announced.has(l.vip) : undefined;
    const vipsKey = this.#l2 ? [...announced].sort().join(',') : '*';
    const last = this.#lastServed;
    if (!last || last.table !== table || last.vips !== vipsKey) {
      this.#lastServed = { table, vips: vipsKey };
      await speaker.serve(table, 'store', bind);
    }
    // 5. Now that they listen, tell the neighbours (each message fenced by the lease).
    for (const vip of [...this.#toAdvertise]) {
      if (!announced.has(vip)) continue;
      this.#toAdvertise.delete(vip);
      if (this.#loop.canAnnounce(vip)) announcer.advertise(vip, () => this.#loop.fenceMs(vip));
    }
    // 6. Suspended VIPs with an address are watched for another node answering for them.
    this.#conflicts?.setVips(
      snapshot.filter((o) => o.state === 'suspended' && announced.has(o.vip)).map((o) => o.vip),
    );
  }
}
