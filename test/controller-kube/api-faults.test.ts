/**
 * The API server misbehaving under a running controller: watches cut, history compacted (410 Gone,
 * a relist), the server answering 503 and then refusing connections for a few seconds. No IP may
 * move, and once the server is back a new Service must still get its IP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ControllerProcess, FAST_LEASE, ingressIps, TestCluster } from './kube-cluster.ts';

const RESOURCES = ['services', 'ipaddresspools', 'nodes', 'namespaces', 'endpointslices'];

describe('switchyard controller when the API server misbehaves', { timeout: 50_000 }, () => {
  let cluster: TestCluster;
  let controller: ControllerProcess;
  let held: Record<string, string[]>;

  /** Seed a Service (unless `seeded`) and resolve once the controller has written it an IP. */
  async function allocated(name: string, port: number, what: string, seeded = false): Promise<string[]> {
    if (!seeded) cluster.seedService('apps', name, port);
    await cluster.writes.ingress.until(
      (cs) => cs.some((c) => c.service === `apps/${name}` && c.after.length > 0),
      `${what}: apps/${name} allocated`,
      20_000,
    );
    return ingressIps(cluster.service('apps', name));
  }

  function ipsNow(): Record<string, string[]> {
    return Object.fromEntries(Object.keys(held).map((s) => [s, ingressIps(cluster.service('apps', s))]));
  }

  before(async () => {
    cluster = await TestCluster.start();
    cluster.seedPool('apps', ['127.0.22.0/28']);
    for (let i = 0; i < 5; i++) cluster.seedService('apps', `svc-${i}`, 100 + i, 60 - i);
    const watching = Promise.all(RESOURCES.map((r) => cluster.server.nextWatch(r)));
    controller = cluster.startController('faults', FAST_LEASE);
    await cluster.writes.ingress.until((cs) => cs.length === 5, 'five Services allocated', 15_000);
    await watching;
    held = Object.fromEntries(
      [0, 1, 2, 3, 4].map((i) => [`svc-${i}`, ingressIps(cluster.service('apps', `svc-${i}`))]),
    );
  });
  after(async () => {
    await cluster?.close();
  });

  it('follows changes after every watch is cut, cleanly and by a dropped connection', async () => {
    for (const mode of ['end', 'destroy'] as const) {
      const rewatched = Promise.all(RESOURCES.map((r) => cluster.server.nextWatch(r)));
      assert.ok(cluster.server.cutWatches(mode) >= RESOURCES.length);
      await rewatched;
      await allocated(`after-cut-${mode}`, mode === 'end' ? 200 : 201, `cut ${mode}`);
    }
    assert.deepEqual(ipsNow(), held);
    assert.deepEqual(cluster.writes.violations, []);
  });

  it('relists after 410 Gone and follows changes again', async () => {
    const relists = cluster.server.requestCount('list', 'services');
    // Dropped watches come back after a backoff, from a resourceVersion that is compacted away by then.
    cluster.server.cutWatches('destroy');
    cluster.seedService('apps', 'during-cut', 202);
    cluster.server.compact();
    await allocated('during-cut', 202, 'seen by the relist after 410', true);
    await allocated('after-compact', 203, 'after the relist');
    assert.ok(cluster.server.requestCount('list', 'services') > relists, 'the Services were listed again');
    assert.deepEqual(ipsNow(), held);
    assert.deepEqual(cluster.writes.violations, []);
  });

  it('survives seconds of 503 and refused connections, then allocates a Service added after', async () => {
    await cluster.server.setUnavailable('503');
    // Long enough for the leader's renew deadline (1.5 s) to pass: it steps down and must re-elect.
    await controller.logs.until(
      (ls) => ls.some((l) => l.event === 'leader.stopped' && l.reason === 'renew deadline passed'),
      'the leader to step down',
      10_000,
    );
    await cluster.server.setAvailable();
    await cluster.server.setUnavailable('refuse');
    await new Promise((r) => setTimeout(r, 1500)); // a span of refused connections, nothing to await
    await cluster.server.setAvailable();

    const ip = await allocated('after-outage', 204, 'after the outage');
    assert.equal(ip.length, 1);
    assert.ok(!Object.values(held).flat().includes(ip[0]!), 'a free IP, not a held one');
    assert.deepEqual(ipsNow(), held);
    assert.deepEqual(cluster.writes.violations, []);
    const code = await controller.stop();
    if (code !== 0)
      console.log(
        controller.logs.events
          .slice(-60)
          .map((l) => JSON.stringify(l))
          .join('\n'),
      );
    assert.equal(code, 0, controller.stderr);
  });
});
