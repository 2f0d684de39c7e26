import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserError } from '../../shared/errors.ts';
import {
  type ConnectionCap,
  connectionCap,
  parseMaxConnections,
  RESERVED_DESCRIPTORS,
  speakerCap,
  startupConnectionCap,
} from '../../speaker/descriptor-budget.ts';

describe('--max-connections and the descriptor budget', () => {
  it('accepts auto and whole numbers >= 0, as flags and as environment strings', () => {
    assert.equal(parseMaxConnections('auto'), 'auto');
    assert.equal(parseMaxConnections('0'), 0);
    assert.equal(parseMaxConnections('5000'), 5000);
    assert.equal(parseMaxConnections(12), 12);
    for (const bad of ['-1', '1.5', '', 'ten', ' 5', 'Auto', -3, 2.5, undefined]) {
      assert.equal(parseMaxConnections(bad), null, `${String(bad)} should be refused`);
    }
  });

  it('auto holds two descriptors per connection after those in use and the reserve', () => {
    const cap = connectionCap('auto', 20_000, 40);
    assert.deepEqual(cap, {
      max: Math.floor((20_000 - 40 - RESERVED_DESCRIPTORS) / 2),
      source: 'descriptors',
      descriptorLimit: 20_000,
      inUse: 40,
      warning: null,
    });
  });

  it('auto is sized again for the listening sockets of each table, never below 1', () => {
    const cap = connectionCap('auto', 20_000, 40);
    assert.ok(cap.max !== null);
    const size = speakerCap(cap as ConnectionCap);
    assert.equal(typeof size, 'function');
    const sized = size as (sockets: number) => number;
    assert.equal(sized(0), cap.max);
    // 1,000 listeners on 2 workers hold 2,000 descriptors: 1,000 connections fewer.
    assert.equal(sized(2000), cap.max - 1000);
    assert.equal(sized(50_000), 1);
  });

  it('an explicit or unknown cap is a fixed number', () => {
    assert.equal(speakerCap(connectionCap(500, 20_000, 40) as ConnectionCap), 500);
    assert.equal(speakerCap(connectionCap('auto', null, null) as ConnectionCap), 0);
  });

  it('auto without a known limit is unlimited, as before', () => {
    assert.deepEqual(connectionCap('auto', null, null), {
      max: 0,
      source: 'unlimited',
      descriptorLimit: null,
      inUse: null,
      warning: null,
    });
  });

  it('auto with no room for one connection is a start-up problem that says how to fix it', () => {
    const cap = connectionCap('auto', 150, 30);
    assert.equal(cap.max, null);
    assert.match('problem' in cap ? cap.problem : '', /descriptor limit \(150, 30 in use\).*ulimit -n/);
  });

  it('an explicit cap is kept as given, with a warning when the limit cannot hold it', () => {
    const fits = connectionCap(1000, 20_000, 40);
    assert.deepEqual(fits, { max: 1000, source: 'flag', descriptorLimit: 20_000, inUse: 40, warning: null });
    const over = connectionCap(50_000, 20_000, 40);
    assert.equal(over.max, 50_000);
    assert.match('warning' in over ? String(over.warning) : '', /holds about 9916 connections/);
    const unlimited = connectionCap(0, 20_000, 40);
    assert.equal(unlimited.max, 0);
    assert.equal('source' in unlimited ? unlimited.source : '', 'unlimited');
    assert.match('warning' in unlimited ? String(unlimited.warning) : '', /local-resources/);
  });

  it('refuses a bad flag at start-up naming the command, the flag and the fix', () => {
    assert.throws(
      () => startupConnectionCap('lots', 'switchyard speaker'),
      (err: unknown) =>
        err instanceof UserError &&
        /^switchyard speaker: --max-connections=lots: must be "auto" or an integer >= 0/.test(err.message),
    );
    assert.ok((startupConnectionCap('auto', 'switchyard speaker').max ?? -1) >= 0);
  });
});
