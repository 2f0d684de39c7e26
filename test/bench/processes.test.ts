import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { ProcessSet } from '../../bench/processes.ts';

const procs = new ProcessSet();
after(() => procs.stopAll());

function alive(pid: number): boolean {
  try {
    // A zombie still answers kill(0); only a running process counts.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('ProcessSet', () => {
  it('resolves a line the child prints and keeps its output', async () => {
    const c = procs.spawn('echo', [
      process.execPath,
      '-e',
      'console.log("listening 127.0.0.1:4321"); setInterval(() => {}, 1000)',
    ]);
    const m = await c.waitForLine(/^listening (\S+):(\d+)$/, 10_000);
    assert.equal(m[2], '4321');
    assert.match(c.output(), /listening/);
    await procs.stop(c);
  });

  it('rejects a line wait with the exit and last output when the child dies first', async () => {
    const c = procs.spawn('dies', [process.execPath, '-e', 'console.error("bad flag"); process.exit(3)']);
    await assert.rejects(c.waitForLine(/^never$/, 10_000), /dies exited with code 3:\nbad flag/);
  });

  it('stops the whole process group by the leader PID, grandchildren included', async () => {
    // The child forks a grandchild that ignores nothing special and would outlive a plain kill(pid).
    const script =
      "const c = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });" +
      "console.log('grandchild ' + c.pid); setInterval(() => {}, 1000);";
    const c = procs.spawn('parent', [process.execPath, '-e', script]);
    const m = await c.waitForLine(/^grandchild (\d+)$/, 10_000);
    const grandchild = Number(m[1]);
    assert.ok(alive(grandchild));
    const exit = await procs.stop(c);
    assert.equal(exit.signal, 'SIGTERM');
    // SIGKILL to the group is synchronous for the kernel, but the reaping by init is not: poll briefly.
    for (let i = 0; i < 100 && alive(grandchild); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(grandchild), false, 'the grandchild was stopped with its group');
    assert.equal(procs.running().length, 0);
  });

  it('kills a child that ignores SIGTERM once the grace time has passed', async () => {
    const c = procs.spawn('stubborn', [
      process.execPath,
      '-e',
      "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000)",
    ]);
    await c.waitForLine(/^ready$/, 10_000);
    const exit = await procs.stop(c, 200);
    assert.equal(exit.signal, 'SIGKILL');
  });
});
