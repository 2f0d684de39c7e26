import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyPatch, jsonPatch, mergePatch } from '../fake-apiserver/patch.ts';

describe('fake API server patches', () => {
  it('merge patch follows RFC 7386: maps merge, null deletes, arrays and scalars replace', () => {
    const target = { a: 'b', c: { d: 'e', f: 'g' }, list: [1, 2], keep: true };
    assert.deepEqual(mergePatch(target, { a: 'z', c: { f: null }, list: [3] }), {
      a: 'z',
      c: { d: 'e' },
      list: [3],
      keep: true,
    });
    assert.deepEqual(target.c, { d: 'e', f: 'g' }, 'the target is not mutated');
  });

  it('JSON patch applies add, replace, remove, move, copy and test in order', () => {
    const r = jsonPatch({ a: { b: 1 }, arr: ['x', 'z'] }, [
      { op: 'add', path: '/arr/1', value: 'y' },
      { op: 'add', path: '/arr/-', value: 'end' },
      { op: 'replace', path: '/a/b', value: 2 },
      { op: 'copy', from: '/a', path: '/copied' },
      { op: 'move', from: '/copied/b', path: '/moved' },
      { op: 'remove', path: '/arr/0' },
      { op: 'test', path: '/moved', value: 2 },
      { op: 'add', path: '/with~1slash', value: 1 },
    ]);
    assert.deepEqual(r, {
      ok: true,
      value: { a: { b: 2 }, arr: ['y', 'z', 'end'], copied: {}, moved: 2, 'with/slash': 1 },
    });
  });

  it('JSON patch fails whole on a failed test, a missing path or a malformed operation', () => {
    assert.equal(jsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]).ok, false);
    assert.equal(jsonPatch({ a: 1 }, [{ op: 'replace', path: '/b', value: 2 }]).ok, false);
    assert.equal(jsonPatch({ a: 1 }, [{ op: 'remove', path: '/a/b/c' }]).ok, false);
    assert.equal(jsonPatch({ a: 1 }, { op: 'add' }).ok, false);
  });

  it('dispatches on content type, takes strategic merge as merge, and refuses unknown types', () => {
    assert.deepEqual(applyPatch('application/strategic-merge-patch+json', { a: 1 }, { b: 2 }), {
      ok: true,
      value: { a: 1, b: 2 },
    });
    assert.equal(applyPatch('application/apply-patch+yaml', { a: 1 }, { b: 2 }), null);
    assert.equal(applyPatch('application/merge-patch+json', { a: 1 }, [1])?.ok, false);
  });
});
