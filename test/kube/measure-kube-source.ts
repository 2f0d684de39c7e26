/**
 * Measures KubeSource against the fake API server with the real client: first-sync time for a
 * cluster of a given size, change-to-announcement latency, and the cost of a 410 relist. Not a test
 * (no timing is asserted anywhere); run it by hand:
 *
 *   node --import tsx test/kube/measure-kube-source.ts [services=2000] [changes=200]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKubeConfig, makeKubeClients } from '../../controller/sources/kube/client.ts';
import { KubeSource } from '../../controller/sources/kube/source.ts';
import { silentLogger } from '../../shared/log.ts';
import { FakeApiServer } from '../fake-apiserver/fake-apiserver.ts';

const services = Number(process.argv[2] ?? 2000);
const changes = Number(process.argv[3] ?? 200);
const nodes = Math.max(1, Math.round(services / 10));

const server = await FakeApiServer.start({ maxHistory: 100_000 });
const dir = await mkdtemp(join(tmpdir(), 'switchyard-measure-'));
try {
  for (let i = 0; i < nodes; i++) {
    server.seed({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: `node-${i}` },
      status: { addresses: [{ type: 'InternalIP', address: `127.1.${i >> 8}.${i & 255}` }] },
    });
  }
  for (let i = 0; i < services; i++) {
    const ns = `ns-${i % 50}`;
    server.seed({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc-${i}`, namespace: ns },
      spec: { type: 'LoadBalancer', ports: [{ port: 80, nodePort: 30000 + (i % 2000), protocol: 'TCP' }] },
    });
    server.seed({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `svc-${i}-x`, namespace: ns, labels: { 'kubernetes.io/service-name': `svc-${i}` } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.0.0.1'], nodeName: `node-${i % nodes}` }],
    });
  }
  const source = new KubeSource({
    clients: makeKubeClients(loadKubeConfig(await server.writeKubeconfig(join(dir, 'kubeconfig')))),
    logger: silentLogger(),
    coalesceMs: 0,
  });
  let waiting: { check: () => boolean; resolve: () => void } | null = null;
  let announcements = 0;
  source.onChange(() => {
    announcements++;
    if (waiting?.check()) waiting.resolve();
  });
  /** Resolves at the first announcement whose snapshot satisfies `check`. */
  const announcedWhen = (check: () => boolean) =>
    new Promise<void>((resolve) => {
      waiting = { check, resolve };
    });

  let t = performance.now();
  void source.start(); // the promise whenSynced() returns, awaited on the next line
  await source.whenSynced();
  const syncMs = performance.now() - t;

  // Change-to-announcement: one Service label change at a time, waiting for the announcement.
  const lat: number[] = [];
  for (let i = 0; i < changes; i++) {
    const key = `ns-${i % 50}/svc-${i}`;
    const seen = announcedWhen(() => source.view().services.get(key)?.labels.v === String(i));
    t = performance.now();
    server.seed({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc-${i}`, namespace: `ns-${i % 50}`, labels: { v: String(i) } },
      spec: { type: 'LoadBalancer', ports: [{ port: 80, nodePort: 30000 + (i % 2000), protocol: 'TCP' }] },
    });
    await seen;
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]!.toFixed(2);

  // 410: drop every watch, move the resourceVersion on with an object nobody watches, compact, and
  // time until all five collections have relisted (none of them changed, so nothing to announce).
  const listsBefore = server.requestCount('list');
  const announcementsBefore = announcements;
  t = performance.now();
  server.cutWatches('destroy');
  server.seed({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'bump', namespace: 'default' } });
  server.compact();
  while (server.requestCount('list') < listsBefore + 5 || server.openWatches() < 5) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const relistMs = performance.now() - t;

  console.log(
    JSON.stringify({
      services,
      endpointSlices: services,
      nodes,
      firstSyncMs: Math.round(syncMs),
      changeToAnnouncementMs: { p50: pct(50), p99: pct(99), max: pct(100), n: lat.length },
      relistAfter410Ms: Math.round(relistMs),
      announcementsFromUnchangedRelist: announcements - announcementsBefore,
      rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
    }),
  );
  await source.stop();
} finally {
  await server.close();
  await rm(dir, { recursive: true, force: true });
}
