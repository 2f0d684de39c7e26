import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseStubStatus } from '../../bench/stub-status.ts';

describe('parseStubStatus', () => {
  it('reads active connections and the accepts/handled/requests counters', () => {
    const page =
      'Active connections: 291 \nserver accepts handled requests\n 16630948 16630947 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n';
    assert.deepEqual(parseStubStatus(page), {
      active: 291,
      accepts: 16630948,
      handled: 16630947,
      requests: 31070465,
    });
  });

  it('returns null for a page that is not stub_status', () => {
    assert.equal(parseStubStatus('ok'), null);
  });
});
