import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ALLOW_ALL, compileSourceRanges, ipv4ToNumber } from '../../speaker/forward/source-ranges.ts';

describe('source ranges', () => {
  it('allows everyone when the list is empty', () => {
    assert.equal(compileSourceRanges([]), ALLOW_ALL);
    assert.equal(ALLOW_ALL.allows('2001:db8::1'), true);
  });

  it('matches IPv4 clients, also when Node reports them IPv4-mapped', () => {
    const m = compileSourceRanges(['203.0.113.0/24', '10.1.2.3/32']);
    assert.equal(m.allows('203.0.113.255'), true);
    assert.equal(m.allows('::ffff:203.0.113.7'), true);
    assert.equal(m.allows('203.0.114.0'), false);
    assert.equal(m.allows('10.1.2.3'), true);
    assert.equal(m.allows('10.1.2.4'), false);
  });

  it('matches IPv6 clients against IPv6 ranges only', () => {
    const m = compileSourceRanges(['2001:db8::/32', '192.0.2.0/24']);
    assert.equal(m.allows('2001:db8:ffff::1'), true);
    assert.equal(m.allows('2001:db9::1'), false);
    assert.equal(m.allows('::ffff:192.0.2.1'), true);
    assert.equal(compileSourceRanges(['192.0.2.0/24']).allows('2001:db8::1'), false);
  });

  it('reads dotted quads by hand and refuses anything else', () => {
    assert.equal(ipv4ToNumber('255.255.255.255'), 2 ** 32 - 1);
    assert.equal(ipv4ToNumber('1.2.3.4'), 0x01020304);
    for (const bad of ['1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '1.2.3.', 'a.b.c.d', '1.2.3.4444']) {
      assert.equal(ipv4ToNumber(bad), -1, bad);
    }
  });
});
