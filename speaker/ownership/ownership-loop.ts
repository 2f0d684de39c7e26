/**
 * The speaker's VIP ownership loop. Every tick it heartbeats its registration, renews the leases it
 * holds, reads the live speakers and node states, and works towards the rendezvous choice:
 *
 * - it acquires a VIP it is the preferred owner of, but only when the lease is free: it never takes
 *   a live lease from another node (stability over balance: a VIP stays where it is until its holder
 *   lets go);
 * - it releases a VIP it holds when another eligible node is preferred and has been live for
 *   `handoverDelayMs` (so a flapping node does not drag VIPs back and forth), when the VIP left the
 *   table, or when this node stopped being eligible;
 * - when a lease passes its fenced deadline because the store did not answer, the VIP is
 *   `suspended`, not lost: the speaker keeps the address and keeps forwarding, but sends no
 *   gratuitous ARP, because nobody can acquire the lease without the store either. The loop takes
 *   the lease again (new epoch) as soon as the store answers, or reports the VIP lost if another
 *   node got it. docs/store.md explains the choice.
 *
 * A lease that runs out because its holder stopped renewing is taken over the moment it expires by
 * the node preferred after the holder (takeover.ts), rather than on that node's next tick.
 *
 * The store is not trusted to remember. Its incarnation (a Redis restart, a failover, a wipe) is
 * read on every tick; when it changes, every lease and registration may be gone while their holders
 * live, so the loop takes no VIP it did not hold until a full lease TTL has passed, by which time
 * every live holder has taken its own back. Nor does it take one on a view of the store older than
 * this tick, and every acquire names the incarnation it was decided on: ioredis resends a request
 * queued or in flight while the store was away, and the store refuses it if it is not the one the
 * decision was made on. And since a holder can reach the store later than this node did (a slower
 * reconnect, or a cut of its own), for `DOUBT_MS` after such a change a VIP this node did not hold
 * is taken only when `otherAnswers` finds no other host answering for it on the link: a holder that
 * still answers keeps its VIP and takes it back when it reaches the store.
 *
 * Giving a VIP up withdraws it first and releases the lease after, so no successor can announce
 * while this node still answers.
 *
 * The loop decides only who owns what; the speaker decides what owning means for its listeners
 * (cluster-speaker.ts: in `l2` mode only the owner binds a VIP's listeners).
 */
import type { Logger } from '../../shared/log.ts';
import { silentLogger } from '../../shared/log.ts';
import type {
  LeaseStore,
  NodeState,
  NodeStateStore,
  SpeakerInfo,
  SpeakerRegistry,
  StoreContinuity,
} from '../../shared/store/store.ts';
import { type AcquireOutcome, type LeaseLoss, type LeaseTiming, VipLeases } from './lease.ts';
import { eligibleNodes, preferredOwner } from './rendezvous.ts';
import { TakeoverWatch } from './takeover.ts';

/** A VIP and the lease epoch of the change. */
export interface OwnershipChange {
  readonly vip: string;
  readonly epoch: number;
}

/** Why this node no longer owns a VIP. */
export type OwnershipLossReason =
  /** Another node holds the lease now. */
  | 'taken'
  /** Released to the preferred owner. */
  | 'handover'
  /** The VIP is no longer in the table. */
  | 'removed'
  /** This node is not Ready, is excluded, or the controller does not list it. */
  | 'not-eligible'
  /** This node cannot serve VIPs now (its client-facing link is down): see `setLocalFault`. */
  | 'local-fault'
  /** The lease lapsed and `retainOnStoreLossMs` is 0, or the VIP was kept suspended that long. */
  | 'expired'
  /** Kept suspended, then given up because another node answers for it on the link (`relinquish`). */
  | 'conflict'
  /** Kept suspended, then given up because no probe could prove no other node answers (`relinquish`). */
  | 'unproven'
  /** The loop was stopped. */
  | 'stopped';

/** A VIP this node no longer owns. */
export interface OwnershipLoss extends OwnershipChange {
  readonly reason: OwnershipLossReason;
}

/** What the speaker does on ownership changes. */
export interface OwnershipHandlers {
  /** This node owns the VIP: add the address and send gratuitous ARP. */
  gained(change: OwnershipChange): void;
  /** The lease lapsed without an answer from the store: stop gratuitous ARP, keep the address. */
  suspended(change: OwnershipChange): void;
  /**
   * Another node owns it now, or will: remove the address. When the loop gives a lease up itself, it
   * releases the lease only once the returned promise settles, so withdraw before resolving.
   */
  lost(loss: OwnershipLoss): void | Promise<void>;
}

/** How this node stands with one VIP. */
export type VipOwnership = 'owned' | 'suspended';

/** Options of the loop. */
export interface OwnershipLoopOptions {
  readonly store: LeaseStore & SpeakerRegistry & NodeStateStore & StoreContinuity;
  /** This speaker's registration; `self.node` is the lease holder name. */
  readonly self: SpeakerInfo;
  readonly handlers: OwnershipHandlers;
  readonly timing?: Partial<LeaseTiming>;
  /** TTL of the speaker registration; default the lease TTL. */
  readonly heartbeatTtlMs?: number;
  /**
   * After start, and after the store comes back, wait this long (to see every live speaker) before
   * acquiring VIPs this node did not hold; default the heartbeat TTL.
   */
  readonly settleMs?: number;
  /** A preferred node must have been live this long before a holder hands a VIP over; default 3 s. */
  readonly handoverDelayMs?: number;
  /**
   * How long to keep a VIP (suspended) after its lease lapsed for want of an answer from the store:
   * 0 gives it up at once, Infinity (the default) for as long as the store is away.
   */
  readonly retainOnStoreLossMs?: number;
  /**
   * `l2`: whether another host answers for `vip` on the link (true), none does (false), or the probe
   * failed (null); address-conflict.ts. Absent: VIPs are taken on the store's word alone.
   */
  readonly otherAnswers?: ((vip: string) => Promise<boolean | null>) | null;
  /** Monotonic clock in ms. */
  readonly now?: () => number;
  readonly logger?: Logger;
}

/** Default wait before handing a VIP to a node that (re)appeared. */
export const DEFAULT_HANDOVER_DELAY_MS = 3000;

/**
 * How long, after the settle that follows a change of the store's incarnation, a VIP another host
 * answers for is not taken. A holder that answers also serves, so waiting costs no availability;
 * it ends so that a holder cut off from the store for good is replaced (it steps back on the
 * conflict).
 */
export const DOUBT_MS = 30_000;

/** Most link probes in flight at once for VIPs this node would take. */
export const MAX_TAKE_PROBES = 32;

/** What the loop knows about the other speakers. */
interface View {
  /** Eligible nodes, this one included when eligible. */
  readonly eligible: readonly string[];
  readonly selfEligible: boolean;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Keeps this node's share of VIP leases. */
export class VipOwnershipLoop {
  private readonly opts: OwnershipLoopOptions;
  private readonly leases: VipLeases;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly node: string;
  private readonly heartbeatTtlMs: number;
  private readonly settleMs: number;
  private readonly handoverDelayMs: number;
  private readonly retainMs: number;
  /**
   * A view read slower than this means the store stalled long enough for a live holder's lease to
   * lapse: a lease lapses only after TTL − renew without a served renewal, and this node's read
   * went out at most one renew interval into the stall. Shorter delays (this process being slow on
   * a loaded machine) move nothing.
   */
  private readonly stallMs: number;
  /** When each suspended VIP was suspended (monotonic). */
  private readonly suspendedAt = new Map<string, number>();
  /** Changes of the store's incarnation seen (restarts, failovers, wipes): a metric. */
  discontinuities = 0;
  private vips = new Set<string>();
  private readonly owned = new Map<string, { state: VipOwnership; epoch: number }>();
  private view: View;
  /** Monotonic time each node was first seen live in the current run of sightings. */
  private readonly firstSeen = new Map<string, number>();
  /**
   * Monotonic time before which this node takes no VIP it does not hold: the start, every recovery
   * of the store, and every change of its incarnation push it out.
   */
  private settleUntil = 0;
  private viewFailing = false;
  /** The store incarnation last read; null before the first read. */
  private incarnation: string | null = null;
  /** When the request that read `incarnation` was sent (monotonic): an older request's answer is stale. */
  private incarnationSentAt = Number.NEGATIVE_INFINITY;
  /** Monotonic time until which a VIP is taken only when nobody answers for it (`otherAnswers`). */
  private doubtUntil = Number.NEGATIVE_INFINITY;
  /** VIPs being probed before a take. */
  private readonly probing = new Set<string>();
  /**
   * VIPs found answered elsewhere (or not proven free) since the last change of incarnation, and
   * when to probe each again; logged once each.
   */
  private readonly probeAgainAt = new Map<string, number>();
  /** When the last view read that answered was sent (monotonic); acquisitions need one from this tick. */
  private viewAt = Number.NEGATIVE_INFINITY;
  /** Why this node cannot serve VIPs now, or null. */
  private localFault: string | null = null;
  /** Monotonic time the last tick started; -Infinity before the first. */
  private lastTick = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private tickRunning: Promise<void> | null = null;
  private heartbeatInFlight = false;
  private viewInFlight = false;
  private readonly takeovers: TakeoverWatch;
  /** Nodes whose lapsed lease this node took over, and until when (monotonic) they are not eligible. */
  private readonly lapsed = new Map<string, number>();

  constructor(opts: OwnershipLoopOptions) {
    this.opts = opts;
    this.node = opts.self.node;
    this.now = opts.now ?? (() => performance.now());
    this.log = (opts.logger ?? silentLogger()).child({ node: opts.self.node });
    this.leases = new VipLeases({
      store: opts.store,
      node: this.node,
      ...(opts.timing ? { timing: opts.timing } : {}),
      now: this.now,
      logger: this.log,
      onLost: (loss) => this.onLeaseLost(loss),
    });
    this.heartbeatTtlMs = opts.heartbeatTtlMs ?? this.leases.timing.ttlMs;
    this.settleMs = opts.settleMs ?? this.heartbeatTtlMs;
    this.handoverDelayMs = opts.handoverDelayMs ?? DEFAULT_HANDOVER_DELAY_MS;
    this.retainMs = opts.retainOnStoreLossMs ?? Number.POSITIVE_INFINITY;
    const t = this.leases.timing;
    this.stallMs = Math.max(t.renewMs, t.ttlMs - 2 * t.renewMs);
    this.view = { eligible: [this.node], selfEligible: true };
    this.takeovers = new TakeoverWatch({
      store: opts.store,
      self: this.node,
      timing: this.leases.timing,
      now: this.now,
      logger: this.log,
      view: () => this.view,
      wants: (vip) =>
        this.running &&
        this.vips.has(vip) &&
        !this.owned.has(vip) &&
        this.localFault === null &&
        this.now() >= this.settleUntil &&
        // While in doubt, the ticks take, each after a probe (takeIfUnanswered).
        !this.doubting() &&
        // A view younger than a stall long enough to lapse a live holder's lease (see stallMs).
        this.now() - this.viewAt <= this.stallMs + this.leases.timing.renewMs,
      acquire: (vip) => this.acquire(vip),
      tookOver: (vip, epoch, holder) => {
        // Its registration can outlive its lease by up to a heartbeat TTL; until then it is not a
        // candidate, or this node would hand the VIP straight back to a node that stopped renewing.
        this.lapsed.set(holder, this.now() + this.heartbeatTtlMs);
        this.gain(vip, epoch);
      },
    });
  }

  /** The VIPs of the current table. */
  setVips(vips: Iterable<string>): void {
    this.vips = new Set(vips);
    if (this.running) this.schedule(0);
  }

  /** Monotonic time the last tick started (-Infinity before the first): a liveness signal. */
  get lastTickAt(): number {
    return this.lastTick;
  }

  /**
   * Mark this node unable to serve VIPs (e.g. its client-facing link is down), or able again with
   * null. While marked, the next tick withdraws and releases every VIP and removes the registration,
   * so the other nodes take them at once, as keepalived's `track_interface` does.
   */
  setLocalFault(reason: string | null): void {
    if (reason === this.localFault) return;
    this.localFault = reason;
    if (reason !== null) {
      this.log.warn({ event: 'local-fault', reason }, 'this node cannot serve VIPs; giving them up');
    } else {
      this.log.info({ event: 'local-fault-cleared' }, 'this node can serve VIPs again');
      // Rejoin like a new node: look around before taking anything.
      this.settleUntil = this.now() + this.settleMs;
    }
    this.schedule(0);
  }

  /** How much longer this node may announce `vip`, in ms (its lease's fence); 0 when it may not. */
  fenceMs(vip: string): number {
    return this.leases.remainingMs(vip);
  }

  /** Whether this node may send gratuitous ARP for `vip` now (its lease is within its fence). */
  canAnnounce(vip: string): boolean {
    return this.leases.canAnnounce(vip);
  }

  /**
   * Give up a VIP kept `suspended` because another node answers for it on the link (`conflict`), or
   * because this node could not prove that none does (`unproven`). Only a node that reached the
   * store can have claimed it meanwhile, so two nodes answering is worse than this one stepping back.
   * Reports it lost with that reason; false when the VIP is not suspended here.
   */
  relinquish(vip: string, reason: 'conflict' | 'unproven' = 'conflict'): boolean {
    const o = this.owned.get(vip);
    if (o?.state !== 'suspended') return false;
    void this.drop(vip, o.epoch, reason);
    return true;
  }

  /** The VIPs this node owns or keeps suspended, with their epochs. */
  snapshot(): { vip: string; state: VipOwnership; epoch: number }[] {
    return [...this.owned].map(([vip, o]) => ({ vip, ...o })).sort((a, b) => (a.vip < b.vip ? -1 : 1));
  }

  /** Start ticking every renew interval. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.settleUntil = this.now() + this.settleMs;
    this.schedule(0);
  }

  /**
   * Stop ticking. By default release every lease and the registration, reporting each VIP lost
   * (`stopped`); with `release: false` leave them to expire, as a crash would.
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.takeovers.close();
    await this.tickRunning;
    const release = opts.release !== false;
    if (release) {
      // Withdraw everything before any lease goes.
      await Promise.allSettled([...this.owned].map(([vip, o]) => this.drop(vip, o.epoch, 'stopped')));
    }
    await this.leases.close({ release });
    if (!release) return;
    await this.opts.store.removeSpeaker(this.node).catch(() => undefined);
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      // A tick already running schedules the next one when it ends.
      if (this.tickRunning) return;
      this.tickRunning = this.tick().finally(() => {
        this.tickRunning = null;
        this.schedule(this.leases.timing.renewMs);
      });
    }, ms);
  }

  /** One round: fence, renew, heartbeat, look, then acquire or release towards the preferred owners. */
  private async tick(): Promise<void> {
    const started = this.now();
    this.lastTick = started;
    this.leases.checkDeadlines();
    if (this.localFault !== null) {
      await this.leaveForFault();
      return;
    }
    const work: Promise<unknown>[] = [this.leases.renewAll(), this.heartbeat()];
    await Promise.race([this.refreshView(), delay(this.leases.timing.renewMs)]);
    const view = this.view;
    const now = this.now();
    // Taking a VIP this node does not hold needs a view read in this very tick, from a store whose
    // incarnation has been the same for the settle time.
    const settled = now >= this.settleUntil && this.viewAt >= started;
    for (const [vip, o] of [...this.owned]) {
      if (!this.vips.has(vip)) work.push(this.giveUp(vip, o, 'removed'));
      else if (!view.selfEligible) work.push(this.giveUp(vip, o, 'not-eligible'));
      else if (o.state === 'suspended' && now - (this.suspendedAt.get(vip) ?? now) >= this.retainMs) {
        work.push(this.drop(vip, o.epoch, 'expired'));
      }
    }
    for (const vip of this.vips) {
      const o = this.owned.get(vip);
      if (o && !view.selfEligible) continue;
      const preferred = preferredOwner(vip, view.eligible);
      if (o?.state === 'owned') {
        const since = preferred === undefined ? undefined : this.firstSeen.get(preferred);
        if (preferred !== this.node && since !== undefined && now - since >= this.handoverDelayMs) {
          work.push(this.giveUp(vip, o, 'handover'));
        }
      } else if (o?.state === 'suspended') {
        // Stability: take back what this node had, whoever is preferred; handover comes later.
        work.push(this.take(vip));
      } else if (view.selfEligible && preferred === this.node && settled) {
        work.push(this.doubting() ? this.takeIfUnanswered(vip) : this.take(vip));
      }
    }
    if (settled && view.selfEligible && !this.viewFailing && !this.doubting()) {
      work.push(this.takeovers.watch(this.vips, view.eligible, new Set(this.owned.keys())));
    }
    await Promise.race([Promise.allSettled(work), delay(this.leases.timing.renewMs)]);
  }

  /**
   * A tick under a local fault: withdraw and release everything, and leave the registry. Every tick
   * while the fault lasts: a heartbeat of a tick that was running when the fault came can land
   * after the first removal and keep this node preferred for a whole heartbeat TTL.
   */
  private async leaveForFault(): Promise<void> {
    await Promise.allSettled([...this.owned].map(([vip, o]) => this.giveUp(vip, o, 'local-fault')));
    try {
      await this.opts.store.removeSpeaker(this.node);
    } catch (err) {
      this.log.debug({ event: 'deregister-failed', err }, 'could not remove the speaker registration');
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.heartbeatInFlight) return;
    this.heartbeatInFlight = true;
    try {
      await this.opts.store.heartbeat(this.opts.self, this.heartbeatTtlMs);
    } catch (err) {
      this.log.debug({ event: 'heartbeat-failed', err }, 'could not renew the speaker registration');
    } finally {
      this.heartbeatInFlight = false;
    }
  }

  private async refreshView(): Promise<void> {
    if (this.viewInFlight) return;
    this.viewInFlight = true;
    const sent = this.now();
    try {
      const [incarnation, speakers, states] = await Promise.all([
        this.opts.store.incarnation(),
        this.opts.store.listSpeakers(),
        this.opts.store.nodeStates(),
      ]);
      if (this.viewFailing) {
        // Registrations lapsed while the store was away; wait for every speaker to heartbeat again
        // before choosing, or this node would grab VIPs whose holders are about to take them back.
        this.viewFailing = false;
        this.settleUntil = Math.max(this.settleUntil, this.now() + this.settleMs);
      }
      // Leases and registrations may be gone while their holders live.
      this.noteIncarnation(incarnation, sent);
      if (this.now() - sent > this.stallMs) {
        // An answer this slow comes from a store that stalled (frozen, failing over) long enough
        // for leases to lapse under live holders, whose renewals are only now being served.
        this.settleUntil = Math.max(this.settleUntil, this.now() + this.settleMs);
        this.log.info(
          { event: 'store-stalled', ms: Math.round(this.now() - sent) },
          'the store answered late; taking nothing new until every holder renewed',
        );
      }
      // The view is as old as the request, not the answer: a request queued during a freeze says
      // nothing about what live holders have done since.
      this.viewAt = sent;
      this.setView(speakers, states);
    } catch (err) {
      // Keep the last view: without the store nothing can be acquired anyway.
      if (!this.viewFailing) this.log.debug({ event: 'view-failed', err }, 'could not read live speakers');
      this.viewFailing = true;
    } finally {
      this.viewInFlight = false;
    }
  }

  /**
   * Record the incarnation a request sent at `sentAt` found. A change is a discontinuity: the store
   * lost its memory, so every live holder gets a full TTL to take its own back before this node
   * takes anything new. An answer to a request older than the one recorded is ignored (a view read
   * answered by the old store can arrive after an acquire answered by the new one).
   */
  private noteIncarnation(incarnation: string, sentAt: number): void {
    if (sentAt < this.incarnationSentAt) return;
    this.incarnationSentAt = sentAt;
    const from = this.incarnation;
    this.incarnation = incarnation;
    if (from === null || from === incarnation) return;
    const waitMs = Math.max(this.settleMs, this.leases.timing.ttlMs);
    this.settleUntil = Math.max(this.settleUntil, this.now() + waitMs);
    this.doubtUntil = this.now() + waitMs + DOUBT_MS;
    this.probeAgainAt.clear();
    this.discontinuities++;
    this.log.warn(
      { event: 'store-discontinuity', from, to: incarnation, settleMs: waitMs },
      'the store lost its memory (restart, failover or wipe); taking nothing new until every holder renewed',
    );
  }

  /** Acquire `vip` from the incarnation of the store this node decided on, and note one that changed. */
  private async acquire(vip: string): Promise<AcquireOutcome> {
    const incarnation = this.incarnation;
    if (incarnation === null)
      return { kind: 'unreachable', err: new Error('the store has not been read yet') };
    const sent = this.now();
    const out = await this.leases.acquire(vip, incarnation);
    if (out.kind === 'other-store') this.noteIncarnation(out.incarnation, sent);
    return out;
  }

  private setView(
    speakers: readonly { node: string }[],
    states: ReadonlyMap<string, NodeState> | null,
  ): void {
    // This node counts as live while it runs, whether or not its own heartbeat has landed yet.
    const all = speakers.some((s) => s.node === this.node) ? speakers : [...speakers, { node: this.node }];
    const now = this.now();
    for (const [n, until] of [...this.lapsed]) if (until <= now) this.lapsed.delete(n);
    const eligible = eligibleNodes(all, states).filter((n) => !this.lapsed.has(n));
    for (const n of [...this.firstSeen.keys()]) if (!eligible.includes(n)) this.firstSeen.delete(n);
    for (const n of eligible) if (!this.firstSeen.has(n)) this.firstSeen.set(n, now);
    this.view = { eligible, selfEligible: eligible.includes(this.node) };
  }

  /** Whether a VIP is taken only once nobody answers for it (the store recently lost its memory). */
  private doubting(): boolean {
    return typeof this.opts.otherAnswers === 'function' && this.now() < this.doubtUntil;
  }

  /**
   * Take `vip` only if no other host answers for it: after the store lost its memory, a free lease
   * may belong to a holder that has not reached the store again yet and still answers. The lease is
   * read first, so only a free one costs a probe; a VIP found answered is probed again a TTL later.
   * A probe that fails proves nothing, so it does not take either. At most `MAX_TAKE_PROBES` at
   * once; the rest wait for a later tick.
   */
  private async takeIfUnanswered(vip: string): Promise<void> {
    const probe = this.opts.otherAnswers;
    const now = this.now();
    if (!probe || this.probing.has(vip) || this.probing.size >= MAX_TAKE_PROBES) return;
    if (now < (this.probeAgainAt.get(vip) ?? now)) return;
    this.probing.add(vip);
    try {
      if ((await this.opts.store.readLeases([vip])).length > 0) return; // held: nothing to take
      const answered = await probe(vip).catch(() => null);
      if (answered === false) await this.take(vip);
      else this.leaveToOther(vip, answered);
    } catch {
      // The store did not answer: the next tick tries again.
    } finally {
      this.probing.delete(vip);
    }
  }

  /** Leave a free VIP another host answers for (`true`) or that could not be probed (`null`). */
  private leaveToOther(vip: string, answered: true | null): void {
    const logged = this.probeAgainAt.has(vip);
    this.probeAgainAt.set(vip, this.now() + this.leases.timing.ttlMs);
    if (logged) return;
    this.log.info(
      { event: 'vip-answered-elsewhere', vip, probe: answered === null ? 'failed' : 'answered' },
      answered === null
        ? 'could not probe a free VIP after the store lost its memory; not taking it yet'
        : 'another host answers for a free VIP after the store lost its memory; leaving it to its holder',
    );
  }

  private async take(vip: string): Promise<void> {
    const out = await this.acquire(vip);
    const o = this.owned.get(vip);
    switch (out.kind) {
      case 'gained':
        this.gain(vip, out.epoch);
        return;
      case 'held':
        // Held under this node's name but another token: a request whose reply was lost. It runs
        // out within one TTL and is taken again; dropping the VIP meanwhile would black-hole it.
        if (out.holder === this.node) return;
        if (o) void this.drop(vip, o.epoch, 'taken');
        return;
      default:
        return; // busy, late, unreachable, other store: try again next tick
    }
  }

  private gain(vip: string, epoch: number): void {
    this.owned.set(vip, { state: 'owned', epoch });
    this.suspendedAt.delete(vip);
    this.log.info({ event: 'vip-gained', vip, epoch }, 'this node owns the VIP');
    this.emit('gained', { vip, epoch });
  }

  /** Withdraw `vip`, then release its lease: never the other way round. */
  private async giveUp(vip: string, o: { epoch: number }, reason: OwnershipLossReason): Promise<void> {
    await this.drop(vip, o.epoch, reason);
    await this.leases.release(vip);
  }

  /** Forget `vip` and report it lost; resolves when the handler has withdrawn it. */
  private async drop(vip: string, epoch: number, reason: OwnershipLossReason): Promise<void> {
    if (!this.owned.delete(vip)) return;
    this.suspendedAt.delete(vip);
    this.log.info({ event: 'vip-lost', vip, epoch, reason }, 'this node no longer owns the VIP');
    try {
      await this.opts.handlers.lost({ vip, epoch, reason });
    } catch (err) {
      this.log.error({ event: 'ownership-handler-failed', vip, err }, 'an ownership handler threw');
    }
  }

  private onLeaseLost(loss: LeaseLoss): void {
    const o = this.owned.get(loss.vip);
    if (loss.reason === 'released' || !o || o.state !== 'owned') return;
    if (loss.reason === 'refused' && loss.holder) {
      void this.drop(loss.vip, loss.epoch, 'taken');
      return;
    }
    if (this.retainMs <= 0) {
      void this.drop(loss.vip, loss.epoch, 'expired');
      return;
    }
    o.state = 'suspended';
    this.suspendedAt.set(loss.vip, this.now());
    this.log.warn(
      { event: 'vip-suspended', vip: loss.vip, epoch: loss.epoch, reason: loss.reason },
      'VIP lease lapsed without an answer from the store; keeping the address, no gratuitous ARP',
    );
    this.emit('suspended', { vip: loss.vip, epoch: loss.epoch });
  }

  private emit(kind: 'gained' | 'suspended', change: OwnershipChange): void {
    try {
      this.opts.handlers[kind](change);
    } catch (err) {
      this.log.error(
        { event: 'ownership-handler-failed', vip: change.vip, err },
        'an ownership handler threw',
      );
    }
  }
}
