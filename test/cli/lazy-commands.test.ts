/**
 * `switchyard plan` and `switchyard status` answer like `kubectl`: they never load the data plane,
 * whose Node internals (`process.binding`, libuv handles) live under speaker/forward/. Each run is
 * the real executable under a preload that records every loaded module and every `process.binding`
 * call (record-loads.mjs), so the check holds whether the launcher runs dist/ or the sources.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BIN } from './run-cli.ts';

const PRELOAD = fileURLToPath(new URL('./record-loads.mjs', import.meta.url));
const DATA_PLANE = '/speaker/forward/';
const dir = mkdtempSync(join(tmpdir(), 'sy-lazy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** One CLI run under the recording preload: exit code, stderr and what it loaded. */
function recordedRun(
  name: string,
  args: readonly string[],
): Promise<{ code: number; stderr: string; modules: string[]; bindings: string[] }> {
  const file = join(dir, `${name}.json`);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', PRELOAD, BIN, ...args],
      { timeout: 30_000, encoding: 'utf8', env: { ...process.env, SWITCHYARD_TEST_LOADS_FILE: file } },
      (err, _stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        const { modules, bindings } = JSON.parse(readFileSync(file, 'utf8')) as {
          modules: string[];
          bindings: string[];
        };
        resolve({ code, stderr, modules, bindings });
      },
    );
  });
}

describe('switchyard plan and status load no data plane', { timeout: 90_000 }, () => {
  it('plan on the demo manifest loads nothing under speaker/forward/ and calls no process.binding', async () => {
    const r = await recordedRun('plan', ['plan', '--config', 'examples/demo.yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      r.modules.some((m) => /\/controller\/plan-command\.(ts|js)$/.test(m)),
      'the recorder saw the command module',
    );
    assert.deepEqual(
      r.modules.filter((m) => m.includes(DATA_PLANE)),
      [],
    );
    assert.deepEqual(r.bindings, []);
  });

  it('status (speaker unreachable) loads nothing under speaker/forward/ and calls no process.binding', async () => {
    // Port 1 on loopback refuses at once: the command runs its whole path to the error line.
    const r = await recordedRun('status', ['status', '--url', 'http://127.0.0.1:1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /127\.0\.0\.1:1/);
    assert.ok(
      r.modules.some((m) => /\/bin\/status-command\.(ts|js)$/.test(m)),
      'the recorder saw the command',
    );
    assert.deepEqual(
      r.modules.filter((m) => m.includes(DATA_PLANE)),
      [],
    );
    assert.deepEqual(r.bindings, []);
  });

  it('the recorder sees the data plane where it is loaded (the check can fail): speaker --help', async () => {
    const r = await recordedRun('speaker-help', ['speaker', '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      r.modules.some((m) => m.includes(DATA_PLANE)),
      'speaker --help loads the data plane',
    );
  });
});
