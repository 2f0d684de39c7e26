/**
 * KubeWriter and EventRecorder against the fake API server with the real client: what lands on the
 * Service, the pool and the Events, and the outcomes they return when a write cannot be done.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type KubeClients, loadKubeConfig, makeKubeClients } from '../../controller/sources/kube/client.ts';
import { EventRecorder } from '../../controller/sources/kube/events.ts';
import { ALLOCATED_FROM_POOL_ANNOTATION, KubeWriter } from '../../controller/sources/kube/writer.ts';
import { silentLogger } from '../../shared/log.ts';
import { FakeApiServer } from '../fake-apiserver/fake-apiserver.ts';

describe('KubeWriter and EventRecorder', { timeout: 60_000 }, () => {
  let server: FakeApiServer;
  let dir: string;
  let clients: KubeClients;
  let writer: KubeWriter;

  before(async () => {
    server = await FakeApiServer.start();
    dir = await mkdtemp(join(tmpdir(), 'switchyard-writer-'));
    clients = makeKubeClients(loadKubeConfig(await server.writeKubeconfig(join(dir, 'kubeconfig'))));
    writer = new KubeWriter({ clients, logger: silentLogger() });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  function seedService(name: string) {
    return server.seed({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: 'default', annotations: { keep: 'me' } },
      spec: { type: 'LoadBalancer', ports: [{ port: 80, nodePort: 30080 }] },
    });
  }

  it('writes ingress with ipMode Proxy and ports through services/status, idempotently', async () => {
    const seeded = seedService('ingress');
    server.resetCounts();
    const ports = [{ port: 80, protocol: 'TCP' }];
    const written = await writer.writeServiceIngress(
      { namespace: 'default', name: 'ingress' },
      ['127.0.0.10'],
      ports,
      null,
    );
    const stored = server.read('services', 'default', 'ingress')!;
    assert.deepEqual(written, { ok: true, resourceVersion: stored.metadata.resourceVersion });
    assert.deepEqual(stored.status, {
      loadBalancer: {
        ingress: [{ ip: '127.0.0.10', ipMode: 'Proxy', ports: [{ port: 80, protocol: 'TCP' }] }],
      },
    });
    assert.deepEqual(stored.spec, seeded.spec);
    assert.equal(server.requestCount('patch', 'services/status'), 1);
    await writer.writeServiceIngress({ namespace: 'default', name: 'ingress' }, ['127.0.0.10'], ports, null);
    assert.equal(
      server.read('services', 'default', 'ingress')?.metadata.resourceVersion,
      stored.metadata.resourceVersion,
    );
    await writer.writeServiceIngress({ namespace: 'default', name: 'ingress' }, [], ports, null);
    assert.deepEqual(server.read('services', 'default', 'ingress')?.status, { loadBalancer: {} });
  });

  it('sets and removes the allocated-from-pool annotation, leaving other annotations alone', async () => {
    seedService('annotated');
    const ref = { namespace: 'default', name: 'annotated' };
    assert.equal((await writer.writeAllocatedPool(ref, 'prod', null)).ok, true);
    assert.deepEqual(server.read('services', 'default', 'annotated')?.metadata.annotations, {
      keep: 'me',
      [ALLOCATED_FROM_POOL_ANNOTATION]: 'prod',
    });
    await writer.writeAllocatedPool(ref, null, null);
    assert.deepEqual(server.read('services', 'default', 'annotated')?.metadata.annotations, { keep: 'me' });
  });

  it('writes pool status counts through ipaddresspools/status without touching the spec', async () => {
    server.seed({
      apiVersion: 'switchyard.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'prod', namespace: 'switchyard-system' },
      spec: { addresses: ['127.0.0.0/28'] },
      status: { conditions: [] },
    });
    const counts = { assignedIPv4: 2, assignedIPv6: 0, availableIPv4: 14, availableIPv6: 0 };
    assert.equal(
      (await writer.writePoolStatus({ namespace: 'switchyard-system', name: 'prod' }, counts, null)).ok,
      true,
    );
    const pool = server.read('ipaddresspools.switchyard.io', 'switchyard-system', 'prod')!;
    assert.deepEqual(pool.status, { conditions: [], ...counts });
    assert.deepEqual(pool.spec, { addresses: ['127.0.0.0/28'] });
    assert.equal(server.requestCount('patch', 'ipaddresspools.switchyard.io/status'), 1);
  });

  it('carries the resourceVersion it is given: a stale one gets a retriable 409 Conflict and writes nothing', async () => {
    const seeded = seedService('stale');
    const stale = String(seeded.metadata.resourceVersion);
    const ref = { namespace: 'default', name: 'stale' };
    const annotated = await writer.writeAllocatedPool(ref, 'prod', stale);
    assert.ok(annotated.ok && annotated.resourceVersion !== stale, 'the current version applies');
    const ports = [{ port: 80, protocol: 'TCP' }];
    const outcomes = [
      await writer.writeAllocatedPool(ref, 'other', stale),
      await writer.writeServiceIngress(ref, ['127.0.0.12'], ports, stale),
    ];
    for (const o of outcomes) {
      assert.deepEqual(o.ok ? null : [o.failure.code, o.failure.reason, o.failure.retriable], [
        409,
        'Conflict',
        true,
      ]);
    }
    const stored = server.read('services', 'default', 'stale')!;
    assert.equal(stored.metadata.resourceVersion, annotated.ok ? annotated.resourceVersion : '');
    assert.equal(
      (stored.metadata.annotations as Record<string, string>)[ALLOCATED_FROM_POOL_ANNOTATION],
      'prod',
    );
    assert.equal(stored.status, undefined);
    // The version a write returns is the one the next write holds to.
    const status = await writer.writeServiceIngress(
      ref,
      ['127.0.0.12'],
      ports,
      annotated.ok ? annotated.resourceVersion : null,
    );
    assert.equal(status.ok, true);

    const pool = server.seed({
      apiVersion: 'switchyard.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'stale-pool', namespace: 'switchyard-system' },
      spec: { addresses: ['127.0.0.0/30'] },
    });
    const counts = { assignedIPv4: 1, assignedIPv6: 0, availableIPv4: 3, availableIPv6: 0 };
    const poolRef = { namespace: 'switchyard-system', name: 'stale-pool' };
    assert.equal(
      (await writer.writePoolStatus(poolRef, counts, String(pool.metadata.resourceVersion))).ok,
      true,
    );
    const refused = await writer.writePoolStatus(
      poolRef,
      { ...counts, assignedIPv4: 2 },
      String(pool.metadata.resourceVersion),
    );
    assert.equal(refused.ok ? 0 : refused.failure.code, 409);
  });

  it('returns a non-retriable NotFound for a missing Service and a retriable failure when the server is away', async () => {
    const missing = await writer.writeServiceIngress(
      { namespace: 'default', name: 'ghost' },
      ['127.0.0.11'],
      [],
      null,
    );
    assert.deepEqual(
      missing.ok ? null : [missing.failure.code, missing.failure.reason, missing.failure.retriable],
      [404, 'NotFound', false],
    );
    seedService('unreachable');
    await server.setUnavailable('refuse');
    try {
      const down = await writer.writeAllocatedPool(
        { namespace: 'default', name: 'unreachable' },
        'prod',
        null,
      );
      assert.deepEqual(down.ok ? null : [down.failure.code, down.failure.reason, down.failure.retriable], [
        0,
        'Unreachable',
        true,
      ]);
    } finally {
      await server.setAvailable();
    }
  });

  it('aggregates a repeated Event into one with a growing count, and starts a new one for a new message', async () => {
    let clock = Date.parse('2025-03-01T10:00:00Z');
    const events = new EventRecorder({
      clients,
      logger: silentLogger(),
      instance: 'test',
      now: () => new Date(clock),
    });
    const subject = { kind: 'Service', apiVersion: 'v1', namespace: 'default', name: 'web', uid: 'uid-1' };
    const ev = {
      subject,
      type: 'Warning' as const,
      reason: 'AllocationFailed',
      message: 'no free IP in pool "prod"',
    };
    assert.deepEqual(await events.record(ev), { ok: true });
    clock += 5000;
    await events.record(ev);
    clock += 5000;
    await events.record(ev);
    const all = server.list('events', 'default');
    assert.equal(all.length, 1, 'repeats join one Event');
    const e = all[0]!;
    assert.equal(e.count, 3);
    assert.equal(e.firstTimestamp, '2025-03-01T10:00:00.000Z');
    assert.equal(e.lastTimestamp, '2025-03-01T10:00:10Z');
    assert.deepEqual(e.involvedObject, {
      kind: 'Service',
      apiVersion: 'v1',
      namespace: 'default',
      name: 'web',
      uid: 'uid-1',
    });
    assert.deepEqual([e.type, e.reason, e.reportingInstance], ['Warning', 'AllocationFailed', 'test']);
    assert.deepEqual(e.source, { component: 'switchyard-controller' });

    await events.record({ ...ev, type: 'Normal', reason: 'IPAllocated', message: 'Assigned IP 127.0.0.10' });
    assert.equal(server.list('events', 'default').length, 2, 'a different event is a new Event');

    // The aggregated Event vanished (expired): the next repeat creates it afresh.
    server.remove('events', 'default', String(e.metadata.name));
    clock += 1000;
    assert.deepEqual(await events.record(ev), { ok: true });
    const again = server.list('events', 'default').filter((x) => x.reason === 'AllocationFailed');
    assert.deepEqual(
      again.map((x) => x.count),
      [1],
    );
  });

  it('starts a new Event once the aggregation window has passed', async () => {
    let clock = Date.parse('2025-03-02T10:00:00Z');
    const events = new EventRecorder({
      clients,
      logger: silentLogger(),
      aggregateWindowMs: 60_000,
      now: () => new Date(clock),
    });
    const ev = {
      subject: {
        kind: 'IPAddressPool',
        apiVersion: 'switchyard.io/v1beta1',
        namespace: 'switchyard-system',
        name: 'pool-w',
      },
      type: 'Warning' as const,
      reason: 'InvalidPool',
      message: 'bad CIDR',
    };
    assert.deepEqual(await events.record(ev), { ok: true });
    clock += 61_000;
    assert.deepEqual(await events.record(ev), { ok: true });
    const mine = server
      .list('events', 'switchyard-system')
      .filter((x) => (x.involvedObject as { name?: string })?.name === 'pool-w');
    assert.deepEqual(
      mine.map((x) => x.count),
      [1, 1],
    );
  });
});
