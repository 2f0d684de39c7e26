import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StatusReport } from '../../shared/status-model.ts';
import { runCli } from '../cli/run-cli.ts';
import { eventually } from '../store/await-events.ts';
import { type Child, exchange, freePort, startSwitchyard, statusManifest } from './status-fixture.ts';

const VIPS = ['127.0.12.1', '127.0.12.2'];
const NODES = [
  { name: 'st-n1', address: '127.0.22.1' },
  { name: 'st-n2', address: '127.0.22.2' },
];

describe('switchyard status against switchyard run (single process)', { timeout: 90_000 }, () => {
  let dir: string;
  let run: Child;
  let url: string;
  const made = 4;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sy-status-'));
    const port = await freePort(VIPS[0]);
    const file = join(dir, 'manifest.yaml');
    await writeFile(
      file,
      statusManifest({ pool: '127.0.12.1-127.0.12.9', vips: VIPS, port, nodes: NODES, firstNodePort: 30111 }),
    );
    const metricsPort = await freePort();
    url = `http://127.0.0.1:${metricsPort}`;
    run = startSwitchyard([
      'run',
      '--config',
      file,
      '--demo-backends',
      '--workers',
      '0',
      '--metrics-address',
      `127.0.0.1:${metricsPort}`,
    ]);
    await run.waitFor(/Stop with Ctrl-C\./, 30_000);
    for (let i = 0; i < made; i++) {
      assert.match(await exchange(VIPS[0]!, port, 'GET / HTTP/1.0\r\n\r\n'), /hello from st-n/);
    }
    // Each backend's first probe is jittered over the first second; until it ends, health reads
    // `unknown`. The report is asserted once every backend has been probed, not at whatever moment
    // a loaded machine reaches the assertions.
    await eventually(
      async () => {
        const report = (await (await fetch(`${url}/status`)).json()) as StatusReport;
        return report.listeners.every((l) => l.backends.every((b) => b.health !== 'unknown'));
      },
      10_000,
      'every backend to have been probed',
      50,
    );
  });
  after(async () => {
    await run?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('prints listeners with the local owner, backends up and the connections made, then the pool and the speaker', async () => {
    const r = await runCli(['status', '--url', url], 15_000);
    assert.equal(r.code, 0, r.stderr);
    const row = /^st\/svc-1\s+127\.0\.12\.1:\d+\s+(\S+)\s+st-n1:up st-n2:up\s+\d+\s+(\d+)\s/m;
    const m = row.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.ok(Number(m[2]) >= made, `TOTAL ${m[2]} >= ${made}`);
    const owner = m[1]!;
    assert.match(r.stdout, /^st\/svc-2\s+127\.0\.12\.2:\d+\s+\S+\s+st-n1:up st-n2:up\s+0\s+0\s+0 B\s+0 B$/m);
    assert.match(r.stdout, /^status-pool\s+2\s+7\s+0\s+0$/m);
    assert.match(
      r.stdout,
      new RegExp(`^${owner}\\s+127\\.0\\.0\\.1\\s+run\\s+\\d+s\\s+2$`, 'm'),
      'the owner is the local node',
    );
  });

  it('prints the same report as JSON with -o json', async () => {
    const r = await runCli(['status', '--url', url, '-o', 'json'], 15_000);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as StatusReport;
    assert.equal(report.source, 'run');
    assert.deepEqual(
      report.listeners.map((l) => `${l.service} ${l.vip}`),
      ['st/svc-1 127.0.12.1', 'st/svc-2 127.0.12.2'],
    );
    const [first] = report.listeners;
    assert.equal(first?.owner, report.speakers[0]?.node);
    assert.deepEqual(
      first?.backends.map((b) => b.health),
      ['up', 'up'],
    );
    assert.ok((first?.connections?.total ?? 0) >= made);
    assert.ok((first?.connections?.bytesIn ?? 0) > 0 && (first?.connections?.bytesOut ?? 0) > 0);
    assert.deepEqual(report.pools, [
      { name: 'status-pool', assignedIPv4: 2, availableIPv4: 7, assignedIPv6: 0, availableIPv6: 0 },
    ]);
  });

  it('exits 1 with one line naming the URL when nothing answers there', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const r = await runCli(['status', '--url', closed], 15_000);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0]!,
      /nothing answers at http:\/\/127\.0\.0\.1:\d+\/status.*is `switchyard run` or a speaker running\?/,
    );
  });

  it('exits 2 with one line when --url is not an http URL, or is given with --redis-url', async () => {
    const bad = await runCli(['status', '--url', 'ftp://x'], 15_000);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: switchyard status: --url=ftp:\/\/x: must be an http:\/\/ URL/m);
    const both = await runCli(['status', '--url', url, '--redis-url', 'redis://127.0.0.1:1'], 15_000);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /not both/);
  });
});
