import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryBackend } from '../../shared/store/memory-backend.ts';
import { MemoryStore } from '../../shared/store/memory-store.ts';
import type { LeaseGrant, LeaseRequest } from '../../shared/store/store.ts';
import {
  type OwnershipChange,
  type OwnershipLoss,
  VipOwnershipLoop,
} from '../../speaker/ownership/ownership-loop.ts';
import { assignOwners } from '../../speaker/ownership/rendezvous.ts';
import { eventually } from './await-events.ts';

// Scaled 3x from 300/75/30 so that a scheduling stall of a few hundred ms on a loaded machine is
// survived without a lapse: a renew and a heartbeat are due every 225 ms, and the fence closes 810 ms
// after the last renew was sent.
const TIMING = { ttlMs: 900, renewMs: 225, marginMs: 90 };
/** The handover delay, equal to the TTL as before. */
const HANDOVER_DELAY_MS = 900;
/**
 * Settle wait: two renew intervals, so every speaker started together (or recovering together) has
 * heartbeated before anyone acquires; shorter than the TTL default to keep the file quick.
 */
const SETTLE_MS = 2 * TIMING.renewMs;
/** Bound on every wait for the cluster to reach a state. */
const WAIT_MS = 15_000;
const VIPS = Array.from({ length: 30 }, (_, i) => `198.18.1.${i + 1}`);

type Event =
  | { kind: 'gained' | 'suspended'; node: string; change: OwnershipChange }
  | { kind: 'lost'; node: string; change: OwnershipLoss };

/** Speakers on one in-process store, with every ownership event recorded and the fence sampled. */
class Cluster {
  readonly backend = new MemoryBackend();
  readonly loops = new Map<string, VipOwnershipLoop>();
  readonly events: Event[] = [];
  /** Moments when two nodes could announce one VIP at once; must stay empty. */
  readonly doubleAnnounce: string[] = [];
  private readonly sampler: NodeJS.Timeout;
  private samples = 0;

  constructor() {
    // Bounded: stops by itself after 6,000 samples (30 s, longer than any one test) if a test forgets to.
    this.sampler = setInterval(() => {
      if (++this.samples > 6000) clearInterval(this.sampler);
      for (const vip of VIPS) {
        const announcing = [...this.loops].filter(([, l]) => l.canAnnounce(vip)).map(([n]) => n);
        if (announcing.length > 1) this.doubleAnnounce.push(`${vip}: ${announcing.join(',')}`);
      }
    }, 5);
  }

  start(
    node: string,
    opts: {
      retainOnStoreLossMs?: number;
      store?: MemoryStore;
      otherAnswers?: (vip: string) => Promise<boolean | null>;
    } = {},
  ): VipOwnershipLoop {
    const { store = new MemoryStore({ backend: this.backend }), ...rest } = opts;
    const loop = new VipOwnershipLoop({
      store,
      self: { node, address: '127.0.0.1', startedAt: new Date().toISOString(), version: 'test' },
      timing: TIMING,
      handoverDelayMs: HANDOVER_DELAY_MS,
      settleMs: SETTLE_MS,
      ...rest,
      handlers: {
        gained: (change) => {
          this.events.push({ kind: 'gained', node, change });
        },
        suspended: (change) => {
          this.events.push({ kind: 'suspended', node, change });
        },
        lost: (change) => {
          this.events.push({ kind: 'lost', node, change });
        },
      },
    });
    loop.setVips(VIPS);
    loop.start();
    this.loops.set(node, loop);
    return loop;
  }

  async stop(node: string, release = true): Promise<void> {
    await this.loops.get(node)?.stop({ release });
    this.loops.delete(node);
  }

  /** VIP → nodes that hold it as `owned`. */
  owners(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [node, loop] of this.loops) {
      for (const o of loop.snapshot())
        if (o.state === 'owned') out.set(o.vip, [...(out.get(o.vip) ?? []), node]);
    }
    return out;
  }

  /** Resolves when every VIP is owned by exactly its rendezvous owner among `nodes`. */
  converged(nodes: string[], timeoutMs = WAIT_MS): Promise<true> {
    const want = assignOwners(VIPS, nodes);
    return eventually(
      () => {
        const have = this.owners();
        return VIPS.every((v) => have.get(v)?.length === 1 && have.get(v)![0] === want.get(v)) || undefined;
      },
      timeoutMs,
      `ownership to converge on ${nodes.join(',')}`,
    );
  }

  count(kind: Event['kind'], node?: string, reason?: string): number {
    return this.events.filter(
      (e) =>
        e.kind === kind &&
        (node === undefined || e.node === node) &&
        (reason === undefined || (e.kind === 'lost' && e.change.reason === reason)),
    ).length;
  }

  async close(): Promise<void> {
    clearInterval(this.sampler);
    await Promise.all([...this.loops.keys()].map((n) => this.stop(n)));
  }
}

/** A memory store whose acquires wait until `open()`, as requests queued while Redis restarts do. */
class GatedAcquires extends MemoryStore {
  private readonly waiting: (() => void)[] = [];
  private opened = false;

  override async acquireLease(req: LeaseRequest): Promise<LeaseGrant> {
    if (!this.opened) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return super.acquireLease(req);
  }

  /** Acquires waiting at the gate. */
  get queued(): number {
    return this.waiting.length;
  }

  open(): void {
    this.opened = true;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

describe('VipOwnershipLoop', { timeout: 60_000 }, () => {
  let cluster: Cluster;
  afterEach(() => cluster?.close());

  it('converges on the rendezvous owners from a cold start without moving anything twice', async () => {
    cluster = new Cluster();
    for (const n of ['a', 'b', 'c']) cluster.start(n);
    await cluster.converged(['a', 'b', 'c']);
    assert.equal(cluster.count('gained'), VIPS.length, 'one gain per VIP');
    assert.equal(cluster.count('lost'), 0, 'no churn while settling');
    const leases = await new MemoryStore({ backend: cluster.backend }).readLeases(VIPS);
    assert.equal(leases.length, VIPS.length);
    for (const l of leases) assert.deepEqual(cluster.owners().get(l.vip), [l.holder]);
    assert.deepEqual(cluster.doubleAnnounce, []);
  });

  it('moves a crashed node’s VIPs to the survivors with higher epochs, and nothing else', async () => {
    cluster = new Cluster();
    for (const n of ['a', 'b', 'c']) cluster.start(n);
    await cluster.converged(['a', 'b', 'c']);
    const before = new Map(
      [...cluster.loops].flatMap(([n, l]) =>
        l.snapshot().map((o) => [o.vip, { node: n, epoch: o.epoch }] as const),
      ),
    );
    await cluster.stop('c', false); // a crash: nothing released, leases and heartbeat run out
    await cluster.converged(['a', 'b']);
    const after = new Map(
      [...cluster.loops].flatMap(([, l]) => l.snapshot().map((o) => [o.vip, o.epoch] as const)),
    );
    for (const [vip, was] of before) {
      if (was.node === 'c')
        assert.ok(after.get(vip)! > was.epoch, `${vip} epoch ${after.get(vip)} > ${was.epoch}`);
      else assert.equal(after.get(vip), was.epoch, `${vip} did not move`);
    }
    assert.equal(cluster.count('lost', 'a') + cluster.count('lost', 'b'), 0);
    assert.deepEqual(cluster.doubleAnnounce, []);
  });

  it('hands VIPs back to a node that returns, once it has been live for the handover delay', async () => {
    cluster = new Cluster();
    for (const n of ['a', 'b']) cluster.start(n);
    await cluster.converged(['a', 'b']);
    cluster.start('c');
    await cluster.converged(['a', 'b', 'c']);
    const movedToC = [...assignOwners(VIPS, ['a', 'b', 'c'])].filter(([, o]) => o === 'c').length;
    assert.ok(movedToC > 0);
    assert.equal(
      cluster.count('lost', undefined, 'handover'),
      movedToC,
      'a and b handed over exactly c’s share',
    );
    assert.equal(cluster.count('lost', undefined, 'taken'), 0, 'nothing was taken from a live holder');
    assert.deepEqual(cluster.doubleAnnounce, []);
  });

  it('keeps VIPs suspended (no announcing, nobody else gains) while the store is away, then takes them back', async () => {
    cluster = new Cluster();
    for (const n of ['a', 'b']) cluster.start(n);
    await cluster.converged(['a', 'b']);
    const owners = cluster.owners();
    const gainedBefore = cluster.count('gained');
    cluster.backend.setAvailable(false);
    await eventually(() => cluster.count('suspended') === VIPS.length, WAIT_MS, 'every VIP to be suspended');
    for (const vip of VIPS) for (const l of cluster.loops.values()) assert.equal(l.canAnnounce(vip), false);
    assert.equal(cluster.count('gained'), gainedBefore, 'nobody gained anything without the store');
    cluster.backend.setAvailable(true);
    await cluster.converged(['a', 'b']);
    assert.deepEqual(cluster.owners(), owners, 'the same nodes own the same VIPs');
    assert.equal(cluster.count('lost'), 0, 'no VIP was reported lost at any point');
    assert.equal(
      cluster.count('gained'),
      gainedBefore + VIPS.length,
      'each VIP was re-gained under a new epoch',
    );
    assert.deepEqual(cluster.doubleAnnounce, []);
  });

  it('reports VIPs lost (expired) instead of suspended when retainOnStoreLossMs is 0', async () => {
    cluster = new Cluster();
    cluster.start('a', { retainOnStoreLossMs: 0 });
    await cluster.converged(['a']);
    cluster.backend.setAvailable(false);
    await eventually(
      () => cluster.count('lost', 'a', 'expired') === VIPS.length,
      WAIT_MS,
      'every VIP to expire',
    );
    assert.equal(cluster.count('suspended'), 0);
    cluster.backend.setAvailable(true);
    await cluster.converged(['a']);
  });

  it('keeps VIPs suspended for retainOnStoreLossMs, then reports them lost (expired)', async () => {
    cluster = new Cluster();
    cluster.start('a', { retainOnStoreLossMs: 1500 });
    await cluster.converged(['a']);
    cluster.backend.setAvailable(false);
    await eventually(() => cluster.count('suspended', 'a') === VIPS.length, WAIT_MS, 'every VIP suspended');
    assert.equal(cluster.count('lost', 'a', 'expired'), 0, 'kept while within the bound');
    await eventually(
      () => cluster.count('lost', 'a', 'expired') === VIPS.length,
      WAIT_MS,
      'every VIP to expire after the bound',
    );
    cluster.backend.setAvailable(true);
    await cluster.converged(['a']);
  });

  it('gives up every VIP when its node stops being eligible, and the others take them', async () => {
    cluster = new Cluster();
    for (const n of ['a', 'b']) cluster.start(n);
    await cluster.converged(['a', 'b']);
    await new MemoryStore({ backend: cluster.backend }).publishNodeStates([
      { node: 'a', ready: true, excludeFromExternalLB: false },
      { node: 'b', ready: true, excludeFromExternalLB: true },
    ]);
    await cluster.converged(['a']);
    assert.ok(cluster.count('lost', 'b', 'not-eligible') > 0);
    assert.deepEqual(cluster.doubleAnnounce, []);
  });

  it('releases a VIP that left the table', async () => {
    cluster = new Cluster();
    const loop = cluster.start('a');
    await cluster.converged(['a']);
    loop.setVips(VIPS.slice(1));
    await eventually(() => cluster.count('lost', 'a', 'removed') === 1, WAIT_MS, 'the removal');
    const leases = await new MemoryStore({ backend: cluster.backend }).readLeases([VIPS[0]!]);
    assert.equal(leases.length, 0, 'the lease was released, not left to expire');
  });

  it('gains nothing with acquires decided before the store lost its memory, notes the change once, then takes its VIPs', async () => {
    cluster = new Cluster();
    const store = new GatedAcquires({ backend: cluster.backend });
    const loop = cluster.start('a', { store });
    await eventually(() => store.queued === VIPS.length || undefined, WAIT_MS, 'the acquires to be sent');
    // The restart lands while they wait; then they reach a store that remembers nobody.
    cluster.backend.wipe();
    store.open();
    // Unfenced, they would be granted at once. Fenced, they are refused, and the loop waits a TTL.
    await sleep(TIMING.ttlMs / 2);
    assert.equal(cluster.count('gained'), 0, 'no acquire decided on the old store was granted');
    await cluster.converged(['a']);
    assert.equal(loop.discontinuities, 1, 'the refusals and the view read count one change');
  });

  it('after the store lost its memory, leaves a free VIP to the host still answering for it, and takes it once none does', async () => {
    cluster = new Cluster();
    const answering = new Set<string>();
    const probed = new Set<string>();
    cluster.start('a');
    cluster.start('b', {
      otherAnswers: async (vip) => {
        probed.add(vip);
        return answering.has(vip);
      },
    });
    await cluster.converged(['a', 'b']);
    // a is cut off from the store (its loop stops without releasing) but its node still answers for
    // its VIPs on the link; then the store restarts empty, and b finds their leases free.
    const ofA = [...cluster.owners()].filter(([, n]) => n[0] === 'a').map(([vip]) => vip);
    for (const vip of ofA) answering.add(vip);
    const tookFromA = () =>
      cluster.events.filter((e) => e.kind === 'gained' && e.node === 'b' && answering.has(e.change.vip))
        .length;
    await cluster.stop('a', false);
    cluster.backend.wipe();
    await eventually(() => ofA.every((v) => probed.has(v)) || undefined, WAIT_MS, "b to probe a's VIPs");
    await sleep(3 * TIMING.renewMs);
    assert.equal(tookFromA(), 0, 'b took no VIP another host answers for');
    answering.clear();
    await cluster.converged(['b']);
    assert.equal(cluster.loops.get('b')!.discontinuities, 1);
  });
});
