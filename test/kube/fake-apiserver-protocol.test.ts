/**
 * The wire protocol of the fake API server, checked with raw HTTP where a client library would hide
 * it: watch framing, bookmarks, in-stream 410, watch timeouts, unavailability, paging, Status bodies.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { FakeApiServer } from '../fake-apiserver/fake-apiserver.ts';
import { bareService } from '../harness/service.ts';
import { within } from '../harness/wait.ts';
import { Recorder } from './recorder.ts';

interface WireEvent {
  type: string;
  object: {
    kind?: string;
    code?: number;
    reason?: string;
    metadata?: { name?: string; resourceVersion?: string };
  };
}

describe('fake API server protocol', { timeout: 60_000 }, () => {
  let server: FakeApiServer;
  const open = new Set<{ destroy: () => void }>();

  before(async () => {
    server = await FakeApiServer.start({ bookmarkIntervalMs: 50 });
  });
  after(async () => {
    for (const o of open) o.destroy();
    await server.close();
  });

  async function call(method: string, path: string, body?: unknown, contentType = 'application/json') {
    const res = await fetch(server.url + path, {
      method,
      headers: { Authorization: `Bearer ${server.token}`, 'Content-Type': contentType },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return {
      code: res.status,
      body: (await res.json()) as Record<string, unknown> & { metadata?: Record<string, unknown> },
    };
  }

  /** Open a raw watch; resolves when the response headers arrive, then records one event per line. */
  async function watch(path: string) {
    const req = request(server.url + path, { headers: { Authorization: `Bearer ${server.token}` } });
    open.add(req);
    req.end();
    const [res] = (await within(5000, 'watch headers', once(req, 'response'))) as [
      import('node:http').IncomingMessage,
    ];
    const events = new Recorder<WireEvent>();
    // A dropped connection is an outcome some tests want: record it rather than reject.
    res.on('error', () => {});
    const ended = new Promise<void>((resolve) => res.on('end', resolve));
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        events.push(JSON.parse(buf.slice(0, i)) as WireEvent);
        buf = buf.slice(i + 1);
      }
    });
    return { res, events, ended, close: () => req.destroy() };
  }

  function svc(ns: string, name: string, labels: Record<string, string> = {}) {
    return server.seed(bareService(ns, name, labels));
  }

  it('sends watch headers at once, chunked, then one JSON event per line', async () => {
    const rv = server.store.resourceVersion;
    const w = await watch(`/api/v1/namespaces/p1/services?watch=1&resourceVersion=${rv}`);
    assert.equal(w.res.statusCode, 200);
    assert.equal(w.res.headers['transfer-encoding'], 'chunked');
    assert.equal(w.res.headers['content-type'], 'application/json');
    assert.equal(w.events.events.length, 0, 'headers came before any event');
    svc('p1', 'a');
    svc('p1', 'a', { x: 'y' });
    server.remove('services', 'p1', 'a');
    await w.events.until((e) => e.length === 3, 'three events');
    assert.deepEqual(
      w.events.events.map((e) => `${e.type} ${e.object.metadata?.name}`),
      ['ADDED a', 'MODIFIED a', 'DELETED a'],
    );
    const rvs = w.events.events.map((e) => Number(e.object.metadata?.resourceVersion));
    assert.ok(rvs[0]! > rv && rvs[0]! < rvs[1]! && rvs[1]! < rvs[2]!, `increasing resourceVersions ${rvs}`);
    w.close();
  });

  it('starts a watch without resourceVersion with ADDED for every existing object', async () => {
    svc('p2', 'one');
    svc('p2', 'two');
    const w = await watch('/api/v1/namespaces/p2/services?watch=true');
    await w.events.until((e) => e.length === 2, 'synthetic ADDED events');
    assert.deepEqual(
      w.events.events.map((e) => `${e.type} ${e.object.metadata?.name}`),
      ['ADDED one', 'ADDED two'],
    );
    w.close();
  });

  it('turns a label change into ADDED/DELETED for a watch selecting on labels', async () => {
    svc('p3', 'x', { app: 'no' });
    const w = await watch(
      `/api/v1/services?watch=1&labelSelector=app%3Dweb&resourceVersion=${server.store.resourceVersion}`,
    );
    svc('p3', 'x', { app: 'web' });
    svc('p3', 'x', { app: 'web', v: '2' });
    svc('p3', 'x', { app: 'no' });
    await w.events.until((e) => e.length === 3, 'entry, change and exit');
    assert.deepEqual(
      w.events.events.map((e) => e.type),
      ['ADDED', 'MODIFIED', 'DELETED'],
    );
    w.close();
  });

  it('sends BOOKMARK events carrying the current resourceVersion when bookmarks are allowed', async () => {
    const w = await watch(
      `/api/v1/nodes?watch=1&allowWatchBookmarks=true&resourceVersion=${server.store.resourceVersion}`,
    );
    await w.events.until((e) => e.some((x) => x.type === 'BOOKMARK'), 'a bookmark');
    const b = w.events.events.find((x) => x.type === 'BOOKMARK')!;
    assert.equal(b.object.kind, 'Node');
    assert.equal(b.object.metadata?.resourceVersion, String(server.store.resourceVersion));
    w.close();
  });

  it('answers a watch from a compacted resourceVersion with an in-stream 410 Expired ERROR and ends it', async () => {
    const old = server.store.resourceVersion;
    svc('p4', 'after');
    server.compact();
    const w = await watch(`/api/v1/services?watch=1&resourceVersion=${old}`);
    assert.equal(w.res.statusCode, 200);
    await within(5000, 'the stream to end', w.ended);
    assert.equal(w.events.events.length, 1);
    const [e] = w.events.events;
    assert.equal(e?.type, 'ERROR');
    assert.deepEqual([e?.object.kind, e?.object.code, e?.object.reason], ['Status', 410, 'Expired']);
  });

  it('ends a watch cleanly after timeoutSeconds', async () => {
    // Taken before the request is sent: the server starts its timeout when it handles the request,
    // later than this, so the stream cannot end less than timeoutSeconds after it (give or take the
    // millisecond rounding of timers). Taken after the headers came back instead, it would miss
    // however long they took, which on a loaded machine is more than any slack below the timeout.
    const started = performance.now();
    const w = await watch('/api/v1/nodes?watch=1&timeoutSeconds=1');
    await within(5000, 'the watch timeout', w.ended);
    const lasted = performance.now() - started;
    assert.ok(lasted >= 1000 - 2, `ended ${lasted.toFixed(0)} ms after the request, before the timeout`);
  });

  it('pages a list with limit and continue', async () => {
    for (const n of ['a', 'b', 'c']) svc('p5', n);
    const first = await call('GET', '/api/v1/namespaces/p5/services?limit=2');
    const items = (b: Record<string, unknown>) =>
      (b.items as { metadata: { name: string } }[]).map((i) => i.metadata.name);
    assert.deepEqual(items(first.body), ['a', 'b']);
    assert.equal(first.body.metadata?.remainingItemCount, 1);
    const token = encodeURIComponent(String(first.body.metadata?.continue));
    const second = await call('GET', `/api/v1/namespaces/p5/services?limit=2&continue=${token}`);
    assert.deepEqual(items(second.body), ['c']);
    assert.equal(second.body.metadata?.continue, undefined);
  });

  it('names the generated object, and answers bad input with Status bodies (400, 404, 415, 422)', async () => {
    const made = await call('POST', '/api/v1/namespaces/default/services', {
      metadata: { generateName: 'gen-' },
    });
    assert.equal(made.code, 201);
    assert.match(String(made.body.metadata?.name), /^gen-[a-z0-9]{5}$/);
    const name = String(made.body.metadata?.name);
    const cases = [
      await call('POST', '/api/v1/namespaces/default/services', {
        apiVersion: 'v2',
        metadata: { name: 'x' },
      }),
      await call('GET', '/api/v1/namespaces/default/widgets'),
      await call('PATCH', `/api/v1/namespaces/default/services/${name}`, {}, 'application/apply-patch+yaml'),
      await call(
        'PATCH',
        `/api/v1/namespaces/default/services/${name}`,
        [{ op: 'remove', path: '/spec/nope' }],
        'application/json-patch+json',
      ),
      await call('POST', '/api/v1/namespaces/default/services', { metadata: {} }),
    ];
    assert.deepEqual(
      cases.map((c) => [c.code, c.body.kind, c.body.status, c.body.reason]),
      [
        [400, 'Status', 'Failure', 'BadRequest'],
        [404, 'Status', 'Failure', 'NotFound'],
        [415, 'Status', 'Failure', 'UnsupportedMediaType'],
        [422, 'Status', 'Failure', 'Invalid'],
        [422, 'Status', 'Failure', 'Invalid'],
      ],
    );
  });

  it('refuses a merge patch whose metadata.resourceVersion is stale with 409 Conflict, on the object and its status', async () => {
    const seeded = svc('default', 'precondition');
    const stale = String(seeded.metadata.resourceVersion);
    const merge = 'application/merge-patch+json';
    const path = '/api/v1/namespaces/default/services/precondition';
    const fresh = await call(
      'PATCH',
      path,
      { metadata: { resourceVersion: stale, labels: { a: '1' } } },
      merge,
    );
    assert.equal(fresh.code, 200, 'the current resourceVersion applies');
    const now = String(fresh.body.metadata?.resourceVersion);
    assert.notEqual(now, stale);
    for (const [target, body] of [
      [path, { metadata: { resourceVersion: stale, labels: { a: '2' } } }],
      [`${path}/status`, { metadata: { resourceVersion: stale }, status: { loadBalancer: { ingress: [] } } }],
    ] as const) {
      const r = await call('PATCH', target, body, merge);
      assert.equal(r.code, 409, target);
      assert.deepEqual([r.body.kind, r.body.reason], ['Status', 'Conflict'], target);
    }
    const stored = server.read('services', 'default', 'precondition');
    assert.equal(stored?.metadata.resourceVersion, now, 'nothing was written');
    assert.deepEqual(stored?.metadata.labels, { a: '1' });
  });

  it('counts requests by verb and resource', async () => {
    server.resetCounts();
    await call('GET', '/api/v1/nodes');
    await call('GET', '/api/v1/nodes');
    await call('PATCH', '/api/v1/nodes/none/status', {}, 'application/merge-patch+json');
    assert.equal(server.requestCount('list', 'nodes'), 2);
    assert.equal(server.requestCount('patch', 'nodes/status'), 1);
    assert.equal(server.requestCount(), 3);
  });

  it('answers 503 while unavailable in 503 mode, and serves again after', async () => {
    await server.setUnavailable('503');
    const down = await call('GET', '/api/v1/nodes');
    assert.deepEqual([down.code, down.body.reason], [503, 'ServiceUnavailable']);
    await server.setAvailable();
    assert.equal((await call('GET', '/api/v1/nodes')).code, 200);
  });

  it('refuses connections in refuse mode, drops open watches, and listens again on the same port', async () => {
    const w = await watch('/api/v1/nodes?watch=1');
    const dropped = new Promise((resolve) => w.res.on('close', resolve));
    const url = server.url;
    await server.setUnavailable('refuse');
    await within(5000, 'the watch to drop', dropped);
    await assert.rejects(call('GET', '/api/v1/nodes'), (err: Error) => /fetch failed/.test(err.message));
    await server.setAvailable();
    assert.equal(server.url, url);
    assert.equal((await call('GET', '/api/v1/nodes')).code, 200);
  });
});
