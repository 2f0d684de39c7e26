import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Listener, listenerKey } from '../../shared/model.ts';
import { diffListeners, sameValue } from '../../speaker/table-diff.ts';
import { listenerDoc, table } from './loopback.ts';

const backends = [{ address: '127.0.0.2', nodePort: 30080 }];
const [a, b, c] = table([
  listenerDoc({ vip: '127.0.0.10', port: 80, backends }),
  listenerDoc({ vip: '127.0.0.11', port: 80, backends }),
  listenerDoc({ vip: '127.0.0.12', port: 80, backends }),
]).listeners as [Listener, Listener, Listener];
const serving = (...ls: Listener[]) => new Map(ls.map((l) => [listenerKey(l), l]));

describe('diffListeners', () => {
  it('step 1: a first table adds every listener', () => {
    const d = diffListeners(new Map(), [a, b]);
    assert.deepEqual(d.added, [a, b]);
    assert.deepEqual([d.changed, d.unchanged, d.removed], [[], [], []]);
  });

  it('step 2: the same table again changes nothing, even from a fresh parse', () => {
    const again = table([listenerDoc({ vip: '127.0.0.10', port: 80, backends })]).listeners[0]!;
    assert.notEqual(again, a);
    const d = diffListeners(serving(a, b), [again, b]);
    assert.deepEqual(d.unchanged, [again, b]);
    assert.deepEqual([d.added, d.changed, d.removed], [[], [], []]);
  });

  it('step 3: new backends on the same VIP:port are a change, not a new listener', () => {
    const moved = { ...a, backends: [{ node: 'n2', address: '127.0.0.3', nodePort: 30080 }] };
    const d = diffListeners(serving(a, b), [moved, b]);
    assert.deepEqual(d.changed, [moved]);
    assert.deepEqual(d.unchanged, [b]);
  });

  it('step 4: a listener missing from the new table is removed, a new one added', () => {
    const d = diffListeners(serving(a, b), [a, c]);
    assert.deepEqual(d.removed, [listenerKey(b)]);
    assert.deepEqual(d.added, [c]);
    assert.deepEqual(d.unchanged, [a]);
  });

  it('compares nested settings structurally, key order aside', () => {
    assert.equal(sameValue({ x: [1, { y: 2 }], z: 'a' }, { z: 'a', x: [1, { y: 2 }] }), true);
    assert.equal(sameValue({ x: [1, { y: 2 }] }, { x: [1, { y: 3 }] }), false);
    assert.equal(sameValue({ x: 1 }, { x: 1, y: undefined }), false);
  });
});
