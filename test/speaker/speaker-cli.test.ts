import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type Backend,
  collect,
  connectClient,
  freePort,
  listenerDoc,
  loopbackAddress,
  silentClient,
  startBackend,
  within,
} from './loopback.ts';
import { type SpeakerProc, startSpeakerProcess } from './speaker-process.ts';

describe('switchyard speaker (the real process)', () => {
  let dir: string;
  let backend: Backend;
  const running: SpeakerProc[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'));
    backend = await startBackend();
  });
  after(async () => {
    for (const p of running) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 2 at start-up with one line per problem of a bad table', { timeout: 30_000 }, async () => {
    const path = join(dir, 'bad.yaml');
    await writeFile(
      path,
      'listeners:\n  - service: default/web\n    vip: 10.0.0.300\n    port: 70000\n    backends: []\n',
    );
    const p = startSpeakerProcess(['--table', path, '--workers', '0', '--metrics-address', 'off']);
    running.push(p);
    assert.equal(await within(25_000, 'the speaker to exit', p.exited), 2);
    const errors = p.stderr.trim().split('\n');
    assert.equal(errors.length, 2, p.stderr);
    assert.match(errors[0]!, /^error: .*listeners\[0\]\.vip="10\.0\.0\.300".*\[table\.invalid-vip\]$/);
    assert.match(errors[1]!, /^error: .*listeners\[0\]\.port=70000.*\[table\.invalid-port\]$/);
  });

  it('re-applies on SIGHUP, then drains on SIGTERM with worker threads: refuses new clients, lets open ones finish, exits 0', {
    timeout: 60_000,
  }, async () => {
    const vip = loopbackAddress();
    const port = await freePort(vip);
    const path = join(dir, 'table.json');
    await writeFile(
      path,
      JSON.stringify({
        version: 7,
        listeners: [
          listenerDoc({ vip, port, backends: [{ address: backend.address, nodePort: backend.port }] }),
        ],
      }),
    );
    const p = startSpeakerProcess([
      '--table',
      path,
      '--workers',
      '2',
      '--drain-timeout',
      '20s',
      '--metrics-address',
      '127.0.0.1:0',
    ]);
    running.push(p);
    const started = await within(40_000, 'the speaker to start', p.waitFor('speaker-started'));
    assert.equal(started['workers'], 2);
    const metrics = started['metrics'] as { address: string; port: number };

    const open = await connectClient(vip, port);
    open.write('before');
    assert.equal(((await once(open, 'data')) as [Buffer])[0].toString(), 'before');
    const scraped = await (await fetch(`http://${metrics.address}:${metrics.port}/metrics`)).text();
    assert.match(scraped, /^switchyard_table_version 7$/m);
    assert.match(scraped, /^switchyard_listener_connections_active\{[^}]*\} 1$/m);

    p.child.kill('SIGHUP');
    const reapplied = await within(10_000, 'SIGHUP to re-apply the table', p.waitFor('table-applied', 2));
    assert.equal(reapplied['reason'], 'sighup');
    open.write('after SIGHUP');
    assert.equal(((await once(open, 'data')) as [Buffer])[0].toString(), 'after SIGHUP');

    p.child.kill('SIGTERM');
    await within(10_000, 'the drain to start', p.waitFor('speaker-drain'));
    // Each worker has closed its listening socket once it logs the drain of the listener.
    await within(10_000, 'both workers to stop accepting', p.waitFor('listener-drain', 2));
    const refused = await within(5000, 'a new client during the drain', silentClient(vip, port));
    assert.equal(refused.error, 'ECONNREFUSED');
    assert.equal(p.child.exitCode, null, 'still running while a connection is open');
    const ending = collect(open);
    open.write('during drain');
    open.end();
    assert.equal((await within(5000, 'the last answer', ending)).data.toString(), 'during drain');
    assert.equal(await within(10_000, 'the speaker to exit', p.exited), 0);
  });
});
