import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { BIN, runCli } from './run-cli.ts';

/** GET through a VIP with a fresh connection each time (no keep-alive), bounded. */
function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

describe('switchyard run (the npm start demo)', { timeout: 60_000 }, () => {
  it('serves the demo Services through their VIPs, balances web, keeps api sticky, and stops cleanly on Ctrl-C', async () => {
    const child = spawn(process.execPath, [BIN, 'run', '--metrics-address', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    try {
      const deadline = Date.now() + 30_000;
      while (!out.includes('Stop with Ctrl-C.')) {
        assert.ok(Date.now() < deadline, `the demo did not come up: ${out}${err}`);
        assert.equal(child.exitCode, null, `the demo exited: ${out}${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(out, /demo\/web\s+127\.0\.10\.1:8080\s+3\s+curl http:\/\/127\.0\.10\.1:8080\//);

      const web = new Set<string>();
      for (let i = 0; i < 9; i++)
        web.add(/hello from (\S+)/.exec(await get('http://127.0.10.1:8080/'))?.[1] ?? '');
      assert.deepEqual(
        [...web].sort(),
        ['demo-node-1', 'demo-node-2', 'demo-node-3'],
        'round-robin over three nodes',
      );

      const api = new Set<string>();
      for (let i = 0; i < 5; i++)
        api.add(/hello from (\S+)/.exec(await get('http://127.0.10.2:9090/'))?.[1] ?? '');
      assert.equal(api.size, 1, 'ClientIP affinity keeps one client on one node');

      child.kill('SIGINT');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0, err);
      assert.match(out, /Stopped\./);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('exits 2 with one line when a demo NodePort is already taken (a second npm start)', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(30080, '127.0.20.1', resolve));
    try {
      const r = await runCli(['run', '--metrics-address', 'off']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^error: .*127\.0\.20\.1:30080 is already in use: is another `switchyard run`/m);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it('exits 2 with one line naming the file when --config does not exist', async () => {
    const r = await runCli(['run', '--config', 'no-such-manifest.yaml']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: no-such-manifest\.yaml: .*no such file/m);
  });
});
