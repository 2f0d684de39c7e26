import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../shared/log.ts';
import { arpConflictProbe, ConflictWatch } from '../../speaker/announce/address-conflict.ts';
import { NetnsCluster } from '../harness/netns.ts';
import { EventQueue } from '../store/await-events.ts';

const VIP = '198.18.0.100';
const OTHER_VIP = '198.18.0.101';

describe('ARP conflict probe in a namespace cluster', { timeout: 60_000 }, () => {
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
    const probe = arpConflictProbe('eth0', cluster.runner('n1'), silentLogger());
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
      probe: arpConflictProbe('eth0', cluster.runner('n1'), silentLogger()),
      onConflict: conflicts.push,
      logger: silentLogger(),
    });
    await cluster.runner('n2')('ip', ['addr', 'add', `${OTHER_VIP}/32`, 'dev', 'eth0']);
    try {
      watch.setVips([VIP, OTHER_VIP]);
      assert.equal(await conflicts.next(undefined, 10_000, 'a conflict'), OTHER_VIP);
      assert.deepEqual([...watch.watched()], [VIP]);
    } finally {
      await watch.close();
      await cluster.runner('n2')('ip', ['addr', 'del', `${OTHER_VIP}/32`, 'dev', 'eth0']);
    }
    assert.deepEqual(conflicts.pending(), []);
  });
});
