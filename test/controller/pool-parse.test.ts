import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { compileSelector, selectorMatches } from '../../controller/pools/label-selector.ts';
import { parsePools } from '../../controller/pools/parse.ts';
import {
  countBuggyIPv4,
  formatIp,
  formatRange,
  isBuggyIPv4,
  parseCidr,
  parseIp,
  parseIpRangeText,
} from '../../shared/ip.ts';
import { poolObject } from './objects.ts';

function problemsOf(objects: unknown[]) {
  return parsePools(objects).problems;
}

describe('parsePools', () => {
  it('reads CIDRs and ranges of both families into one pool, sorted, with MetalLB defaults', () => {
    const r = parsePools([
      poolObject('mixed', { addresses: ['2001:db8::/126', '192.0.2.10-192.0.2.20', '192.0.2.0/29'] }),
    ]);
    assert.deepEqual(r.problems, []);
    const p = r.pools[0]!;
    assert.equal(p.autoAssign, true);
    assert.equal(p.avoidBuggyIPs, false);
    assert.equal(p.serviceAllocation, null);
    assert.deepEqual(
      p.ranges.map((x) => formatRange(x)),
      ['192.0.2.0-192.0.2.7', '192.0.2.10-192.0.2.20', '2001:db8::-2001:db8::3'],
    );
  });

  it('masks host bits of a CIDR and warns, naming the CIDR to write', () => {
    const r = parsePools([poolObject('p', { addresses: ['192.0.2.7/24'] })]);
    assert.equal(r.pools.length, 1);
    assert.equal(formatRange(r.pools[0]!.ranges[0]!), '192.0.2.0-192.0.2.255');
    assert.equal(r.warnings[0]?.code, 'pool.host-bits-set');
    assert.match(r.warnings[0]!.message, /write 192\.0\.2\.0\/24/);
  });

  it('names pool, field, entry and fix for each bad address entry', () => {
    const ps = problemsOf([
      poolObject('bad', {
        addresses: ['192.0.2.9-192.0.2.1', '192.0.2.1-2001:db8::1', '192.0.2.300/24', '192.0.2.1'],
      }),
    ]);
    const byField = new Map(ps.map((p) => [p.field, p]));
    assert.equal(byField.get('spec.addresses[0]')?.code, 'pool.reversed-range');
    assert.match(byField.get('spec.addresses[0]')!.message, /write 192\.0\.2\.1-192\.0\.2\.9/);
    assert.equal(byField.get('spec.addresses[1]')?.code, 'pool.mixed-family-range');
    assert.equal(byField.get('spec.addresses[2]')?.code, 'pool.invalid-address');
    assert.equal(byField.get('spec.addresses[3]')?.code, 'pool.invalid-address');
    assert.match(byField.get('spec.addresses[3]')!.message, /192\.0\.2\.1\/32/);
    for (const p of ps) assert.equal(p.object, 'IPAddressPool bad');
  });

  it('refuses a pool without addresses', () => {
    for (const addresses of [[], undefined]) {
      const ps = problemsOf([poolObject('empty', { addresses: addresses as unknown as string[] })]);
      assert.equal(ps[0]?.code, 'pool.empty-addresses');
      assert.equal(ps[0]?.field, 'spec.addresses');
    }
  });

  it('refuses an overlap between two pools, naming both, and keeps the older one', () => {
    const r = parsePools([
      poolObject('newer', { addresses: ['192.0.2.128/25'] }, '2024-02-01T00:00:00Z'),
      poolObject('older', { addresses: ['192.0.2.0/24'] }, '2024-01-01T00:00:00Z'),
      poolObject('elsewhere', { addresses: ['198.51.100.0/24'] }, '2024-03-01T00:00:00Z'),
    ]);
    assert.deepEqual(
      r.pools.map((p) => p.name),
      ['elsewhere', 'older'],
    );
    assert.equal(r.problems.length, 1);
    const p = r.problems[0]!;
    assert.equal(p.code, 'pool.overlap');
    assert.equal(p.object, 'IPAddressPool newer');
    assert.match(p.message, /192\.0\.2\.0\/24 of IPAddressPool older/);
  });

  it('refuses overlapping entries within one pool', () => {
    const ps = problemsOf([poolObject('self', { addresses: ['192.0.2.0/24', '192.0.2.10-192.0.2.12'] })]);
    assert.equal(ps[0]?.code, 'pool.overlap');
    assert.match(ps[0]!.message, /192\.0\.2\.0\/24 in the same pool/);
  });

  it('lets good pools parse when another is bad', () => {
    const r = parsePools([
      poolObject('bad', { addresses: ['nonsense'] }),
      poolObject('good', { addresses: ['192.0.2.0/28'] }),
    ]);
    assert.deepEqual(
      r.pools.map((p) => p.name),
      ['good'],
    );
    assert.equal(r.problems.length, 1);
  });

  it('keeps the last valid version of a pool whose edit is refused', () => {
    const first = parsePools([poolObject('p', { addresses: ['192.0.2.0/28'] })]);
    const edited = parsePools([poolObject('p', { addresses: ['192.0.2.0/33'] })], { lastValid: first.pools });
    assert.deepEqual(edited.keptLastValid, ['p']);
    assert.equal(edited.pools[0], first.pools[0]);
    assert.equal(edited.problems[0]?.code, 'pool.invalid-address');
  });

  it('reads serviceAllocation: priority 0 means unset as in MetalLB, negative is refused', () => {
    const r = parsePools([
      poolObject('zero', {
        addresses: ['192.0.2.0/28'],
        serviceAllocation: { priority: 0, namespaces: ['a'] },
      }),
      poolObject('neg', { addresses: ['198.51.100.0/28'], serviceAllocation: { priority: -1 } }),
    ]);
    assert.equal(r.pools[0]?.serviceAllocation?.priority, null);
    assert.deepEqual(r.pools[0]?.serviceAllocation?.namespaces, ['a']);
    assert.equal(r.problems[0]?.code, 'pool.invalid-priority');
  });

  it('refuses bad selectors, naming the field', () => {
    const ps = problemsOf([
      poolObject('sel', {
        addresses: ['192.0.2.0/28'],
        serviceAllocation: {
          serviceSelectors: [
            { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['a'] }] },
            { matchExpressions: [{ key: 'app', operator: 'In', values: [] }] },
            { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['x'] }] },
            { matchLabels: { 'bad key!': 'x' } },
          ],
        },
      }),
    ]);
    assert.deepEqual(
      ps.map((p) => [p.code, p.field]),
      [
        ['pool.invalid-selector', 'spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].operator'],
        ['pool.invalid-selector', 'spec.serviceAllocation.serviceSelectors[1].matchExpressions[0].values'],
        ['pool.invalid-selector', 'spec.serviceAllocation.serviceSelectors[2].matchExpressions[0].values'],
        ['pool.invalid-selector', 'spec.serviceAllocation.serviceSelectors[3].matchLabels.bad key!'],
      ],
    );
  });

  it('accepts metallb.io/v1beta1 with a warning and refuses other API versions and duplicate names', () => {
    const r = parsePools([
      { ...poolObject('m', { addresses: ['192.0.2.0/28'] }), apiVersion: 'metallb.io/v1beta1' },
      { ...poolObject('x', { addresses: ['198.51.100.0/28'] }), apiVersion: 'example.com/v1' },
      poolObject('m', { addresses: ['203.0.113.0/28'] }),
    ]);
    assert.deepEqual(
      r.pools.map((p) => p.name),
      ['m'],
    );
    assert.equal(r.warnings[0]?.code, 'pool.metallb-api-version');
    assert.deepEqual(
      r.problems.map((p) => p.code),
      ['pool.invalid-api-version', 'pool.duplicate-name'],
    );
  });
});

describe('label selectors', () => {
  const site = { object: 'test', field: 'sel' };
  const sel = (raw: unknown) => {
    const { selector, problems } = compileSelector(raw, site);
    assert.deepEqual(problems, []);
    return selector!;
  };

  it('match with Kubernetes semantics: matchLabels and In/NotIn/Exists/DoesNotExist all must hold', () => {
    const s = sel({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'stage'] },
        { key: 'tier', operator: 'NotIn', values: ['db'] },
        { key: 'team', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    });
    const base = { app: 'web', env: 'prod', team: 'a' };
    assert.equal(selectorMatches(s, base), true);
    assert.equal(selectorMatches(s, { ...base, tier: 'front' }), true);
    assert.equal(selectorMatches(s, { ...base, app: 'api' }), false);
    assert.equal(selectorMatches(s, { ...base, env: 'dev' }), false);
    assert.equal(selectorMatches(s, { ...base, tier: 'db' }), false);
    assert.equal(selectorMatches(s, { app: 'web', env: 'prod' }), false);
    assert.equal(selectorMatches(s, { ...base, legacy: '' }), false);
  });

  it('an empty selector matches everything; NotIn matches a missing label', () => {
    assert.equal(selectorMatches(sel({}), { any: 'thing' }), true);
    assert.equal(
      selectorMatches(sel({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }] }), {}),
      true,
    );
  });
});

describe('CIDR and range parsing properties (seeded)', () => {
  const v4 = fc.bigInt({ min: 0n, max: (1n << 32n) - 1n });
  const v6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
  const addr = fc.oneof(
    v4.map((value) => ({ family: 4 as const, value })),
    v6.map((value) => ({ family: 6 as const, value })),
  );

  it('a CIDR written from any address and prefix parses back to the masked network', () => {
    fc.assert(
      fc.property(addr, fc.integer({ min: 0, max: 128 }), ({ family, value }, p) => {
        const bits = family === 4 ? 32 : 128;
        const prefix = p % (bits + 1);
        const c = parseCidr(`${formatIp(family, value)}/${prefix}`);
        assert.ok(c);
        const size = 1n << BigInt(bits - prefix);
        assert.equal(c.first, value - (value % size));
        assert.equal(c.last, c.first + size - 1n);
        assert.equal(c.hostBitsSet, value !== c.first);
        assert.deepEqual(parseCidr(c.text), { ...c, hostBitsSet: false });
      }),
      { seed: 20240601, numRuns: 300 },
    );
  });

  it('a range a-b round-trips through formatRange and pool parsing', () => {
    fc.assert(
      fc.property(addr, fc.bigInt({ min: 0n, max: 1n << 20n }), ({ family, value }, span) => {
        const max = family === 4 ? (1n << 32n) - 1n : (1n << 128n) - 1n;
        const last = value + span > max ? max : value + span;
        const text = `${formatIp(family, value)}-${formatIp(family, last)}`;
        const r = parseIpRangeText(text);
        assert.ok(r);
        assert.equal(r.start.value, value);
        assert.equal(r.end.value, last);
        const parsed = parsePools([poolObject('p', { addresses: [text] })]);
        assert.deepEqual(parsed.problems, []);
        const range = parsed.pools[0]!.ranges[0]!;
        assert.equal(formatRange(range), value === last ? formatIp(family, value) : text);
      }),
      { seed: 20240602, numRuns: 300 },
    );
  });

  it('IPv4 addresses parse and print exactly as ipaddr.js does, and octal-looking ones are refused', () => {
    fc.assert(
      fc.property(v4, (value) => {
        const text = formatIp(4, value);
        const bytes = [24n, 16n, 8n, 0n].map((s) => Number((value >> s) & 0xffn));
        assert.equal(text, ipaddr.fromByteArray(bytes).toString());
        assert.equal(parseIp(text)?.value, value);
      }),
      { seed: 20240604, numRuns: 300 },
    );
    for (const bad of ['01.2.3.4', '1.2.3.256', '1.2.3', '1.2.3.4.5']) assert.equal(parseIp(bad), null, bad);
  });

  it('countBuggyIPv4 agrees with counting address by address', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 32n) - 2000n }),
        fc.integer({ min: 0, max: 1500 }),
        (first, span) => {
          const last = first + BigInt(span);
          let n = 0n;
          for (let v = first; v <= last; v++) if (isBuggyIPv4(v)) n++;
          assert.equal(countBuggyIPv4({ family: 4, first, last }), n);
        },
      ),
      { seed: 20240603, numRuns: 200 },
    );
  });
});
