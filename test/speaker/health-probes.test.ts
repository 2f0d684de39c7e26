import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { probeHttp } from '../../speaker/health/http-probe.ts';
import { probeTcp } from '../../speaker/health/tcp-probe.ts';
import {
  closedPort,
  type ScriptedHealthServer,
  type SilentServer,
  startHealthServer,
  startSilentServer,
} from './health-servers.ts';

const HOST = '127.0.0.1';

describe('HTTP probe', { timeout: 10_000 }, () => {
  let ok: ScriptedHealthServer;
  let unavailable: ScriptedHealthServer;
  let v6: ScriptedHealthServer;
  let silent: SilentServer;
  let streaming: Server;

  before(async () => {
    ok = await startHealthServer(HOST, [200]);
    unavailable = await startHealthServer(HOST, [503]);
    v6 = await startHealthServer('::1', [200]);
    silent = await startSilentServer(HOST);
    // 200 and then a body that never ends: the probe must not wait for it.
    streaming = createServer((_req, res) => {
      res.writeHead(200);
      res.write(Buffer.alloc(64 * 1024, 'x'));
    });
    await new Promise<void>((resolve) => streaming.listen(0, HOST, resolve));
  });

  after(async () => {
    streaming.closeAllConnections();
    await Promise.all([
      ok.close(),
      unavailable.close(),
      v6.close(),
      silent.close(),
      new Promise((resolve) => streaming.close(resolve)),
    ]);
  });

  it('is a success on 200 and sends GET path with Connection: close', async () => {
    const outcome = await probeHttp({ address: HOST, port: ok.port, path: '/healthz' }, 2000);
    assert.deepEqual(outcome, { result: 'success', reason: 'HTTP 200' });
    assert.deepEqual(ok.requests, ['/healthz']);
    assert.deepEqual(ok.connectionHeaders, ['close']);
  });

  it('is a failure on 503 (kube-proxy on a node without local endpoints)', async () => {
    const outcome = await probeHttp({ address: HOST, port: unavailable.port, path: '/healthz' }, 2000);
    assert.deepEqual(outcome, { result: 'failure', reason: 'HTTP 503' });
  });

  it('is an error naming ECONNREFUSED when nothing listens', async () => {
    const port = await closedPort(HOST);
    const outcome = await probeHttp({ address: HOST, port, path: '/healthz' }, 2000);
    assert.deepEqual(outcome, { result: 'error', reason: 'ECONNREFUSED' });
  });

  it('times out on a server that accepts and never answers, and closes the connection', async () => {
    const accepted = silent.nextConnection();
    const outcome = await probeHttp({ address: HOST, port: silent.port, path: '/healthz' }, 150);
    assert.equal(outcome.result, 'timeout');
    const socket = await accepted;
    if (!socket.closed) await new Promise((resolve) => socket.once('close', resolve));
    assert.ok(socket.closed);
  });

  it('reaches an IPv6 node on ::1', async () => {
    const outcome = await probeHttp({ address: '::1', port: v6.port, path: '/readyz' }, 2000);
    assert.equal(outcome.result, 'success');
    assert.deepEqual(v6.requests, ['/readyz']);
  });

  it('decides on the status once the body passes the cap, without waiting for its end', async () => {
    const port = (streaming.address() as AddressInfo).port;
    const outcome = await probeHttp({ address: HOST, port, path: '/healthz' }, 5000);
    assert.equal(outcome.result, 'success');
  });

  it('resolves as aborted and closes the connection when its signal aborts', async () => {
    const accepted = silent.nextConnection();
    const ac = new AbortController();
    const probe = probeHttp({ address: HOST, port: silent.port, path: '/healthz' }, 5000, ac.signal);
    const socket = await accepted;
    ac.abort();
    assert.deepEqual(await probe, { result: 'error', reason: 'aborted' });
    if (!socket.closed) await new Promise((resolve) => socket.once('close', resolve));
    assert.ok(socket.closed);
  });
});

describe('TCP probe', { timeout: 10_000 }, () => {
  let silent: SilentServer;
  before(async () => {
    silent = await startSilentServer(HOST);
  });
  after(() => silent.close());

  it('succeeds on connect and closes the socket at once', async () => {
    const accepted = silent.nextConnection();
    const outcome = await probeTcp({ address: HOST, port: silent.port }, 2000);
    assert.deepEqual(outcome, { result: 'success', reason: 'connected' });
    const socket = await accepted;
    if (!socket.closed) await new Promise((resolve) => socket.once('close', resolve));
    assert.ok(socket.closed);
  });

  it('is an error naming ECONNREFUSED when nothing listens', async () => {
    const port = await closedPort(HOST);
    assert.deepEqual(await probeTcp({ address: HOST, port }, 2000), {
      result: 'error',
      reason: 'ECONNREFUSED',
    });
  });

  it('reaches an IPv6 node on ::1', async () => {
    const v6 = await startSilentServer('::1');
    try {
      assert.equal((await probeTcp({ address: '::1', port: v6.port }, 2000)).result, 'success');
    } finally {
      await v6.close();
    }
  });
});
