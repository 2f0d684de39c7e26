import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackendSlot } from '../../speaker/balance/picker.ts';
import { FAIL_OPEN_RETRY_MS, FailOpen } from '../../speaker/forward/fail-open.ts';

function slot(name: string): BackendSlot {
  return {
    backend: { node: name, address: '127.0.0.1', nodePort: 1 },
    healthKey: name,
    identityHash: 0,
    active: 0,
  };
}

describe('FailOpen', () => {
  const [a, b, c] = [slot('a'), slot('b'), slot('c')];
  const slots = [a, b, c];
  const names = (xs: readonly BackendSlot[]) => xs.map((s) => s.backend.node);

  it('picks the healthy backends while any passes its checks, and does not fail open', () => {
    const f = new FailOpen();
    assert.deepEqual(names(f.choose(slots, (s) => s !== b, 0)), ['a', 'c']);
    assert.equal(f.active, false);
  });

  it('fails open over every backend when all fail their checks and none failed a connect', () => {
    const f = new FailOpen();
    assert.deepEqual(names(f.choose(slots, () => false, 0)), ['a', 'b', 'c']);
    assert.equal(f.active, true);
  });

  it('leaves out a backend whose connect failed, and takes it back after FAIL_OPEN_RETRY_MS', () => {
    const f = new FailOpen();
    f.connectFailed(b, 1000);
    assert.deepEqual(names(f.choose(slots, () => false, 1000)), ['a', 'c']);
    assert.equal(f.due(1000 + FAIL_OPEN_RETRY_MS - 1), false);
    assert.equal(f.due(1000 + FAIL_OPEN_RETRY_MS), true);
    assert.deepEqual(names(f.choose(slots, () => false, 1000 + FAIL_OPEN_RETRY_MS)), ['a', 'b', 'c']);
  });

  it('refuses (chooses nothing) when every backend failed a connect: a cluster really down is not sprayed', () => {
    const f = new FailOpen();
    for (const s of slots) f.connectFailed(s, 0);
    assert.deepEqual(
      f.choose(slots, () => false, 1),
      [],
    );
    assert.equal(f.active, true);
  });

  it('forgets a connect failure once the backend passes its checks again', () => {
    const f = new FailOpen();
    f.connectFailed(a, 0);
    f.choose(slots, (s) => s === a, 1);
    assert.deepEqual(names(f.choose(slots, () => false, 2)), ['a', 'b', 'c']);
  });

  it('chooses nothing and does not fail open for a listener without backends', () => {
    const f = new FailOpen();
    assert.deepEqual(
      f.choose([], () => false, 0),
      [],
    );
    assert.equal(f.active, false);
  });
});
