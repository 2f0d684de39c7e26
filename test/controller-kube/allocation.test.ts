/**
 * `switchyard controller` in Kubernetes mode, the real binary against the fake API server: what it
 * writes on Services, pools and Events, what it publishes to Redis, and how it stops.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { annotation, type ControllerProcess, ingressIps, SYSTEM_NS, TestCluster } from './kube-cluster.ts';

describe('switchyard controller (Kubernetes mode)', { timeout: 40_000 }, () => {
  let cluster: TestCluster;
  let controller: ControllerProcess;

  before(async () => {
    cluster = await TestCluster.start();
    cluster.seedPool('prod', ['127.0.20.1-127.0.20.2']);
    cluster.seedService('web', 'shop', 80, 30);
    cluster.seedService('web', 'api', 8080, 20);
    cluster.seedService('web', 'late', 81, 10);
  });
  after(async () => {
    await cluster?.close();
  });

  it('writes ingress with ipMode Proxy and ports, the pool annotation, pool counts and Events', async () => {
    controller = cluster.startController('c1');
    await cluster.writes.ingress.until((c) => c.length >= 2, 'two Services allocated', 15_000);
    const shop = cluster.service('web', 'shop');
    assert.deepEqual(shop?.status, {
      loadBalancer: {
        ingress: [{ ip: '127.0.20.1', ipMode: 'Proxy', ports: [{ port: 80, protocol: 'TCP' }] }],
      },
    });
    assert.equal(annotation(shop, 'switchyard.io/ip-allocated-from-pool'), 'prod');
    assert.deepEqual(ingressIps(cluster.service('web', 'api')), ['127.0.20.2']);
    assert.deepEqual(ingressIps(cluster.service('web', 'late')), [], 'the youngest finds the pool full');

    await cluster.writes.events.until(
      (es) =>
        es.some((e) => e.object === 'web/late' && e.reason === 'AllocationFailed' && e.type === 'Warning') &&
        es.some((e) => e.object === 'web/shop' && e.reason === 'IPAllocated' && e.type === 'Normal'),
      'IPAllocated and AllocationFailed events',
    );
    const allocated = cluster.writes.events.events.find(
      (e) => e.object === 'web/shop' && e.reason === 'IPAllocated',
    );
    assert.match(allocated?.message ?? '', /127\.0\.20\.1.*prod/);

    const counts = { assignedIPv4: 2, assignedIPv6: 0, availableIPv4: 0, availableIPv6: 0 };
    await cluster.writes.pools.until(
      (ps) => ps.some((p) => p.pool === 'prod' && JSON.stringify(p.status) === JSON.stringify(counts)),
      'pool status counts',
    );
    assert.deepEqual(cluster.server.read('ipaddresspools.switchyard.io', SYSTEM_NS, 'prod')?.status, counts);
  });

  it('publishes the forwarding table to Redis with one listener per allocated port', async () => {
    await cluster.tableWhere((t) => t.listeners.length === 2, 'a table with two listeners');
    const table = cluster.tables.events.at(-1)!;
    assert.deepEqual(table.listeners.map((l) => `${l.service} ${l.vip}:${l.port}`).sort(), [
      'web/api 127.0.20.2:8080',
      'web/shop 127.0.20.1:80',
    ]);
    assert.deepEqual(
      table.listeners
        .map((l) => `${l.service} ${l.backends.map((b) => `${b.address}:${b.nodePort}`)}`)
        .sort(),
      ['web/api 127.0.0.2:38080', 'web/shop 127.0.0.2:30080'],
    );
  });

  it('rewrites the ingress ports when the Service gains a port, keeping its IP', async () => {
    const shop = cluster.service('web', 'shop')!;
    const spec = shop.spec as { ports: object[] };
    cluster.server.seed({
      ...shop,
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'shop', namespace: 'web', annotations: shop.metadata.annotations },
      spec: {
        ...spec,
        ports: [...spec.ports, { name: 'https', protocol: 'TCP', port: 443, nodePort: 30443 }],
      },
    });
    await cluster.writes.statuses.until(
      (ss) => ss.some((s) => s.service === 'web/shop' && JSON.stringify(s.status).includes('443')),
      'the ingress to list port 443',
    );
    assert.deepEqual(cluster.service('web', 'shop')?.status, {
      loadBalancer: {
        ingress: [
          {
            ip: '127.0.20.1',
            ipMode: 'Proxy',
            ports: [
              { port: 80, protocol: 'TCP' },
              { port: 443, protocol: 'TCP' },
            ],
          },
        ],
      },
    });
    assert.deepEqual(cluster.writes.violations, []);
  });

  it('exits 0 on SIGTERM after releasing its Lease', async () => {
    const code = await controller.stop();
    assert.equal(code, 0, controller.stderr);
    assert.equal(cluster.leaseHolder(), '', 'released');
  });
});
