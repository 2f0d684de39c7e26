/**
 * Restarting the controller must not move anyone's IP: state lives in the Services' status, and a
 * fresh process reads it back before it writes anything.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FAST_LEASE, ingressIps, TestCluster } from './kube-cluster.ts';

const RESTARTS = 5;
const SERVICES = ['first', 'second', 'third', 'fourth'];

describe('switchyard controller restarts', { timeout: 50_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start();
    cluster.seedPool('small', ['127.0.21.1-127.0.21.2']);
    // Oldest first: first and second get the two IPs.
    for (const [i, name] of SERVICES.entries()) cluster.seedService('shop', name, 80 + i, 100 - i * 10);
  });
  after(async () => {
    await cluster?.close();
  });

  it(`keeps both IPs and both Pending Services exactly as they are over ${RESTARTS} restarts`, async () => {
    let held: Record<string, string[]> | undefined;
    for (let run = 0; run <= RESTARTS; run++) {
      const identity = `restart-${run}`;
      /** Services this run recorded AllocationFailed for (a repeat only bumps an Event's count). */
      const failed = () =>
        new Set(
          cluster.writes.events.events
            .filter((e) => e.reason === 'AllocationFailed' && e.instance === identity && e.type === 'Warning')
            .map((e) => e.object),
        );
      const controller = cluster.startController(identity, FAST_LEASE);
      // Each run records AllocationFailed for both Pending Services on its first pass. Services go
      // in name order, so by then first and second, had they needed a write, have had it.
      await cluster.writes.events.until(() => failed().size === 2, `run ${run}: AllocationFailed x2`, 15_000);
      await controller.logged('table-published');
      assert.deepEqual([...failed()].sort(), ['shop/fourth', 'shop/third']);
      assert.equal(await controller.stop(), 0, controller.stderr);

      const now = Object.fromEntries(SERVICES.map((s) => [s, ingressIps(cluster.service('shop', s))]));
      if (held === undefined) {
        held = now;
        assert.deepEqual(now, { first: ['127.0.21.1'], second: ['127.0.21.2'], third: [], fourth: [] });
      } else assert.deepEqual(now, held, `run ${run}: the same IPs as after the first run`);
    }
    assert.deepEqual(cluster.writes.violations, [], 'no IP ever moved or was doubly held');
    assert.equal(
      cluster.writes.ingress.events.length,
      2,
      'ingress was written twice in all: once per allocation',
    );
    assert.equal(cluster.writes.statuses.events.length, 2, 'no other Service status write either');
  });
});
