import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { launch, planCpus } from '../../bench/cpu-plan.ts';
import { proxiedConnectionCap } from '../../bench/machine.ts';
import { workerCounts } from '../../bench/scenarios/multicore.ts';
import { scalePoints } from '../../bench/scenarios/scale.ts';

describe('planCpus', () => {
  it('puts the proxy on CPU 0 and the load on the rest of a 2-CPU machine', () => {
    const p = planCpus(2, true);
    assert.equal(p.proxy, '0');
    assert.equal(p.load, '1');
    assert.equal(p.loadCount, 1);
  });

  it('gives a multi-worker proxy at most half of a 16-CPU machine', () => {
    const p = planCpus(16, true, 12);
    assert.equal(p.proxy, '0-7');
    assert.equal(p.load, '8-15');
    assert.equal(p.proxyCount, 8);
  });

  it('pins nothing, and says why, with one CPU or without taskset', () => {
    assert.equal(planCpus(1, true).proxy, null);
    assert.match(planCpus(4, false).description, /taskset is not installed/);
  });
});

describe('launch', () => {
  it('wraps the command in taskset and a shell that raises the open-file limit and execs it', () => {
    const argv = launch(['/usr/sbin/haproxy', '-db'], '0');
    assert.deepEqual(argv.slice(0, 3), ['taskset', '-c', '0']);
    assert.match(argv[5]!, /ulimit -n .*exec "\$@"/);
    assert.deepEqual(argv.slice(-2), ['/usr/sbin/haproxy', '-db']);
    assert.equal(launch(['x'], null)[0], 'bash');
  });
});

describe('connection caps', () => {
  it('holds 10,000 connections where descriptors allow and fewer under a 20,000 limit', () => {
    assert.equal(proxiedConnectionCap(1_048_576), 10_000);
    assert.equal(proxiedConnectionCap(20_000), 9_904);
    assert.equal(proxiedConnectionCap(null), 10_000);
  });

  it('measures scale at 100, 1,000 and the cap, plus 1,000 listeners at 100 connections', () => {
    assert.deepEqual(
      scalePoints(9_950).map((p) => [p.key, p.connections, p.listeners]),
      [
        ['conn100', 100, 1],
        ['conn1000', 1000, 1],
        ['conn10000', 9_950, 1],
        ['listeners1000', 100, 1000],
      ],
    );
  });

  it('scans 1..N workers, N being the proxy CPUs but at least 2', () => {
    assert.deepEqual(workerCounts(1, null), [1, 2]);
    assert.deepEqual(workerCounts(8, null), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(workerCounts(8, 3), [1, 2, 3]);
  });
});
