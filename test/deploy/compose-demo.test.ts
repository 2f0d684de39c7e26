/**
 * The docker-compose demo's backend and client scripts, run for real on loopback (the compose network
 * itself is never used here).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { REPO } from './repo-files.ts';

const BACKEND = join(REPO, 'examples/compose/backend.mjs');
const CLIENT = join(REPO, 'examples/compose/client.mjs');
const TIMEOUT_MS = 10_000;

interface Ready {
  event: string;
  node: string;
  nodePorts: number[];
  healthPort: number;
}

function httpGet(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, timeout: TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function runScript(script: string, env: Record<string, string>): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [script],
      { env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: TIMEOUT_MS, encoding: 'utf8' },
      (err, stdout) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout }),
    );
  });
}

/** A loopback port that nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  await once(s, 'close');
  return port;
}

describe('compose demo backend and client', { timeout: 6 * TIMEOUT_MS }, () => {
  let backend: ChildProcess | undefined;
  let ready: Ready;

  before(async () => {
    backend = spawn(process.execPath, [BACKEND], {
      env: { NODE_NAME: 'node-7', LISTEN_HOST: '127.0.0.1', PORTS: '0,0', HEALTH_PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: backend.stdout! });
    const [line] = (await once(lines, 'line', { signal: AbortSignal.timeout(TIMEOUT_MS) })) as [string];
    ready = JSON.parse(line) as Ready;
  });

  after(async () => {
    if (backend && backend.exitCode === null && backend.signalCode === null) {
      const exited = once(backend, 'exit');
      backend.kill('SIGKILL');
      await exited;
    }
  });

  it('announces the ports it bound once every server listens', () => {
    assert.equal(ready.event, 'ready');
    assert.equal(ready.node, 'node-7');
    assert.equal(ready.nodePorts.length, 2);
    assert.ok(ready.nodePorts.every((p) => p > 0) && ready.healthPort > 0);
  });

  it('answers on every NodePort with its node name and the port', async () => {
    for (const port of ready.nodePorts) {
      const r = await httpGet(port, '/anything');
      assert.equal(r.status, 200);
      assert.equal(r.body, `hello from node-7 (NodePort ${port}), via 127.0.0.1\n`);
    }
  });

  it('answers /healthz with 200 like kube-proxy, and other paths there with 404', async () => {
    assert.deepEqual(await httpGet(ready.healthPort, '/healthz'), { status: 200, body: 'ok\n' });
    assert.equal((await httpGet(ready.healthPort, '/other')).status, 404);
  });

  it('client makes COUNT requests on fresh connections and exits 0 when all succeed', async () => {
    const port = ready.nodePorts[0]!;
    const r = await runScript(CLIENT, { TARGET: `http://127.0.0.1:${port}/`, COUNT: '3', INTERVAL_MS: '0' });
    assert.equal(r.code, 0);
    assert.deepEqual(
      r.stdout.trim().split('\n'),
      [1, 2, 3].map((i) => `${i} 200 hello from node-7 (NodePort ${port}), via 127.0.0.1`),
    );
  });

  it('client reports refused connections and exits 1', async () => {
    const port = await closedPort();
    const r = await runScript(CLIENT, { TARGET: `http://127.0.0.1:${port}/`, COUNT: '2', INTERVAL_MS: '0' });
    assert.equal(r.code, 1);
    assert.deepEqual(r.stdout.trim().split('\n'), ['1 error ECONNREFUSED', '2 error ECONNREFUSED']);
  });

  it('backend refuses a PORTS value that is not a port list', async () => {
    const r = await runScript(BACKEND, { PORTS: '80,http', LISTEN_HOST: '127.0.0.1' });
    assert.equal(r.code, 2);
  });

  it('backend exits cleanly on SIGTERM, so `docker compose stop` does not wait for a kill', async () => {
    const proc = backend!;
    const exited = once(proc, 'exit', { signal: AbortSignal.timeout(TIMEOUT_MS) });
    proc.kill('SIGTERM');
    const [code, signal] = (await exited) as [number | null, string | null];
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
  });
});
