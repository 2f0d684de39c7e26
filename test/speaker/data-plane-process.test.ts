/**
 * The `--data-plane` choice in a real speaker process: under `--pending-deprecation
 * --throw-deprecation` the first `process.binding` call would crash the process (DEP0111), so
 * `auto` must serve through net.Socket instead, warn, and say so in `/metrics`, in the main thread
 * and in its worker threads alike; and `SWITCHYARD_DATA_PLANE` is the flag's twin.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
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

const root = resolve(import.meta.dirname, '../..');
const node = join(root, 'node_modules/.bin/node');
const bin = join(root, 'bin/switchyard.mjs');

/** A speaker process and its NDJSON log lines so far; `started` resolves with `speaker-started`. */
function speaker(nodeFlags: string[], args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child: ChildProcess = spawn(node, [...nodeFlags, bin, 'speaker', ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const started = new Promise<Record<string, unknown>>((res, rej) => {
    let buffered = '';
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) {
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          lines.push(parsed);
          if (parsed['event'] === 'speaker-started') res(parsed);
        } catch {
          // Not a log line.
        }
      }
    });
    child.once('exit', (code) => rej(new Error(`speaker exited with ${code} before starting: ${stderr}`)));
  });
  return { child, lines, started, stderr: () => stderr };
}

describe('--data-plane in the speaker process', () => {
  let dir: string;
  let backend: Backend;
  const children: ChildProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-data-plane-'));
    backend = await startBackend();
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
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
    const p = speaker(
      ['--pending-deprecation', '--throw-deprecation'],
      ['--table', t.path, '--workers', '1', '--metrics-address', '127.0.0.1:0'],
      env,
    );
    children.push(p.child);
    const started = await within(40_000, 'the speaker to start', p.started);
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
    assert.equal(p.child.exitCode, null, `still running: ${p.stderr()}`);
  });

  it('takes SWITCHYARD_DATA_PLANE=sockets as --data-plane sockets, without a warning', {
    timeout: 60_000,
  }, async () => {
    const t = await tableFile();
    const p = speaker([], ['--table', t.path, '--workers', '0', '--metrics-address', '127.0.0.1:0'], {
      ...process.env,
      SWITCHYARD_DATA_PLANE: 'sockets',
    });
    children.push(p.child);
    const started = await within(40_000, 'the speaker to start', p.started);
    assert.equal(started['dataPlane'], 'sockets');
    assert.equal(p.lines.filter((l) => l['event'] === 'data-plane-fallback').length, 0);
    const answer = await within(10_000, 'an answer through the VIP', roundTrip(t.vip, t.port, 'hello'));
    assert.equal(answer.data.toString(), 'hello');
    const m = started['metrics'] as { address: string; port: number };
    const scraped = await (await fetch(`http://${m.address}:${m.port}/metrics`)).text();
    assert.match(scraped, /^switchyard_data_plane_info\{implementation="sockets",reason="flag"\} 1$/m);
  });
});
