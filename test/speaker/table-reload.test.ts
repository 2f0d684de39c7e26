import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LocalPlane } from '../../speaker/plane/local-plane.ts';
import type { Speaker } from '../../speaker/speaker.ts';
import { startTestSpeaker } from '../harness/speaker.ts';
import { dataPlaneUnderTest } from './forwarder-fixture.ts';
import {
  type Backend,
  collect,
  connectClient,
  freePort,
  listenerDoc,
  loopbackAddress,
  silentClient,
  startBackend,
  table,
  within,
} from './loopback.ts';
import { RecordingHealth } from './recording-health.ts';

/** Replace the table file the way deployment tools do: write elsewhere, rename over it. */
async function writeAtomically(path: string, doc: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(doc, null, 2));
  await rename(tmp, path);
}

/** Send one message on an open connection and expect it echoed. */
async function echoes(s: Socket, text: string): Promise<void> {
  s.write(text);
  let got = '';
  while (got.length < text.length) {
    const [d] = (await within(5000, `echo of ${text}`, once(s, 'data'))) as [Buffer];
    got += d.toString();
  }
  assert.equal(got, text);
}

async function scrape(speaker: Speaker): Promise<string> {
  const at = speaker.metricsAddress!;
  const res = await fetch(`http://${at.address}:${at.port}/metrics`);
  return res.text();
}

describe('table file reloads', () => {
  let dir: string;
  let path: string;
  let speaker: Speaker;
  let backend1: Backend;
  let backend2: Backend;
  let vipA: string;
  let vipB: string;
  let portA: number;
  let portB: number;
  let version = 1;
  const health = new RecordingHealth();

  const listenerA = (backend: Backend) =>
    listenerDoc({
      service: 'default/a',
      vip: vipA,
      port: portA,
      backends: [{ address: backend.address, nodePort: backend.port }],
    });
  const listenerB = (extra: Record<string, unknown> = {}) =>
    listenerDoc({
      service: 'default/b',
      vip: vipB,
      port: portB,
      backends: [{ address: backend1.address, nodePort: backend1.port }],
      ...extra,
    });

  /** Write a new table and wait until the speaker has applied (or refused) it. */
  async function publish(doc: unknown): Promise<'applied' | 'refused'> {
    const outcome = Promise.race([
      once(speaker.events, 'applied').then(() => 'applied' as const),
      once(speaker.events, 'refused').then(() => 'refused' as const),
    ]);
    await writeAtomically(path, doc);
    return within(5000, 'the speaker to notice the new table', outcome);
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-reload-'));
    path = join(dir, 'table.json');
    backend1 = await startBackend();
    backend2 = await startBackend();
    vipA = loopbackAddress();
    vipB = loopbackAddress();
    portA = await freePort(vipA);
    portB = await freePort(vipB);
    await writeAtomically(path, { version, listeners: [listenerA(backend1), listenerB()] });
    speaker = await startTestSpeaker({
      tablePath: path,
      dataPlane: dataPlaneUnderTest(),
      drainTimeoutMs: 1000,
      metricsAt: { host: '127.0.0.1', port: 0 },
      health,
      debounceMs: 30,
    });
  });

  after(async () => {
    await speaker.stop();
    await backend1.close();
    await backend2.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps a long-lived connection through an unrelated change, on the same listener', {
    timeout: 10_000,
  }, async () => {
    const forwarder = (speaker.plane as LocalPlane).forwarder;
    const keyA = `${vipA}:${portA}/TCP`;
    const runtimeBefore = forwarder.listener(keyA);
    const client = await connectClient(vipA, portA);
    await echoes(client, 'before');
    version++;
    assert.equal(
      await publish({ version, listeners: [listenerA(backend1), listenerB({ maxConnections: 10 })] }),
      'applied',
    );
    assert.equal(speaker.table?.version, version);
    assert.equal(forwarder.listener(keyA), runtimeBefore, 'listener A was not rebuilt');
    await echoes(client, 'after');
    client.destroy();
  });

  it('gives a changed listener new backends without rebinding; open connections stay', {
    timeout: 10_000,
  }, async () => {
    const forwarder = (speaker.plane as LocalPlane).forwarder;
    const keyA = `${vipA}:${portA}/TCP`;
    const runtimeBefore = forwarder.listener(keyA);
    const old = await connectClient(vipA, portA);
    await echoes(old, 'old');
    const onBackend2 = backend2.sockets.length;
    version++;
    assert.equal(await publish({ version, listeners: [listenerA(backend2), listenerB()] }), 'applied');
    assert.equal(forwarder.listener(keyA), runtimeBefore, 'same listener, not rebound');
    const fresh = await connectClient(vipA, portA);
    await echoes(fresh, 'fresh');
    assert.equal(backend2.sockets.length, onBackend2 + 1, 'the new connection went to the new backend');
    await echoes(old, 'still on the old backend');
    old.destroy();
    fresh.destroy();
  });

  it('refuses a bad table whole and keeps serving the last good one', { timeout: 10_000 }, async () => {
    const before = speaker.table?.version;
    const good = listenerA(backend2);
    assert.equal(
      await publish({ version: version + 1, listeners: [good, { ...listenerB(), vip: '10.0.0.300' }] }),
      'refused',
    );
    assert.equal(speaker.table?.version, before);
    const client = await connectClient(vipA, portA);
    await echoes(client, 'still served');
    client.destroy();
    assert.match(await scrape(speaker), /^switchyard_table_refusals_total 1$/m);
  });

  it('drains a removed listener: no new clients, open ones finish, then they are closed', {
    timeout: 10_000,
  }, async () => {
    const open = await connectClient(vipB, portB);
    await echoes(open, 'before removal');
    const openEnding = collect(open);
    version++;
    const doc = { version, listeners: [listenerA(backend2)], defaults: {} };
    // Removal drains for the removed listener's own drain time (set short here, but long enough
    // for the refused client and the echo below to fit in it on a loaded machine).
    await publish({ ...doc, listeners: [listenerA(backend2), listenerB({ timeouts: { drain: '1500ms' } })] });
    version++;
    assert.equal(await publish({ ...doc, version }), 'applied');
    const refused = await within(2000, 'new client of the removed listener', silentClient(vipB, portB));
    assert.equal(refused.error, 'ECONNREFUSED');
    await echoes(open, 'while draining');
    await within(5000, 'open connection to be closed at the end of the drain', openEnding);
  });

  it('serves the data-plane series on /metrics, counted in the forwarding thread', {
    timeout: 10_000,
  }, async () => {
    health.set(`tcp://${backend2.address}:${backend2.port}`, 'healthy');
    const client = await connectClient(vipA, portA);
    await echoes(client, 'metered');
    const text = await scrape(speaker);
    client.destroy();
    const listener = `listener="${vipA}:${portA}/TCP",service="default/a"`;
    assert.match(text, new RegExp(`^switchyard_listener_connections_active\\{${listener}\\} 1$`, 'm'));
    const total = Number(
      new RegExp(`^switchyard_listener_connections_total\\{${listener}\\} (\\d+)$`, 'm').exec(text)?.[1],
    );
    assert.ok(total >= 4, `connections_total ${total}`);
    for (const series of [
      `switchyard_listener_bytes_total{${listener},direction="to_backend"}`,
      `switchyard_listener_bytes_total{${listener},direction="to_client"}`,
      `switchyard_listener_rejected_total{${listener},reason="no-backend"} 0`,
      `switchyard_connect_failures_total{${listener}} 0`,
      `switchyard_connect_retries_total{${listener}} 0`,
      `switchyard_listener_timeouts_total{${listener},kind="idle"} 0`,
      `switchyard_listener_bound{${listener}} 1`,
      `switchyard_table_applies_total `,
      `switchyard_backend_health_state{target="tcp://${backend2.address}:${backend2.port}",state="healthy"} 1`,
      `switchyard_backend_health_state{target="tcp://${backend2.address}:${backend2.port}",state="unhealthy"} 0`,
    ]) {
      assert.ok(text.includes(series), `missing ${series}`);
    }
  });

  it('reports a listener it cannot bind, serves the others, and binds it on the next apply', {
    timeout: 10_000,
  }, async () => {
    const vipC = loopbackAddress();
    const portC = await freePort(vipC);
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen({ host: vipC, port: portC }, resolve));
    const listenerC = listenerDoc({
      service: 'default/c',
      vip: vipC,
      port: portC,
      backends: [{ address: backend1.address, nodePort: backend1.port }],
    });
    version++;
    const applied = once(speaker.events, 'applied');
    await writeAtomically(path, { version, listeners: [listenerA(backend2), listenerC] });
    const [, reports] = (await within(5000, 'apply', applied)) as [
      unknown,
      { key: string; failure: unknown }[],
    ];
    const failed = reports.filter((r) => r.failure !== null).map((r) => r.key);
    assert.deepEqual(failed, [`${vipC}:${portC}/TCP`]);
    const client = await connectClient(vipA, portA);
    await echoes(client, 'A is unaffected');
    client.destroy();
    assert.match(
      await scrape(speaker),
      /^switchyard_listener_bind_failures_total\{[^}]*service="default\/c"\} 1$/m,
    );

    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    assert.equal(await speaker.reload('sighup', true), 'applied');
    const c = await connectClient(vipC, portC);
    await echoes(c, 'C is bound now');
    c.destroy();
  });

  it('serves a table handed to it directly, as a store subscriber would', { timeout: 10_000 }, async () => {
    version++;
    const applied = once(speaker.events, 'applied');
    await speaker.serve(table([listenerA(backend1)], version), 'store');
    await applied;
    assert.equal(speaker.table?.version, version);
    const client = await connectClient(vipA, portA);
    await echoes(client, 'from the store');
    client.destroy();
  });
});
