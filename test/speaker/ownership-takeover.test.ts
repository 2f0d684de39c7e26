import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { MemoryBackend } from '../../shared/store/memory-backend.ts';
import { MemoryStore } from '../../shared/store/memory-store.ts';
import type { OwnershipChange } from '../../speaker/ownership/ownership-loop.ts';
import { VipOwnershipLoop } from '../../speaker/ownership/ownership-loop.ts';
import { preferredOwner } from '../../speaker/ownership/rendezvous.ts';
import { successorOf } from '../../speaker/ownership/takeover.ts';
import { EventQueue } from '../store/await-events.ts';

const NODES = ['a', 'b', 'c'];
const VIPS = Array.from({ length: 12 }, (_, i) => `198.18.5.${i + 1}`);
// Registrations outlive leases here, so a successor that waited for the dead node's registration to
// expire would be seen to wait; with the defaults both run out together. All three loops share this
// one event loop, so the timing must outlast its scheduling stalls on a loaded machine: a live
// holder's fence (TTL less margin, 1.4 s) spans several renewals, and a successor arms its takeover
// when it reads a lease with at most renew + margin (850 ms) left, which several of its ticks do
// (with a short margin, one late tick would miss the lease before it lapses, and the takeover would
// wait for the registration).
const TIMING = { ttlMs: 2000, renewMs: 250, marginMs: 600 };
const HEARTBEAT_TTL_MS = 5000;
const HANDOVER_DELAY_MS = 1000;

describe('VipOwnershipLoop takeover of a lapsed lease', { timeout: 20_000 }, () => {
  const loops = new Map<string, VipOwnershipLoop>();
  afterEach(async () => {
    await Promise.all([...loops.values()].map((l) => l.stop()));
    loops.clear();
  });

  it('takes a crashed holder’s VIPs as soon as their leases lapse, while its registration is still live, and does not hand them back to it', async () => {
    const backend = new MemoryBackend();
    const gained = new EventQueue<OwnershipChange & { node: string }>();
    for (const node of NODES) {
      const loop = new VipOwnershipLoop({
        store: new MemoryStore({ backend }),
        self: { node, address: '127.0.0.1', startedAt: new Date().toISOString(), version: 'test' },
        timing: TIMING,
        heartbeatTtlMs: HEARTBEAT_TTL_MS,
        settleMs: 500,
        handoverDelayMs: HANDOVER_DELAY_MS,
        handlers: { gained: (c) => gained.push({ ...c, node }), suspended: () => {}, lost: () => {} },
      });
      loop.setVips(VIPS);
      loop.start();
      loops.set(node, loop);
    }
    const crashed = 'c';
    const its = VIPS.filter((v) => preferredOwner(v, NODES) === crashed);
    assert.ok(its.length > 0);
    for (const vip of VIPS) await gained.next((g) => g.vip === vip, 5000, `${vip} gained`);
    await loops.get(crashed)!.stop({ release: false });
    loops.delete(crashed);

    const store = new MemoryStore({ backend });
    for (const vip of its) {
      const g = await gained.next((x) => x.vip === vip, 5000, `${vip} taken over`);
      assert.equal(g.node, successorOf(vip, crashed, NODES));
    }
    const live = (await store.listSpeakers()).map((s) => s.node);
    assert.ok(
      live.includes(crashed),
      'every takeover happened before the crashed node’s registration ran out',
    );
    // Longer than the handover delay (and several ticks): a survivor must not hand a VIP to the node
    // whose lease lapsed.
    await new Promise((r) => setTimeout(r, HANDOVER_DELAY_MS + 2 * TIMING.renewMs));
    const leases = await store.readLeases(its);
    assert.deepEqual(
      leases.map((l) => l.holder),
      its.map((v) => successorOf(v, crashed, NODES)),
    );
  });
});
