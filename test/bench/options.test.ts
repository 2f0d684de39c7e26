import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SCENARIOS, parseOptions } from '../../bench/options.ts';

describe('parseOptions', () => {
  it('runs every default scenario for 5 rounds of 5 s unless told otherwise', () => {
    const o = parseOptions([]);
    assert.deepEqual(o.scenarios, [...DEFAULT_SCENARIOS]);
    assert.equal(o.rounds, 5);
    assert.equal(o.slowRounds, 5);
    assert.equal(o.durationSec, 5);
    assert.equal(o.out, 'bench/results/latest.json');
  });

  it('--quick means fewer and shorter rounds, one round of the slow scenarios', () => {
    const o = parseOptions(['--quick']);
    assert.equal(o.quick, true);
    assert.ok(o.rounds < 5 && o.rounds >= 2);
    assert.equal(o.slowRounds, 1);
    assert.ok(o.durationSec < 5);
  });

  it('selects scenarios and rounds, and --workers-scan adds multicore', () => {
    const o = parseOptions([
      '--scenarios',
      'rr, connect',
      '--rounds',
      '3',
      '--duration',
      '2',
      '--workers-scan',
    ]);
    assert.deepEqual(o.scenarios, ['rr', 'connect', 'multicore']);
    assert.equal(o.rounds, 3);
    assert.equal(o.slowRounds, 3);
    assert.equal(o.durationSec, 2);
  });

  it('names the valid scenarios when given an unknown one', () => {
    assert.throws(
      () => parseOptions(['--scenarios', 'rr,latency']),
      /unknown scenario "latency".*rr, connect/,
    );
    assert.throws(() => parseOptions(['--rounds', '0']), /--rounds must be an integer/);
  });

  it('measures the four usual paths by default and adds base only with --base-root', () => {
    assert.deepEqual(parseOptions([]).paths, ['switchyard', 'haproxy', 'naive', 'direct']);
    const o = parseOptions(['--base-root', '/tmp/base']);
    assert.equal(o.baseRoot, '/tmp/base');
    assert.deepEqual(o.paths, ['switchyard', 'base', 'haproxy', 'naive', 'direct']);
  });

  it('--paths picks paths in round order and refuses base without a base checkout', () => {
    const o = parseOptions(['--paths', 'haproxy,base,switchyard', '--base-root', 'x']);
    assert.deepEqual(o.paths, ['switchyard', 'base', 'haproxy']);
    assert.throws(() => parseOptions(['--paths', 'switchyard,base']), /base path needs --base-root/);
    assert.throws(() => parseOptions(['--paths', 'envoy']), /unknown path "envoy".*switchyard, base/);
  });
});
