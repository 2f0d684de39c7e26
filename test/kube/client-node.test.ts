/**
 * The real `@kubernetes/client-node` 2.x, unchanged, against the fake API server: if these pass, the
 * fake speaks the protocol the controller's Kubernetes edge depends on.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { FakeApiServer } from '../fake-apiserver/fake-apiserver.ts';
import { bareService } from '../harness/service.ts';
import { within } from '../harness/wait.ts';
import { Recorder } from './recorder.ts';

const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** The HTTP code of a client-node ApiException (or undefined for anything else). */
function codeOf(err: unknown): number | undefined {
  return err instanceof k8s.ApiException ? err.code : undefined;
}

/** The parsed Status body of a client-node ApiException. */
function statusOf(err: unknown): { kind?: string; reason?: string; code?: number; message?: string } {
  assert.ok(err instanceof k8s.ApiException, `expected an ApiException, got ${String(err)}`);
  return JSON.parse(String(err.body)) as { kind?: string; reason?: string; code?: number };
}

async function rejectsWith(p: Promise<unknown>, code: number, reason: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    const s = statusOf(err);
    assert.equal(codeOf(err), code);
    assert.equal(s.kind, 'Status');
    assert.equal(s.code, code);
    assert.equal(s.reason, reason);
    return;
  }
  assert.fail(`expected ${code} ${reason}, the call succeeded`);
}

function service(name: string, labels: Record<string, string> = {}): k8s.V1Service {
  return {
    metadata: { name, labels },
    spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }] },
  };
}

describe('client-node against the fake API server', { timeout: 60_000 }, () => {
  let server: FakeApiServer;
  let dir: string;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;

  before(async () => {
    server = await FakeApiServer.start();
    dir = await mkdtemp(join(tmpdir(), 'switchyard-kube-'));
    kc = new k8s.KubeConfig();
    kc.loadFromFile(await server.writeKubeconfig(join(dir, 'kubeconfig')));
    core = kc.makeApiClient(k8s.CoreV1Api);
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('loads the written kubeconfig: server URL, token, and a wrong token gets 401', async () => {
    assert.equal(kc.getCurrentCluster()?.server, server.url);
    assert.equal(kc.getCurrentUser()?.token, server.token);
    const ns = await core.readNamespace({ name: 'default' });
    assert.equal(ns.metadata?.name, 'default');
    const bad = new k8s.KubeConfig();
    bad.loadFromClusterAndUser(
      { name: 'c', server: server.url, skipTLSVerify: true },
      { name: 'u', token: 'not-the-token' },
    );
    await assert.rejects(bad.makeApiClient(k8s.CoreV1Api).listNode(), (err) => codeOf(err) === 401);
  });

  it('creates and lists Services with list resourceVersion, label selection and 409 AlreadyExists', async () => {
    const created = await core.createNamespacedService({
      namespace: 'default',
      body: service('list-a', { app: 'a' }),
    });
    assert.ok(created.metadata?.uid);
    assert.ok(created.metadata?.creationTimestamp instanceof Date);
    assert.equal(created.metadata?.generation, 1);
    await core.createNamespacedService({ namespace: 'default', body: service('list-b', { app: 'b' }) });
    const all = await core.listServiceForAllNamespaces();
    assert.equal(all.metadata?.resourceVersion, String(server.store.resourceVersion));
    const names = all.items.map((s) => s.metadata?.name);
    assert.ok(names.includes('list-a') && names.includes('list-b'));
    const onlyA = await core.listNamespacedService({ namespace: 'default', labelSelector: 'app=a' });
    assert.deepEqual(
      onlyA.items.map((s) => s.metadata?.name),
      ['list-a'],
    );
    await rejectsWith(
      core.createNamespacedService({ namespace: 'default', body: service('list-a') }),
      409,
      'AlreadyExists',
    );
    await rejectsWith(
      core.createNamespacedService({ namespace: 'nowhere', body: service('x') }),
      404,
      'NotFound',
    );
  });

  it('replaces a Service, refuses a stale resourceVersion with 409 Conflict, and keeps status on the main resource', async () => {
    const v1 = await core.createNamespacedService({ namespace: 'default', body: service('replace-me') });
    const v2 = await core.replaceNamespacedService({
      name: 'replace-me',
      namespace: 'default',
      body: {
        ...v1,
        spec: { ...v1.spec, sessionAffinity: 'ClientIP' },
        status: { loadBalancer: { ingress: [{ ip: '127.0.0.9' }] } },
      },
    });
    assert.equal(v2.spec?.sessionAffinity, 'ClientIP');
    assert.equal(v2.metadata?.generation, 2, 'a spec change bumps generation');
    assert.equal(v2.status?.loadBalancer?.ingress, undefined, 'status is owned by the status subresource');
    assert.ok(Number(v2.metadata?.resourceVersion) > Number(v1.metadata?.resourceVersion));
    await rejectsWith(
      core.replaceNamespacedService({ name: 'replace-me', namespace: 'default', body: v1 }),
      409,
      'Conflict',
    );
  });

  it('merge-patches services/status changing only status, and the main resource ignoring status', async () => {
    await core.createNamespacedService({ namespace: 'default', body: service('patch-me') });
    const ingress = [{ ip: '127.0.0.10', ipMode: 'Proxy', ports: [{ port: 80, protocol: 'TCP' }] }];
    const patched = await core.patchNamespacedServiceStatus(
      {
        name: 'patch-me',
        namespace: 'default',
        body: { status: { loadBalancer: { ingress } }, spec: { sessionAffinity: 'ClientIP' } },
      },
      merge,
    );
    assert.deepEqual(patched.status?.loadBalancer?.ingress?.[0]?.ip, '127.0.0.10');
    assert.equal(patched.spec?.sessionAffinity, undefined, 'a status write leaves spec alone');
    assert.equal(patched.metadata?.generation, 1);
    const stored = server.read('services', 'default', 'patch-me');
    assert.deepEqual(stored?.status, { loadBalancer: { ingress } });

    const annotated = await core.patchNamespacedService(
      {
        name: 'patch-me',
        namespace: 'default',
        body: { metadata: { annotations: { 'switchyard.io/ip-allocated-from-pool': 'p' } }, status: null },
      },
      merge,
    );
    assert.equal(annotated.metadata?.annotations?.['switchyard.io/ip-allocated-from-pool'], 'p');
    assert.equal(
      annotated.status?.loadBalancer?.ingress?.[0]?.ip,
      '127.0.0.10',
      'a main write leaves status alone',
    );

    // The client's default patch type is JSON patch; strategic merge is taken like a merge patch.
    const json = await core.patchNamespacedService({
      name: 'patch-me',
      namespace: 'default',
      body: [{ op: 'add', path: '/metadata/labels', value: { tier: 'web' } }],
    });
    assert.deepEqual(json.metadata?.labels, { tier: 'web' });
    const strategic = await core.patchNamespacedService(
      { name: 'patch-me', namespace: 'default', body: { metadata: { labels: { zone: 'z1' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
    assert.deepEqual(strategic.metadata?.labels, { tier: 'web', zone: 'z1' });
  });

  it('does not bump resourceVersion for a write that changes nothing', async () => {
    const s = await core.createNamespacedService({ namespace: 'default', body: service('noop') });
    const again = await core.patchNamespacedService(
      { name: 'noop', namespace: 'default', body: { spec: { type: 'LoadBalancer' } } },
      merge,
    );
    assert.equal(again.metadata?.resourceVersion, s.metadata?.resourceVersion);
  });

  it('deletes a Service, and a second delete gets 404 NotFound', async () => {
    await core.createNamespacedService({ namespace: 'default', body: service('delete-me') });
    await core.deleteNamespacedService({ name: 'delete-me', namespace: 'default' });
    assert.equal(server.read('services', 'default', 'delete-me'), undefined);
    await rejectsWith(
      core.deleteNamespacedService({ name: 'delete-me', namespace: 'default' }),
      404,
      'NotFound',
    );
  });

  it('creates IPAddressPools and writes their status through CustomObjectsApi', async () => {
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const ref = {
      group: 'switchyard.io',
      version: 'v1beta1',
      namespace: 'switchyard-system',
      plural: 'ipaddresspools',
    };
    server.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'switchyard-system' } });
    const created = (await custom.createNamespacedCustomObject({
      ...ref,
      body: {
        apiVersion: 'switchyard.io/v1beta1',
        kind: 'IPAddressPool',
        metadata: { name: 'prod' },
        spec: { addresses: ['127.0.1.0/28'] },
        status: { assignedIPv4: 99 },
      },
    })) as { metadata: { uid: string }; status?: unknown };
    assert.ok(created.metadata.uid);
    assert.equal(
      created.status,
      undefined,
      'create cannot set status on a resource with a status subresource',
    );
    await custom.patchNamespacedCustomObjectStatus(
      { ...ref, name: 'prod', body: { status: { assignedIPv4: 1, availableIPv4: 15 } } },
      merge,
    );
    const got = (await custom.getNamespacedCustomObject({ ...ref, name: 'prod' })) as {
      spec: unknown;
      status: unknown;
    };
    assert.deepEqual(got.status, { assignedIPv4: 1, availableIPv4: 15 });
    assert.deepEqual(got.spec, { addresses: ['127.0.1.0/28'] });
    const listed = (await custom.listClusterCustomObject({
      group: ref.group,
      version: ref.version,
      plural: ref.plural,
    })) as { items: unknown[]; metadata: { resourceVersion: string } };
    assert.equal(listed.items.length, 1);
    assert.ok(Number(listed.metadata.resourceVersion) > 0);
  });

  it('creates core/v1 and events.k8s.io/v1 Events', async () => {
    const now = new Date();
    const ev = await core.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { name: 'web.1' },
        involvedObject: { kind: 'Service', namespace: 'default', name: 'web', apiVersion: 'v1' },
        reason: 'IPAllocated',
        message: 'Assigned IP 127.0.0.10',
        type: 'Normal',
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: 'switchyard-controller' },
      },
    });
    assert.equal(ev.reason, 'IPAllocated');
    assert.equal(server.read('events', 'default', 'web.1')?.count, 1);
    const events = kc.makeApiClient(k8s.EventsV1Api);
    const ev2 = await events.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { generateName: 'web.' },
        eventTime: new k8s.V1MicroTime(now.getTime()),
        reportingController: 'switchyard.io/controller',
        reportingInstance: 'test',
        action: 'Allocate',
        reason: 'IPAllocated',
        type: 'Normal',
        regarding: { kind: 'Service', namespace: 'default', name: 'web' },
      },
    });
    assert.match(ev2.metadata?.name ?? '', /^web\.[a-z0-9]{5}$/);
    assert.ok(server.read('events.events.k8s.io', 'default', ev2.metadata!.name!));
  });

  it('creates and replaces a Lease, with 409 when two writers race on one resourceVersion', async () => {
    const coord = kc.makeApiClient(k8s.CoordinationV1Api);
    const lease = await coord.createNamespacedLease({
      namespace: 'kube-system',
      body: { metadata: { name: 'switchyard' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } },
    });
    await rejectsWith(
      coord.createNamespacedLease({ namespace: 'kube-system', body: { metadata: { name: 'switchyard' } } }),
      409,
      'AlreadyExists',
    );
    const renewed = await coord.replaceNamespacedLease({
      name: 'switchyard',
      namespace: 'kube-system',
      body: { ...lease, spec: { ...lease.spec, holderIdentity: 'b', renewTime: new k8s.V1MicroTime() } },
    });
    assert.equal(renewed.spec?.holderIdentity, 'b');
    await rejectsWith(
      coord.replaceNamespacedLease({
        name: 'switchyard',
        namespace: 'kube-system',
        body: { ...lease, spec: { ...lease.spec, holderIdentity: 'c' } },
      }),
      409,
      'Conflict',
    );
    const stored = server.read('leases.coordination.k8s.io', 'kube-system', 'switchyard') as {
      spec?: k8s.V1LeaseSpec;
    };
    assert.equal(stored.spec?.holderIdentity, 'b');
  });
});

describe('client-node informer against the fake API server', { timeout: 60_000 }, () => {
  let server: FakeApiServer;
  let dir: string;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;

  before(async () => {
    server = await FakeApiServer.start();
    dir = await mkdtemp(join(tmpdir(), 'switchyard-kube-'));
    kc = new k8s.KubeConfig();
    kc.loadFromFile(await server.writeKubeconfig(join(dir, 'kubeconfig')));
    core = kc.makeApiClient(k8s.CoreV1Api);
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A started Service informer in namespace `ns` whose handlers record `verb name`. */
  async function informer(ns: string) {
    const inf = k8s.makeInformer(kc, `/api/v1/namespaces/${ns}/services`, () =>
      core.listNamespacedService({ namespace: ns }),
    );
    const seen = new Recorder<string>();
    const errors: unknown[] = [];
    inf.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    inf.on('update', (o) =>
      seen.push(`update ${o.metadata?.name} ${JSON.stringify(o.metadata?.labels ?? {})}`),
    );
    inf.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    inf.on('error', (e) => errors.push(e));
    const watching = server.nextWatch('services');
    await inf.start();
    await within(5000, 'the informer watch', watching);
    return { inf, seen, errors };
  }

  function seedService(ns: string, name: string, labels: Record<string, string> = {}) {
    return server.seed(bareService(ns, name, labels));
  }

  it('delivers add, update and delete to the handlers', async () => {
    seedService('inf1', 'a');
    const { inf, seen } = await informer('inf1');
    try {
      await seen.until((e) => e.includes('add a'), 'initial add');
      seedService('inf1', 'b');
      seedService('inf1', 'a', { v: '2' });
      server.remove('services', 'inf1', 'b');
      await seen.until((e) => e.includes('delete b'), 'delete b');
      assert.deepEqual(seen.events, ['add a', 'add b', 'update a {"v":"2"}', 'delete b']);
    } finally {
      await inf.stop();
    }
  });

  it('resumes from its resourceVersion after a watch is cut, missing nothing and not relisting', async () => {
    seedService('inf2', 'a');
    const { inf, seen, errors } = await informer('inf2');
    try {
      await seen.until((e) => e.includes('add a'), 'initial add');
      const lists = server.requestCount('list', 'services');
      const rewatch = server.nextWatch('services');
      assert.equal(server.cutWatches('end'), 1);
      // These land while no watch is open: the new watch must replay them from history.
      seedService('inf2', 'b');
      seedService('inf2', 'a', { v: '2' });
      await within(5000, 'the informer to watch again', rewatch);
      seedService('inf2', 'c');
      await seen.until((e) => e.includes('add c'), 'add c after the cut');
      assert.deepEqual(seen.events, ['add a', 'add b', 'update a {"v":"2"}', 'add c']);
      assert.equal(server.requestCount('list', 'services'), lists, 'no relist after a clean cut');
      assert.deepEqual(errors, []);
    } finally {
      await inf.stop();
    }
  });

  it('relists after 410 Gone and reconciles what changed meanwhile, deletions included', async () => {
    seedService('inf3', 'keep');
    seedService('inf3', 'doomed');
    const { inf, seen, errors } = await informer('inf3');
    try {
      await seen.until((e) => e.includes('add doomed'), 'initial adds');
      const lists = server.requestCount('list', 'services');
      server.cutWatches('end');
      server.remove('services', 'inf3', 'doomed');
      seedService('inf3', 'keep', { v: '2' });
      seedService('inf3', 'new');
      // The informer's resourceVersion is now older than any kept history: its watch gets 410.
      server.compact();
      await seen.until((e) => e.includes('add new'), 'the relist');
      assert.equal(server.requestCount('list', 'services'), lists + 1, 'exactly one relist');
      assert.deepEqual(
        new Set(seen.events.slice(2)),
        new Set(['delete doomed', 'update keep {"v":"2"}', 'add new']),
      );
      assert.deepEqual(errors, []);
      assert.deepEqual(
        inf
          .list()
          .map((s) => s.metadata?.name)
          .sort(),
        ['keep', 'new'],
      );
    } finally {
      await inf.stop();
    }
  });

  it('reports an error and stops when a watch connection is dropped (the edge kube-source restarts)', async () => {
    seedService('inf4', 'a');
    const { inf, seen, errors } = await informer('inf4');
    const failed = new Promise<unknown>((resolve) => inf.on('error', resolve));
    try {
      await seen.until((e) => e.includes('add a'), 'initial add');
      server.cutWatches('destroy');
      const err = await within(5000, 'the informer error', failed);
      assert.ok(err instanceof Error);
      assert.equal(errors.length, 1);
      assert.equal(server.openWatches('services'), 0, 'the informer did not reconnect by itself');
    } finally {
      await inf.stop();
    }
  });
});
