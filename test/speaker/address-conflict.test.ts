import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../shared/log.ts';
import {
  ConflictWatch,
  neighbourConflictProbe,
  probesPerRound,
} from '../../speaker/announce/address-conflict.ts';
import { NetnsCluster } from '../harness/netns.ts';
import { EventQueue } from '../store/await-events.ts';

const VIP = '198.18.0.100';
const OTHER_VIP = '198.18.0.101';

describe('neighbour conflict probe in a namespace cluster', { timeout: 60_000 }, () => {
  let cluster: NetnsCluster;
  before(async () => {
    cluster = await NetnsCluster.create(['n1', 'n2']);
    // n1 keeps the VIP, as a suspended owner does; the question is whether anyone else has it.
    await cluster.runner('n1')('ip', ['addr', 'add', `${VIP}/32`, 'dev', 'eth0', 'label', 'eth0:sy']);
  });
  after(async () => {
    await cluster?.destroy();
  });

  it('sees no conflict while only this node has the address, and one once another node adds it', async () => {
    const probe = neighbourConflictProbe('eth0', cluster.runner('n1'), silentLogger());
    assert.equal(await probe(VIP), false);
    await cluster.runner('n2')('ip', ['addr', 'add', `${VIP}/32`, 'dev', 'eth0']);
    try {
      assert.equal(await probe(VIP), true);
    } finally {
      await cluster.runner('n2')('ip', ['addr', 'del', `${VIP}/32`, 'dev', 'eth0']);
    }
    assert.equal(await probe(VIP), false);
  });

  it('reports only the watched VIP another node answers for, once, and stops watching it', async () => {
    const conflicts = new EventQueue<string>();
    const watch = new ConflictWatch({
      probe: neighbourConflictProbe('eth0', cluster.runner('n1'), silentLogger()),
      onGiveUp: (vip, why) => conflicts.push(`${vip} ${why}`),
      proofWindowMs: 2000,
      logger: silentLogger(),
    });
    await cluster.runner('n2')('ip', ['addr', 'add', `${OTHER_VIP}/32`, 'dev', 'eth0']);
    try {
      watch.setVips([VIP, OTHER_VIP]);
      assert.equal(await conflicts.next(undefined, 10_000, 'a conflict'), `${OTHER_VIP} conflict`);
      assert.deepEqual([...watch.watched()], [VIP]);
    } finally {
      await watch.close();
      await cluster.runner('n2')('ip', ['addr', 'del', `${OTHER_VIP}/32`, 'dev', 'eth0']);
    }
    assert.deepEqual(conflicts.pending(), []);
  });

  it('sees an IPv6 VIP answered by another node through neighbour solicitation, and not its own', async () => {
    const v6 = '2001:2::100';
    const probe = neighbourConflictProbe('eth0', cluster.runner('n1'), silentLogger());
    await cluster.runner('n1')('ip', ['addr', 'add', `${v6}/128`, 'dev', 'eth0', 'nodad']);
    try {
      assert.equal(await probe(v6), false, 'only this node has it');
      await cluster.runner('n2')('ip', ['addr', 'add', `${v6}/128`, 'dev', 'eth0', 'nodad']);
      assert.equal(await probe(v6), true, 'n2 answers for it');
    } finally {
      await cluster.runner('n1')('ip', ['addr', 'del', `${v6}/128`, 'dev', 'eth0']);
      await cluster.runner('n2')('ip', ['addr', 'del', `${v6}/128`, 'dev', 'eth0']);
    }
  });

  it('gives up a VIP it cannot prove alone within the proof window when its probes fail', async () => {
    const outcomes = new EventQueue<string>();
    let probes = 0;
    const watch = new ConflictWatch({
      // A probe that cannot run (e.g. the tool is missing): neither conflict nor proof.
      probe: async () => {
        probes++;
        return null;
      },
      onGiveUp: (vip, why) => outcomes.push(`${vip} ${why}`),
      proofWindowMs: 600,
      logger: silentLogger(),
    });
    const start = performance.now();
    try {
      watch.setVips([VIP]);
      assert.equal(await outcomes.next(undefined, 5000, 'the VIP to be given up'), `${VIP} unproven`);
      const after = performance.now() - start;
      assert.ok(
        after >= 600,
        `given up ${Math.round(after)} ms after the watch began, not before the window`,
      );
      assert.ok(probes >= 2, `${probes} probes were tried`);
      assert.deepEqual([...watch.watched()], []);
    } finally {
      await watch.close();
    }
  });
});

describe('probes per round', () => {
  it('grows with the number of suspended VIPs so each is probed twice per proof window, within the cap', () => {
    // A 2 s window and 300 ms rounds: three rounds per half window.
    assert.equal(probesPerRound(2, 2000, 100, 32), 2);
    assert.equal(probesPerRound(12, 2000, 100, 32), 4);
    assert.equal(probesPerRound(60, 2000, 100, 32), 20);
    assert.equal(probesPerRound(300, 2000, 100, 32), 32);
  });
});
