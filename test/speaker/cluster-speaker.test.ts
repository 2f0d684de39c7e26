import assert from 'node:assert/strict';
import { after as afterAll, afterEach, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { silentLogger } from '../../shared/log.ts';
import type { ForwardingTable } from '../../shared/model.ts';
import { MemoryBackend } from '../../shared/store/memory-backend.ts';
import { MemoryStore } from '../../shared/store/memory-store.ts';
import { announcementText } from '../../shared/store/table-announcement.ts';
import type { ConflictProbe } from '../../speaker/announce/address-conflict.ts';
import { type AnnounceMode, type Announcer, PassiveAnnouncer } from '../../speaker/announce/announcer.ts';
import type { VipPort } from '../../speaker/announce/vip-firewall.ts';
import { ClusterSpeaker } from '../../speaker/cluster-speaker.ts';
import { preferredOwner } from '../../speaker/ownership/rendezvous.ts';
import type { Speaker } from '../../speaker/speaker.ts';
import { startTestSpeaker } from '../harness/speaker.ts';
import { eventually } from '../store/await-events.ts';
import {
  type Backend,
  freePort,
  listenerDoc,
  loopbackAddress,
  roundTrip,
  startBackend,
  table,
} from './loopback.ts';
import { RecordingHealth } from './recording-health.ts';

// Short for quick tests, yet a holder's fence (TTL less margin, 1.4 s) outlasts several renewals and
// any scheduling stall of a loaded machine: every member's loop shares this one event loop.
const TIMING = { ttlMs: 1500, renewMs: 250, marginMs: 100 };

/** An announcer that only records, so l2 ordering can be checked on loopback (127/8 binds anyway). */
class RecordingAnnouncer implements Announcer {
  readonly mode: AnnounceMode;
  readonly log: string[];
  readonly vips = new Set<string>();
  constructor(mode: AnnounceMode, log: string[]) {
    this.mode = mode;
    this.log = log;
  }
  async start(): Promise<void> {}
  async addAddress(vip: string, fence: () => number = () => Number.POSITIVE_INFINITY): Promise<boolean> {
    if (fence() <= 0) return false;
    if (!this.vips.has(vip)) this.log.push(`add ${vip}`);
    this.vips.add(vip);
    return true;
  }
  advertise(vip: string, fence: () => number = () => Number.POSITIVE_INFINITY): void {
    if (this.vips.has(vip) && fence() > 0) this.log.push(`advertise ${vip}`);
  }
  async announce(vip: string, fence?: () => number): Promise<void> {
    if (await this.addAddress(vip, fence)) this.advertise(vip, fence);
  }
  async withdraw(vip: string): Promise<void> {
    if (this.vips.delete(vip)) this.log.push(`withdraw ${vip}`);
  }
  keepAlive(): void {}
  announced(): ReadonlySet<string> {
    return this.vips;
  }
  async close(): Promise<void> {
    for (const v of [...this.vips]) await this.withdraw(v);
  }
}

/** One speaker of the in-process cluster, with everything it did in `log`. */
interface Member {
  readonly node: string;
  readonly log: string[];
  readonly speaker: Speaker;
  readonly cluster: ClusterSpeaker;
  readonly registry: Registry;
}

const members: Member[] = [];

async function member(
  backend: MemoryBackend,
  node: string,
  mode: AnnounceMode,
  opts: { probe?: ConflictProbe; passive?: boolean } = {},
): Promise<Member> {
  const log: string[] = [];
  const registry = new Registry();
  const speaker = await startTestSpeaker({
    drainTimeoutMs: 1000,
    registry,
    health: new RecordingHealth(),
  });
  speaker.events.on('applied', () => {
    log.push(`bind ${[...new Set(speaker.bound.listeners.map((l) => l.vip))].sort().join(',')}`);
  });
  const announcer =
    opts.passive && mode !== 'l2' ? new PassiveAnnouncer(mode) : new RecordingAnnouncer(mode, log);
  const allowlist = {
    apply: async (pairs: readonly VipPort[]) => {
      log.push(`allow ${[...new Set(pairs.map((p) => p.vip))].sort().join(',')}`);
    },
    close: async () => {
      log.push('allow-close');
    },
  };
  const cluster = ClusterSpeaker.start({
    store: new MemoryStore({ backend }),
    speaker,
    announcer,
    allowlist: mode === 'l2' ? allowlist : null,
    conflictProbe: opts.probe ?? null,
    self: { node, address: '127.0.0.1', startedAt: new Date().toISOString(), version: 'test' },
    timing: TIMING,
    settleMs: 500,
    handoverDelayMs: 1500,
    registry,
    logger: silentLogger(),
  });
  const m = { node, log, speaker, cluster, registry };
  members.push(m);
  return m;
}

async function stopMember(m: Member): Promise<void> {
  const i = members.indexOf(m);
  if (i < 0) return;
  members.splice(i, 1);
  await m.cluster.stop();
  await m.speaker.stop();
}

/** Loopback VIPs whose preferred owners among `nodes` cover every node (bounded search). */
function vipsCovering(nodes: readonly string[]): string[] {
  const byOwner = new Map<string, string>();
  for (let i = 0; i < 200 && byOwner.size < nodes.length; i++) {
    const vip = loopbackAddress();
    const owner = preferredOwner(vip, nodes)!;
    if (!byOwner.has(owner)) byOwner.set(owner, vip);
  }
  assert.equal(byOwner.size, nodes.length);
  return nodes.map((n) => byOwner.get(n)!);
}

function owners(ms: readonly Member[], vip: string): string[] {
  return ms
    .filter((m) => m.cluster.vips().some((v) => v.vip === vip && v.state === 'owned'))
    .map((m) => m.node);
}

function boundVips(m: Member): Set<string> {
  return new Set(m.speaker.bound.listeners.map((l) => l.vip));
}

async function metric(m: Member, name: string): Promise<string> {
  return (await m.registry.getSingleMetricAsString(name)) ?? '';
}

describe('ClusterSpeaker', { timeout: 30_000 }, () => {
  let echo: Backend;
  before(async () => {
    echo = await startBackend();
  });
  afterAll(async () => {
    await echo.close();
  });
  afterEach(async () => {
    for (const m of [...members]) await stopMember(m);
  });

  async function publish(backend: MemoryBackend, vips: readonly string[]): Promise<ForwardingTable> {
    const port = await freePort(vips[0]!);
    const t = table(
      vips.map((vip) =>
        listenerDoc({
          vip,
          port,
          service: `default/s-${vip}`,
          backends: [{ address: echo.address, nodePort: echo.port }],
        }),
      ),
    );
    await new MemoryStore({ backend }).publishTable(t);
    return t;
  }

  it('in l2 mode binds a VIP only on its owner: allowlist, then address, then listeners, then gratuitous ARP', async () => {
    const backend = new MemoryBackend();
    const a = await member(backend, 'a', 'l2');
    const b = await member(backend, 'b', 'l2');
    const vips = vipsCovering(['a', 'b']);
    const t = await publish(backend, vips);
    const port = t.listeners[0]!.port;
    await eventually(() => vips.every((v) => owners([a, b], v).length === 1) || undefined, 5000, 'owners');
    await a.cluster.settled();
    await b.cluster.settled();
    for (const vip of vips) {
      const owner = preferredOwner(vip, ['a', 'b']) === 'a' ? a : b;
      const other = owner === a ? b : a;
      assert.deepEqual(owners([a, b], vip), [owner.node]);
      const log = owner.log;
      const allow = log.findIndex((l) => l.startsWith('allow') && l.includes(vip));
      const add = log.indexOf(`add ${vip}`);
      const bind = log.findIndex((l, i) => i > add && l.startsWith('bind') && l.includes(vip));
      const advertise = log.indexOf(`advertise ${vip}`);
      assert.ok(
        allow >= 0 && allow < add && add < bind && bind < advertise,
        `${owner.node}: ${log.join(' | ')}`,
      );
      assert.ok(boundVips(owner).has(vip));
      assert.ok(!boundVips(other).has(vip), `${other.node} does not bind ${vip}`);
      assert.ok(!other.log.includes(`add ${vip}`));
      const r = await roundTrip(vip, port, `hello ${vip}`);
      assert.equal(r.data.toString(), `hello ${vip}`);
    }
    assert.match(await metric(a, 'switchyard_vips_owned'), /switchyard_vips_owned\{node="a"\} 1/);
    assert.match(await metric(a, 'switchyard_vip_ownership_changes_total'), /change="gained"\} 1/);
  });

  it('when its owner leaves, withdraws the address before unbinding, and the other node binds and announces the VIP', async () => {
    const backend = new MemoryBackend();
    const a = await member(backend, 'a', 'l2');
    const b = await member(backend, 'b', 'l2');
    const [vipA] = vipsCovering(['a', 'b']);
    const t = await publish(backend, [vipA!]);
    await eventually(() => owners([a, b], vipA!).join() === 'a' || undefined, 5000, 'a to own the VIP');
    await a.cluster.settled();
    const logA = a.log;
    await stopMember(a);
    const withdraw = logA.indexOf(`withdraw ${vipA}`);
    const unbind = logA.findIndex((l, i) => i > withdraw && l.startsWith('bind') && !l.includes(vipA!));
    assert.ok(withdraw >= 0 && withdraw < unbind, logA.join(' | '));
    await eventually(() => b.log.includes(`advertise ${vipA}`) || undefined, 5000, 'b to announce the VIP');
    assert.ok(boundVips(b).has(vipA!));
    const r = await roundTrip(vipA!, t.listeners[0]!.port, 'moved');
    assert.equal(r.data.toString(), 'moved');
  });

  it('in local mode binds every VIP on every speaker while ownership stays single', async () => {
    const backend = new MemoryBackend();
    const a = await member(backend, 'a', 'local', { passive: true });
    const b = await member(backend, 'b', 'local', { passive: true });
    const vips = vipsCovering(['a', 'b']);
    await publish(backend, vips);
    await eventually(() => vips.every((v) => owners([a, b], v).length === 1) || undefined, 5000, 'owners');
    await a.cluster.settled();
    await b.cluster.settled();
    for (const m of [a, b]) assert.deepEqual([...boundVips(m)].sort(), [...vips].sort(), m.node);
  });

  it('keeps serving the last good table when the store holds one it refuses, and counts the refusal', async () => {
    const backend = new MemoryBackend();
    const a = await member(backend, 'a', 'none', { passive: true });
    const [vip] = vipsCovering(['a']);
    const t = await publish(backend, [vip!]);
    await eventually(() => boundVips(a).has(vip!) || undefined, 5000, 'the table to be served');
    const key = `${vip}:${t.listeners[0]!.port}/TCP`;
    backend.writeRawListener(key, '{"service": ');
    backend.bumpVersion(1);
    backend.announceRaw(
      announcementText({
        kind: 'delta',
        generation: backend.generation!,
        version: 2,
        changed: [key],
        removed: [],
      }),
    );
    await eventually(
      async () =>
        /switchyard_table_refusals_total 1/.test(await metric(a, 'switchyard_table_refusals_total')) ||
        undefined,
      5000,
      'the refusal to be counted',
    );
    assert.equal(a.speaker.table?.version, 1);
    assert.ok(boundVips(a).has(vip!));
    const r = await roundTrip(vip!, t.listeners[0]!.port, 'still');
    assert.equal(r.data.toString(), 'still');
  });

  it('keeps a VIP suspended while the store is away, and gives it up when another node answers for it', async () => {
    const backend = new MemoryBackend();
    let answered = false;
    const probed: string[] = [];
    const a = await member(backend, 'a', 'l2', {
      probe: async (vip) => {
        probed.push(vip);
        return answered;
      },
    });
    const [vip] = vipsCovering(['a']);
    await publish(backend, [vip!]);
    await eventually(() => a.log.includes(`advertise ${vip}`) || undefined, 5000, 'a to announce');
    backend.setAvailable(false);
    try {
      await eventually(() => a.cluster.vips()[0]?.state === 'suspended' || undefined, 5000, 'suspended');
      await eventually(() => probed.length >= 2 || undefined, 5000, 'conflict probes');
      assert.ok(boundVips(a).has(vip!), 'a suspended VIP keeps its listeners');
      assert.ok(!a.log.includes(`withdraw ${vip}`), 'and its address while nobody else answers');
      answered = true;
      await eventually(() => a.log.includes(`withdraw ${vip}`) || undefined, 5000, 'the step back');
      await a.cluster.settled();
      assert.ok(!boundVips(a).has(vip!));
      assert.deepEqual(a.cluster.vips(), []);
    } finally {
      backend.setAvailable(true);
    }
  });
});
