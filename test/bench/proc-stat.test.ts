import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  CLOCK_TICKS_PER_SECOND,
  cpuSeconds,
  descendantsOf,
  type ProcStat,
  parseProcStat,
  parseVmRssKiB,
  sampleTree,
} from '../../bench/proc-stat.ts';

// Field 2 holds the command name in parentheses; names may contain spaces and parentheses.
const line =
  '4242 (node (worker) x) S 4200 4242 3535 0 -1 4194304 1487 0 0 0 330 146 7 9 20 0 11 0 34814 102555648 3919 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0';

function stat(pid: number, ppid: number): ProcStat {
  return { pid, ppid, comm: 'x', state: 'S', utimeTicks: 0, stimeTicks: 0, threads: 1, rssPages: 0 };
}

describe('parseProcStat', () => {
  it('counts fields from the last ")" so a command name with spaces and parentheses parses', () => {
    const s = parseProcStat(line);
    assert.ok(s);
    assert.equal(s.pid, 4242);
    assert.equal(s.comm, 'node (worker) x');
    assert.equal(s.ppid, 4200);
    assert.equal(s.utimeTicks, 330);
    assert.equal(s.stimeTicks, 146);
    assert.equal(s.threads, 11);
    assert.equal(s.rssPages, 3919);
    assert.equal(cpuSeconds(s), (330 + 146) / CLOCK_TICKS_PER_SECOND);
  });

  it('refuses a truncated line instead of returning zeros', () => {
    assert.equal(parseProcStat('4242 (node) S 1 2 3'), null);
    assert.equal(parseProcStat('garbage'), null);
  });

  it('parses this very process and sees its own pid', () => {
    const s = parseProcStat(readFileSync('/proc/self/stat', 'utf8'));
    assert.equal(s?.pid, process.pid);
  });
});

describe('parseVmRssKiB', () => {
  it('reads VmRSS in KiB and returns null when the line is absent', () => {
    assert.equal(parseVmRssKiB('Name:\tnode\nVmRSS:\t   51234 kB\nThreads:\t7\n'), 51234);
    assert.equal(parseVmRssKiB('Name:\tzombie\nState:\tZ (zombie)\n'), null);
  });
});

describe('descendantsOf', () => {
  it('collects children and grandchildren but not siblings of the root', () => {
    const all = [stat(1, 0), stat(10, 1), stat(11, 10), stat(12, 11), stat(20, 1), stat(13, 10)];
    assert.deepEqual(descendantsOf(10, all).sort(), [10, 11, 12, 13]);
  });
});

describe('sampleTree', () => {
  let child: ChildProcess;
  before(async () => {
    // A child that stays alive until killed, so it must show up among this process's descendants.
    child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('spawn', resolve));
  });
  after(() => {
    child.kill('SIGKILL');
  });

  it('includes live child processes and reports CPU and memory of the tree', async () => {
    const t = await sampleTree(process.pid);
    assert.ok(t.pids.includes(process.pid));
    assert.ok(t.pids.includes(child.pid!), 'the spawned child is part of the tree');
    assert.ok(t.cpuSeconds > 0, 'this test process has used CPU');
    assert.ok(t.rssKiB > 0);
  });

  it('throws for a process that is not running', async () => {
    await assert.rejects(sampleTree(2 ** 22 + 1), /not running/);
  });
});
