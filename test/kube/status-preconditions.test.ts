/**
 * Status writes carry the resourceVersion their decision was made on (docs/kubernetes.md, "What it
 * writes"). Here the loop decides on a snapshot that a user's edit has overtaken: the edit asks for
 * another IP. The write decided on the stale read must be refused (409) rather than land, and the
 * retried pass, on fresh data, writes the IP the user asked for: the Service never shows the other.
 * Real client, informers and writer against the fake API server, in process.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ObjectSource, TablePublisher } from '../../controller/loop/controller-loop.ts';
import { ControllerLoop } from '../../controller/loop/controller-loop.ts';
import type { ClusterObjects } from '../../controller/loop/reconcile.ts';
import { type KubeClients, loadKubeConfig, makeKubeClients } from '../../controller/sources/kube/client.ts';
import { EventRecorder } from '../../controller/sources/kube/events.ts';
import { KubeOutcomeWriter } from '../../controller/sources/kube/outcome-writer.ts';
import { KubeSource } from '../../controller/sources/kube/source.ts';
import { KubeWriter } from '../../controller/sources/kube/writer.ts';
import { silentLogger } from '../../shared/log.ts';
import { FakeApiServer } from '../fake-apiserver/fake-apiserver.ts';
import { captureLogs } from './log-capture.ts';
import { Recorder } from './recorder.ts';

const REQUESTED = '127.0.40.5';

describe('status writes decided on a stale read', { timeout: 30_000 }, () => {
  let server: FakeApiServer;
  let dir: string;
  let clients: KubeClients;

  before(async () => {
    server = await FakeApiServer.start({ namespaces: ['default', 'switchyard-system'] });
    dir = await mkdtemp(join(tmpdir(), 'switchyard-preconditions-'));
    clients = makeKubeClients(loadKubeConfig(await server.writeKubeconfig(join(dir, 'kubeconfig'))));
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('are refused with 409 and retried on fresh data, so the Service never shows an IP decided on the stale read', async () => {
    server.seed({
      apiVersion: 'switchyard.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'pool', namespace: 'switchyard-system' },
      spec: { addresses: ['127.0.40.0/29'] },
    });
    server.seed({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default' },
      spec: { type: 'LoadBalancer', ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }] },
    });
    const ingress = new Recorder<string>();
    const unsubscribe = server.store.subscribe((e) => {
      if (e.resource.plural !== 'services' || e.object.metadata.name !== 'web') return;
      const status = e.object.status as { loadBalancer?: { ingress?: { ip: string }[] } } | undefined;
      const ips = (status?.loadBalancer?.ingress ?? []).map((i) => i.ip).join(',');
      if (ips !== ingress.events.at(-1)) ingress.push(ips);
    });
    const source = new KubeSource({ clients, logger: silentLogger(), coalesceMs: 10 });
    const { logger, lines } = captureLogs();
    let loop: ControllerLoop | undefined;
    const cleanups: (() => void)[] = [];
    try {
      await source.start();
      const changes = new Recorder<number>();
      const unwatch = source.onChange(() => changes.push(changes.events.length));
      cleanups.push(unwatch);
      const stale = source.snapshot();
      const staleVersion = source.view().services.get('default/web')?.resourceVersion;
      // The user's edit lands after the snapshot the first pass will decide on.
      const edited = await fetch(`${server.url}/api/v1/namespaces/default/services/web`, {
        method: 'PATCH',
        headers: { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/merge-patch+json' },
        body: JSON.stringify({ metadata: { annotations: { 'switchyard.io/loadBalancerIPs': REQUESTED } } }),
      });
      assert.equal(edited.status, 200);
      await changes.until(
        () => source.view().services.get('default/web')?.resourceVersion !== staleVersion,
        'the informers to see the edit',
      );
      let first = true;
      const staleOnce: ObjectSource = {
        start: () => source.start(),
        snapshot: (): ClusterObjects => {
          if (!first) return source.snapshot();
          first = false;
          return stale;
        },
        onChange: (l) => source.onChange(l),
        stop: async () => {},
      };
      const publisher: TablePublisher = { publish: async () => {} };
      loop = new ControllerLoop({
        source: staleOnce,
        writer: new KubeOutcomeWriter({
          writer: new KubeWriter({ clients, logger: silentLogger() }),
          recorder: new EventRecorder({ clients, logger: silentLogger(), instance: 'test' }),
          view: () => source.view(),
          logger: silentLogger(),
        }),
        publisher,
        logger,
        debounceMs: 10,
      });
      await loop.start();
      await ingress.until((i) => i.includes(REQUESTED), `web to show ${REQUESTED}`, 10_000);
      assert.deepEqual(
        ingress.events.filter((ips) => ips !== ''),
        [REQUESTED],
        'no other IP was ever written',
      );
      const conflict = lines.events.find((l) => l.event === 'reconcile-failed');
      assert.match(JSON.stringify(conflict?.err ?? null), /409/, 'the stale write was refused with 409');
    } finally {
      await loop?.stop();
      for (const c of cleanups) c();
      unsubscribe();
      await source.stop();
    }
  });
});
