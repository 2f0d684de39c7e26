import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseOpenFileLimits, readOpenFileLimits } from '../../shared/open-files.ts';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max processes             unlimited            unlimited            processes
Max open files            1024                 20000                files
Max locked memory         8388608              8388608              bytes
`;

describe('open-file limits from /proc/<pid>/limits', () => {
  it('reads the soft and the hard limit of the "Max open files" line', () => {
    assert.deepEqual(parseOpenFileLimits(LIMITS), { soft: 1024, hard: 20_000 });
  });

  it('gives null for unlimited and for a text without the line', () => {
    assert.deepEqual(
      parseOpenFileLimits('Max open files            unlimited            unlimited            files\n'),
      { soft: null, hard: null },
    );
    assert.deepEqual(parseOpenFileLimits('Max processes  10  10  processes\n'), { soft: null, hard: null });
  });

  it("reads this process's own limits, soft never above hard", () => {
    const { soft, hard } = readOpenFileLimits();
    assert.ok(soft !== null && soft > 0, `soft ${soft}`);
    if (hard !== null) assert.ok(soft <= hard, `soft ${soft} > hard ${hard}`);
  });
});
