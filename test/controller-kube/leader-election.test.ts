/**
 * Two controller replicas at once: only the Lease holder writes, so no IP is ever written to two
 * Services, and when the leader dies mid-allocation the other replica takes over and finishes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ControllerProcess, FAST_LEASE, TestCluster } from './kube-cluster.ts';

const SERVICES = 200;
/** The leader is killed once this many Services have their IP. */
const KILL_AFTER = 40;

describe('two switchyard controllers with leader election', { timeout: 50_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start();
    cluster.seedPool('big', ['127.0.30.0/24']);
    for (let i = 0; i < SERVICES; i++)
      cluster.seedService('many', `svc-${String(i).padStart(3, '0')}`, 1000 + i);
  });
  after(async () => {
    await cluster?.close();
  });

  it(`allocates ${SERVICES} Services without a duplicate IP, the standby finishing after the leader is killed`, async (t) => {
    const replicas = new Map<string, ControllerProcess>([
      ['replica-a', cluster.startController('replica-a', FAST_LEASE)],
      ['replica-b', cluster.startController('replica-b', FAST_LEASE)],
    ]);
    await cluster.writes.ingress.until(
      (cs) => cs.length >= KILL_AFTER,
      `${KILL_AFTER} Services allocated`,
      20_000,
    );
    const leader = cluster.leaseHolder() ?? '';
    const standbyName = [...replicas.keys()].find((n) => n !== leader);
    assert.ok(
      replicas.has(leader) && standbyName,
      `one replica holds the Lease (holder ${JSON.stringify(leader)})`,
    );
    const standby = replicas.get(standbyName)!;
    assert.ok(
      !standby.logs.events.some((l) => l.event === 'controller-leading'),
      'the standby has not been running the loop',
    );

    const killedAt = Date.now();
    await replicas.get(leader)!.kill();
    const writtenByLeader = cluster.writes.ingress.events.length;
    await standby.logged('controller-leading', 15_000);
    const tookOverAt = Number(standby.logs.events.find((l) => l.event === 'controller-leading')?.time);
    await cluster.writes.ingress.until(
      (cs) => cs.length >= SERVICES,
      `all ${SERVICES} Services allocated`,
      20_000,
    );
    t.diagnostic(
      `leader killed after ${writtenByLeader} allocations; standby leading ${tookOverAt - killedAt} ms after the kill`,
    );

    assert.ok(writtenByLeader < SERVICES, 'the leader was killed mid-allocation');
    assert.deepEqual(cluster.writes.violations, [], 'no IP moved, none was written to two Services');
    const holders = cluster.writes.holders();
    assert.equal(holders.size, SERVICES);
    assert.equal(new Set([...holders.values()].flat()).size, SERVICES, 'every Service has its own IP');
    assert.equal(cluster.leaseHolder(), standbyName);
    assert.equal(await standby.stop(), 0, standby.stderr);
  });
});
