/**
 * The audit's scenario, with the real binaries, the fake API server and a real Redis: a leader's
 * node-state write is delayed on the wire (a TCP proxy holds its bytes), the leader loses the API
 * server and is deposed, the standby takes over and writes the node states and the table under its
 * newer term, and only then does the old write reach Redis. The store must refuse it, the deposed
 * controller must count and log the refusal, and the new leader's node states and table must stand.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../store/await-events.ts';
import { TcpProxy } from '../store/tcp-proxy.ts';
import { type ControllerProcess, FAST_LEASE, TestCluster } from './kube-cluster.ts';

/** Patch the Ready condition of node-a through the API, as the kubelet's status updates do. */
async function setReady(cluster: TestCluster, ready: boolean): Promise<void> {
  const res = await fetch(`${cluster.server.url}/api/v1/nodes/node-a/status`, {
    method: 'PATCH',
    headers: {
      Authorization: `Bearer ${cluster.server.token}`,
      'Content-Type': 'application/merge-patch+json',
    },
    body: JSON.stringify({
      status: {
        addresses: [{ type: 'InternalIP', address: '127.0.0.2' }],
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      },
    }),
  });
  assert.equal(res.status, 200, await res.text());
}

/** The value of one sample of the controller's /metrics, or null when absent. */
async function metric(port: number, sample: string): Promise<number | null> {
  const text = await (
    await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { Connection: 'close' } })
  ).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? null : Number(line.slice(sample.length + 1));
}

describe('a deposed leader whose write was delayed on the wire', { timeout: 60_000 }, () => {
  let cluster: TestCluster;
  let redisProxy: TcpProxy;
  let apiProxy: TcpProxy;

  before(async () => {
    cluster = await TestCluster.start();
    cluster.seedPool('pool', ['127.0.50.0/29']);
    cluster.seedService('default', 'web', 80);
    redisProxy = await TcpProxy.start({ host: cluster.redis.host, port: cluster.redis.port });
    const api = new URL(cluster.server.url);
    apiProxy = await TcpProxy.start({ host: api.hostname, port: Number(api.port) });
  });
  after(async () => {
    await cluster?.close();
    await redisProxy?.close();
    await apiProxy?.close();
  });

  it('is refused by the store and counted, and the new leader’s node states and table stand', async () => {
    // The old leader reaches both the API server and Redis through proxies the test controls, and
    // waits up to 30 s for a Redis reply, so the delayed write's answer comes back to it.
    const old: ControllerProcess = cluster.startController(
      'replica-a',
      [...FAST_LEASE, '--redis-command-timeout-ms', '30000'],
      {
        kubeconfig: await cluster.kubeconfigVia(apiProxy.url('http'), 'kubeconfig-a'),
        redisUrl: redisProxy.url('redis'),
      },
    );
    await old.logged('controller-leading', 15_000);
    const oldTerm = Number(old.logs.events.find((l) => l.event === 'controller-leading')?.term);
    const metricsPort = Number(old.logs.events.find((l) => l.event === 'metrics-listening')?.port);
    await eventually(
      async () => (await cluster.nodeStates())?.get('node-a')?.ready === true,
      10_000,
      'node states',
    );
    await cluster.tableWhere((t) => t.listeners.length === 1, 'the table');

    const standby = cluster.startController('replica-b', FAST_LEASE);
    await standby.logged('controller-synced', 15_000);

    // node-a goes NotReady: the leader publishes that, and its node-state write is held on the wire.
    const held = redisProxy.holdWhen((chunk) => chunk.includes('node-states'));
    await setReady(cluster, false);
    await held;
    // node-a is Ready again, and the old leader loses the API server, so it is deposed.
    await setReady(cluster, true);
    apiProxy.block();
    await old.logged('controller-standby', 15_000);
    await standby.logged('controller-leading', 15_000);
    const newTerm = Number(standby.logs.events.find((l) => l.event === 'controller-leading')?.term);
    assert.ok(newTerm > oldTerm, `the new term ${newTerm} is above the old ${oldTerm}`);
    await eventually(
      async () =>
        (await cluster.controllerTerm()) === newTerm && (await cluster.nodeStates())?.get('node-a')?.ready,
      10_000,
      'the new leader to write the node states',
    );
    await cluster.tableWhere((t) => t.listeners[0]?.backends.length === 1, 'the new leader’s table');
    const tablesBefore = cluster.tables.events.length;

    // The old write reaches Redis now.
    const releasedAt = performance.now();
    redisProxy.release();
    await eventually(
      async () =>
        old.logs.events.some((l) => l.event === 'store-write-refused') ||
        (await cluster.nodeStates())?.get('node-a')?.ready === false,
      10_000,
      'the delayed write to be answered',
    );
    assert.deepEqual(
      [...((await cluster.nodeStates()) ?? new Map()).values()],
      [{ node: 'node-a', ready: true, excludeFromExternalLB: false }],
      'the new leader’s node states stand',
    );
    const refused = old.logs.events.find((l) => l.event === 'store-write-refused');
    console.log(
      `controller-kube: a deposed leader's node-states write (term ${oldTerm}) held on the wire and released ${Math.round(performance.now() - releasedAt)} ms ago after term ${newTerm} wrote: ${refused ? `refused (${refused.reason})` : 'NOT refused'}; node-a ready=${(await cluster.nodeStates())?.get('node-a')?.ready}`,
    );
    assert.deepEqual([refused?.reason, refused?.term, refused?.storeTerm], ['stale-term', oldTerm, newTerm]);
    assert.equal(
      await metric(metricsPort, 'switchyard_store_writes_refused_total{reason="stale-term"}'),
      1,
      'the refusal is counted',
    );
    assert.equal(await cluster.controllerTerm(), newTerm);
    // The new leader may write its table again (a store reconnect under load does that); what must
    // not land is the old leader's view, in which node-a was not Ready (no backend).
    for (const t of cluster.tables.events.slice(tablesBefore)) {
      assert.equal(t.listeners[0]?.backends.length, 1, 'every table since the new leader’s serves node-a');
    }
    assert.equal(cluster.tables.events.at(-1)?.listeners[0]?.backends.length, 1, 'the table serves node-a');

    assert.equal(await standby.stop(), 0, standby.stderr);
    await old.kill();
  });
});
