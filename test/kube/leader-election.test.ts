/**
 * Leader election with two candidates on a real coordination.k8s.io/v1 Lease (fake API server, real
 * client), with short timings. Every transition and a 2 ms sampler check that two leaders never
 * coexist.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  checkLeaderElectionTiming,
  LeaderElector,
  type LeaseRead,
  type LeaseRecord,
  type LeaseStore,
  type LeaseWrite,
} from '../../controller/loop/leader-election.ts';
import { loadKubeConfig, makeKubeClients } from '../../controller/sources/kube/client.ts';
import { KubeLeaseStore } from '../../controller/sources/kube/lease.ts';
import { UserError } from '../../shared/errors.ts';
import { silentLogger } from '../../shared/log.ts';
import { FakeApiServer } from '../fake-apiserver/fake-apiserver.ts';
import { Recorder } from './recorder.ts';

// Scaled 3x from 1000/600/100 so that a scheduling stall of several hundred ms (the fake API server
// runs in this process) does not make a healthy leader miss its renew deadline. The Lease records
// whole seconds, so the lease duration stays a multiple of 1000.
const TIMING = { leaseDurationMs: 3000, renewDeadlineMs: 1800, retryPeriodMs: 300 };
/** Per-request timeout of the Lease client, scaled with TIMING (below the renew deadline). */
const REQUEST_TIMEOUT_MS = 1500;
/** Bound on waits that span a lease expiry or a renew deadline. */
const WAIT_MS = 15_000;

/** A LeaseStore decorator that records every write attempt and its outcome. */
class RecordingStore implements LeaseStore {
  readonly description: string;
  readonly #inner: LeaseStore;
  readonly #id: string;
  readonly writes: Recorder<{ id: string; ok: boolean; conflict: boolean }>;

  constructor(
    inner: LeaseStore,
    id: string,
    writes: Recorder<{ id: string; ok: boolean; conflict: boolean }>,
  ) {
    this.#inner = inner;
    this.#id = id;
    this.writes = writes;
    this.description = inner.description;
  }
  read(): Promise<LeaseRead> {
    return this.#inner.read();
  }
  async create(r: LeaseRecord): Promise<LeaseWrite> {
    return this.#note(await this.#inner.create(r));
  }
  async update(r: LeaseRecord, v: string): Promise<LeaseWrite> {
    return this.#note(await this.#inner.update(r, v));
  }
  #note(w: LeaseWrite): LeaseWrite {
    this.writes.push({ id: this.#id, ok: w.ok, conflict: !w.ok && w.conflict });
    return w;
  }
}

describe('leader election', { timeout: 60_000 }, () => {
  let server: FakeApiServer;
  let dir: string;
  let kubeconfig: string;
  let electors: LeaderElector[] = [];
  let sampler: NodeJS.Timeout | undefined;

  before(async () => {
    server = await FakeApiServer.start();
    dir = await mkdtemp(join(tmpdir(), 'switchyard-leader-'));
    kubeconfig = await server.writeKubeconfig(join(dir, 'kubeconfig'));
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    clearInterval(sampler);
    await Promise.all(electors.map((e) => e.stop()));
    electors = [];
  });

  /** Two candidates `a` and `b` on Lease `name`, each with its own client, with overlap checks. */
  function pair(name: string, opts: { releaseOnStop?: boolean } = {}) {
    const transitions = new Recorder<{ id: string; leading: boolean; at: number }>();
    const writes = new Recorder<{ id: string; ok: boolean; conflict: boolean }>();
    const seen = new Recorder<string>();
    const overlaps: string[] = [];
    const make = (id: string) => {
      const clients = makeKubeClients(loadKubeConfig(kubeconfig));
      const store = new KubeLeaseStore({
        coordination: clients.coordination,
        namespace: 'kube-system',
        name,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
      });
      const e: LeaderElector = new LeaderElector({
        ...TIMING,
        identity: id,
        store: new RecordingStore(store, id, writes),
        logger: silentLogger(),
        releaseOnStop: opts.releaseOnStop ?? false,
        onStartedLeading: () => {
          if (electors.some((o) => o !== e && o.isLeader)) overlaps.push(`${id} started while another led`);
          transitions.push({ id, leading: true, at: Date.now() });
        },
        onStoppedLeading: () => transitions.push({ id, leading: false, at: Date.now() }),
        onNewLeader: (holder) => seen.push(`${id} sees ${holder}`),
      });
      electors.push(e);
      return e;
    };
    const a = make('a');
    const b = make('b');
    sampler = setInterval(() => {
      if (a.isLeader && b.isLeader) overlaps.push(`both leading at ${Date.now()}`);
    }, 2);
    const lease = () =>
      server.read('leases.coordination.k8s.io', 'kube-system', name)?.spec as LeaseRecordWire | undefined;
    return { a, b, transitions, writes, seen, overlaps, lease };
  }

  interface LeaseRecordWire {
    holderIdentity: string;
    leaseTransitions: number;
    renewTime: string;
  }

  it('elects exactly one of two candidates, which renews while the other only watches', async () => {
    const { a, b, transitions, writes, overlaps, lease } = pair('one-leader');
    a.start();
    b.start();
    await transitions.until((t) => t.length === 1, 'a leader');
    const leader = transitions.events[0]!.id;
    const follower = leader === 'a' ? b : a;
    await writes.until((w) => w.filter((x) => x.id === leader && x.ok).length >= 6, 'five renewals', WAIT_MS);
    const followerWrites = writes.events.filter((x) => x.id !== leader);
    // At most the create that lost the initial race; after that the follower only reads.
    assert.ok(followerWrites.length <= 1, `follower wrote ${followerWrites.length} times`);
    assert.ok(
      followerWrites.every((x) => x.conflict),
      'a losing write is a conflict, never a success',
    );
    assert.equal(transitions.events.length, 1, 'no change of leader');
    assert.equal(lease()?.holderIdentity, leader);
    assert.equal(lease()?.leaseTransitions, 0);
    assert.equal(follower.isLeader, false);
    assert.equal(follower.observedLeader, leader);
    assert.deepEqual(overlaps, []);
  });

  it('hands over only after the lease expired when the leader stops without releasing', async () => {
    const { a, b, transitions, seen, overlaps, lease } = pair('expiry');
    a.start();
    await transitions.until((t) => t.length === 1, 'a to lead');
    b.start();
    // b has seen a's lease, so its expiry clock runs from a renewal, not from a's stop.
    await seen.until((s) => s.includes('b sees a'), 'b to see the lease');
    await a.stop();
    const lastRenew = Date.parse(lease()!.renewTime);
    await transitions.until((t) => t.some((x) => x.id === 'b' && x.leading), 'b to take over', WAIT_MS);
    const takeover = transitions.events.find((x) => x.id === 'b' && x.leading)!.at;
    assert.ok(
      takeover - lastRenew >= TIMING.leaseDurationMs,
      `took over ${takeover - lastRenew} ms after the last renewal, before the lease expired`,
    );
    assert.equal(lease()?.holderIdentity, 'b');
    assert.equal(lease()?.leaseTransitions, 1);
    assert.deepEqual(overlaps, []);
  });

  it('hands over at once when the leader releases the lease on stop', async () => {
    const { a, b, transitions, overlaps, lease } = pair('release', { releaseOnStop: true });
    a.start();
    await transitions.until((t) => t.length === 1, 'a to lead');
    b.start();
    const stoppedAt = Date.now();
    await a.stop();
    await transitions.until((t) => t.some((x) => x.id === 'b' && x.leading), 'b to take over', WAIT_MS);
    const takeover = transitions.events.find((x) => x.id === 'b' && x.leading)!.at;
    assert.ok(takeover - stoppedAt < TIMING.leaseDurationMs, 'no wait for expiry after a release');
    assert.deepEqual(
      transitions.events.map((x) => `${x.id} ${x.leading}`),
      ['a true', 'a false', 'b true'],
    );
    assert.equal(lease()?.holderIdentity, 'b');
    assert.deepEqual(overlaps, []);
  });

  it('steps down when it cannot renew before its deadline, before the lease could expire', async () => {
    const { a, b, transitions, overlaps, lease } = pair('deadline');
    a.start();
    b.start();
    await transitions.until((t) => t.length === 1, 'a leader');
    const leader = transitions.events[0]!.id;
    await server.setUnavailable('503');
    let lastRenew: number;
    try {
      lastRenew = Date.parse(lease()!.renewTime);
      await transitions.until((t) => t.length === 2, 'the leader to step down', WAIT_MS);
    } finally {
      await server.setAvailable();
    }
    const down = transitions.events[1]!;
    assert.equal(down.id, leader);
    assert.equal(down.leading, false);
    assert.ok(
      down.at < lastRenew + TIMING.leaseDurationMs,
      `stepped down ${down.at - lastRenew} ms after the last renewal: the lease could already be taken`,
    );
    await transitions.until((t) => t.length === 3, 'a leader again after the outage', WAIT_MS);
    assert.deepEqual(overlaps, []);
  });
});

describe('leader election logic', () => {
  it('refuses timings that could allow two leaders, naming the field', () => {
    assert.deepEqual(
      checkLeaderElectionTiming({
        leaseDurationMs: 10_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 2000,
      }).map((p) => p.field),
      ['leaseDuration'],
    );
    assert.deepEqual(
      checkLeaderElectionTiming({ leaseDurationMs: 15_000, renewDeadlineMs: 2000, retryPeriodMs: 2000 }).map(
        (p) => p.field,
      ),
      ['renewDeadline'],
    );
    assert.deepEqual(
      checkLeaderElectionTiming({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000 }),
      [],
    );
    assert.throws(
      () =>
        new LeaderElector({
          identity: 'x',
          store: new MemoryLeaseStore(),
          logger: silentLogger(),
          leaseDurationMs: 1000,
          renewDeadlineMs: 2000,
          onStartedLeading: () => {},
          onStoppedLeading: () => {},
        }),
      UserError,
    );
  });

  it('treats a 409 on a racing create as a lost race: of two candidates that both saw no lease, one leads', async () => {
    const store = new MemoryLeaseStore();
    // Both reads return "no lease" before either write lands.
    store.holdReads(2);
    const leading = new Recorder<string>();
    const make = (id: string) =>
      new LeaderElector({
        ...TIMING,
        identity: id,
        store,
        logger: silentLogger(),
        onStartedLeading: () => leading.push(id),
        onStoppedLeading: () => {},
      });
    const a = make('a');
    const b = make('b');
    try {
      a.start();
      b.start();
      await leading.until((l) => l.length === 1, 'a leader');
      await store.writesSettled(2);
      assert.deepEqual(store.outcomes.slice(0, 2).sort(), ['conflict', 'ok']);
      assert.equal([a, b].filter((e) => e.isLeader).length, 1);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('measures the lease on the monotonic clock: a wall-clock step neither expires a live lease nor keeps a dead one', async (t) => {
    // Date is stepped by the test; setTimeout and performance.now run on.
    t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2025-06-01T12:00:00Z') });
    const store = new MemoryLeaseStore();
    const at = new Date();
    await store.create({
      holderIdentity: 'other',
      leaseDurationSeconds: 3,
      acquireTime: at,
      renewTime: at,
      leaseTransitions: 4,
    });
    const leading = new Recorder<number>();
    const seen = new Recorder<string>();
    const b = new LeaderElector({
      leaseDurationMs: 3000,
      renewDeadlineMs: 1800,
      retryPeriodMs: 100,
      identity: 'b',
      store,
      logger: silentLogger(),
      onStartedLeading: (_signal, term) => leading.push(term),
      onStoppedLeading: () => {},
      onNewLeader: (holder) => seen.push(holder),
    });
    try {
      b.start();
      await seen.until((s) => s.includes('other'), 'b to see the lease');
      const observedAt = performance.now();
      // An hour forward: had the wall clock measured the lease, it would look long expired.
      t.mock.timers.setTime(Date.now() + 3_600_000);
      const reads = store.reads.events.length;
      await store.reads.until((r) => r.length >= reads + 2, 'two more reads');
      const elapsed = performance.now() - observedAt;
      assert.ok(elapsed < 3000, `the machine stalled for ${Math.round(elapsed)} ms; the check needs less`);
      assert.equal(b.isLeader, false, 'a live lease was not taken after a forward step');
      // Two hours back: had the wall clock measured it, the lease would now last two more hours.
      t.mock.timers.setTime(Date.now() - 7_200_000);
      await leading.until((l) => l.length === 1, 'b to take over once 3 s have passed', 10_000);
      const tookOver = performance.now() - observedAt;
      assert.ok(tookOver >= 3000, `took over after ${Math.round(tookOver)} ms`);
      assert.deepEqual(leading.events, [5], 'the takeover is term 5');
      const lease = store.current();
      assert.equal(lease?.holderIdentity, 'b');
      assert.equal(lease?.renewTime?.getTime(), Date.now(), 'renewTime is the (stepped) wall clock');
    } finally {
      await b.stop();
    }
  });

  it('takes over once the lease duration passed on the injected monotonic clock, writing wall-clock times', async () => {
    let mono = 1_000;
    let wall = Date.parse('2030-01-01T00:00:00Z');
    const store = new MemoryLeaseStore();
    await store.create({
      holderIdentity: 'other',
      leaseDurationSeconds: 60,
      acquireTime: new Date(wall),
      renewTime: new Date(wall),
      leaseTransitions: 2,
    });
    const leading = new Recorder<number>();
    const seen = new Recorder<string>();
    const b = new LeaderElector({
      leaseDurationMs: 60_000,
      renewDeadlineMs: 40_000,
      retryPeriodMs: 20,
      identity: 'b',
      store,
      logger: silentLogger(),
      now: () => mono,
      wallClock: () => wall,
      onStartedLeading: (_signal, term) => leading.push(term),
      onStoppedLeading: () => {},
      onNewLeader: (holder) => seen.push(holder),
    });
    try {
      b.start();
      await seen.until((s) => s.includes('other'), 'b to see the lease');
      mono += 59_000;
      wall -= 86_400_000;
      const reads = store.reads.events.length;
      await store.reads.until((r) => r.length >= reads + 3, 'three more reads');
      assert.equal(b.isLeader, false, '59 s of 60 have passed');
      mono += 2_000;
      await leading.until((l) => l.length === 1, 'b to take over');
      assert.deepEqual(leading.events, [3]);
      const lease = store.current();
      assert.equal(lease?.acquireTime?.getTime(), wall);
      assert.equal(lease?.renewTime?.getTime(), wall);
      assert.equal(lease?.leaseTransitions, 3);
    } finally {
      await b.stop();
    }
  });

  it('starts every leadership with a new term, at least minTerm(), even when the Lease still names it', async () => {
    const store = new MemoryLeaseStore();
    const terms = new Recorder<number>();
    const b = new LeaderElector({
      ...TIMING,
      retryPeriodMs: 50,
      identity: 'b',
      store,
      logger: silentLogger(),
      minTerm: async () => 7,
      onStartedLeading: (_signal, term) => terms.push(term),
      onStoppedLeading: () => {},
    });
    try {
      b.start();
      await terms.until((t) => t.length === 1, 'b to lead');
      assert.equal(store.current()?.leaseTransitions, 7, 'a new Lease starts at minTerm()');
      b.abdicate('test');
      await terms.until((t) => t.length === 2, 'b to lead again');
      assert.deepEqual(terms.events, [7, 8]);
      assert.equal(store.current()?.leaseTransitions, 8);
    } finally {
      await b.stop();
    }
  });
});

/** An in-memory LeaseStore with resourceVersions, able to hold reads back to force a race. */
class MemoryLeaseStore implements LeaseStore {
  readonly description = 'memory/lease';
  readonly outcomes: string[] = [];
  #lease: { record: LeaseRecord; version: string } | null = null;
  #version = 0;
  #held: (() => void)[] = [];
  #holding = 0;
  readonly #settled = new Recorder<string>();
  /** One entry per read answered. */
  readonly reads = new Recorder<number>();

  /** The Lease as stored, or null. */
  current(): LeaseRecord | null {
    return this.#lease?.record ?? null;
  }

  holdReads(n: number): void {
    this.#holding = n;
  }

  writesSettled(n: number): Promise<void> {
    return this.#settled.until((w) => w.length >= n, `${n} writes`);
  }

  async read(): Promise<LeaseRead> {
    const snapshot = this.#lease;
    if (this.#holding > 0) {
      await new Promise<void>((resolve) => {
        this.#held.push(resolve);
        if (this.#held.length === this.#holding) {
          this.#holding = 0;
          for (const r of this.#held.splice(0)) r();
        }
      });
    }
    this.reads.push(this.reads.events.length);
    return { ok: true, lease: snapshot };
  }

  async create(record: LeaseRecord): Promise<LeaseWrite> {
    if (this.#lease) return this.#note({ ok: false, conflict: true, message: 'AlreadyExists' });
    this.#lease = { record, version: String(++this.#version) };
    return this.#note({ ok: true, version: this.#lease.version });
  }

  async update(record: LeaseRecord, version: string): Promise<LeaseWrite> {
    if (!this.#lease || this.#lease.version !== version)
      return this.#note({ ok: false, conflict: true, message: 'Conflict' });
    this.#lease = { record, version: String(++this.#version) };
    return this.#note({ ok: true, version: this.#lease.version });
  }

  #note(w: LeaseWrite): LeaseWrite {
    const outcome = w.ok ? 'ok' : 'conflict';
    this.outcomes.push(outcome);
    this.#settled.push(outcome);
    return w;
  }
}
