/**
 * The `--data-plane` choice in a real speaker process: under `--pending-deprecation
 * --throw-deprecation` the first `process.binding` call would crash the process (DEP0111), so
 * `auto` must serve through net.Socket instead, warn, and say so in `/metrics`, in the main thread
 * and in its worker threads alike; and `SWITCHYARD_DATA_PLANE` is the flag's twin.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type Backend,
  freePort,
  listenerDoc,
  loopbackAddress,
  roundTrip,
  startBackend,
  within,
} from './loopback.ts';
import { type SpeakerProc, startSpeakerProcess } from './speaker-process.ts';

describe('--data-plane in the speaker process', () => {
  let dir: string;
  let backend: Backend;
  const running: SpeakerProc[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-data-plane-'));
    backend = await startBackend();
  });
  after(async () => {
    for (const p of running) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A table file with one listener on a fresh loopback VIP in front of the echo backend. */
  async function tableFile(): Promise<{ path: string; vip: string; port: number }> {
    const vip = loopbackAddress();
    const port = await freePort(vip);
    const path = join(dir, `table-${port}.json`);
    const doc = listenerDoc({ vip, port, backends: [{ address: backend.address, nodePort: backend.port }] });
    await writeFile(path, JSON.stringify({ version: 1, listeners: [doc] }));
    return { path, vip, port };
  }

  it('serves through net.Socket under --pending-deprecation --throw-deprecation with auto, warns, and reports it in /metrics', {
    timeout: 60_000,
  }, async () => {
    const t = await tableFile();
    const env = { ...process.env };
    delete env.SWITCHYARD_DATA_PLANE;
    const p = startSpeakerProcess(['--table', t.path, '--workers', '1', '--metrics-address', '127.0.0.1:0'], {
      nodeFlags: ['--pending-deprecation', '--throw-deprecation'],
      env,
    });
    running.push(p);
    const started = await within(40_000, 'the speaker to start', p.waitFor('speaker-started'));
    assert.equal(started['dataPlane'], 'sockets');
    const warning = p.lines.find((l) => l['event'] === 'data-plane-fallback');
    assert.ok(warning, 'a data-plane-fallback warning');
    assert.equal(warning['level'], 40);
    assert.match(JSON.stringify(warning['err']), /pending-deprecation/);
    for (const text of ['first', 'second']) {
      const answer = await within(10_000, 'an answer through the VIP', roundTrip(t.vip, t.port, text));
      assert.deepEqual([answer.data.toString(), answer.error], [text, null]);
    }
    const m = started['metrics'] as { address: string; port: number };
    const scraped = await (await fetch(`http://${m.address}:${m.port}/metrics`)).text();
    assert.match(
      scraped,
      /^switchyard_data_plane_info\{implementation="sockets",reason="self-test-failed"\} 1$/m,
    );
    assert.equal(p.child.exitCode, null, `still running: ${p.stderr}`);
  });

  it('takes SWITCHYARD_DATA_PLANE=sockets as --data-plane sockets, without a warning', {
    timeout: 60_000,
  }, async () => {
    const t = await tableFile();
    const p = startSpeakerProcess(['--table', t.path, '--workers', '0', '--metrics-address', '127.0.0.1:0'], {
      env: { ...process.env, SWITCHYARD_DATA_PLANE: 'sockets' },
    });
    running.push(p);
    const started = await within(40_000, 'the speaker to start', p.waitFor('speaker-started'));
    assert.equal(started['dataPlane'], 'sockets');
    assert.equal(p.lines.filter((l) => l['event'] === 'data-plane-fallback').length, 0);
    const answer = await within(10_000, 'an answer through the VIP', roundTrip(t.vip, t.port, 'hello'));
    assert.equal(answer.data.toString(), 'hello');
    const m = started['metrics'] as { address: string; port: number };
    const scraped = await (await fetch(`http://${m.address}:${m.port}/metrics`)).text();
    assert.match(scraped, /^switchyard_data_plane_info\{implementation="sockets",reason="flag"\} 1$/m);
  });
});
