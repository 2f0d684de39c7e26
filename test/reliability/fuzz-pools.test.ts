/**
 * Fuzzing IPAddressPool objects as they come from the API server or a manifest: address entries that
 * look almost right (CIDRs with odd prefixes, ranges with swapped or mixed-family ends, stray spaces,
 * IPv6 forms) mixed with arbitrary values in every field. parsePools must return typed problems and
 * only well-formed pools, never throw, and a valid pool next to the garbage must still be parsed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parsePools } from '../../controller/pools/parse.ts';
import { assertProblem, fuzzParameters, fuzzSeed } from './fuzz.ts';
import { report, scaled } from './scale.ts';

const seed = fuzzSeed('fuzz-pools');

/** The pool that must survive whatever else is in the input (oldest, so it wins every overlap). */
const GOOD = {
  apiVersion: 'switchyard.io/v1beta1',
  kind: 'IPAddressPool',
  metadata: { name: 'good', namespace: 'switchyard-system', creationTimestamp: '2000-01-01T00:00:00Z' },
  spec: { addresses: ['198.51.100.0/28', '2001:db8:1::10-2001:db8:1::1f'] },
};

/** Mostly the valid form, sometimes anything: so that both the accepting and the refusing paths run. */
function likely<T>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof({ arbitrary: valid, weight: 6 }, { arbitrary: other, weight: 1 });
}

const ip = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.ipV4Extended(),
  fc.constantFrom('0.0.0.0', '255.255.255.255', '::', '::ffff:1.2.3.4'),
);
const prefix = fc.oneof(fc.integer({ min: -2, max: 130 }), fc.constantFrom('', 'x', '08', ' 24', '1e1'));
const space = fc.constantFrom('', ' ', '\t', '\n');
/** Valid entries in the documentation ranges, small enough to be sensible and to overlap now and then. */
const validEntry = fc.oneof(
  fc.tuple(fc.nat(255), fc.integer({ min: 24, max: 32 })).map(([o, p]) => `203.0.113.${o}/${p}`),
  fc.tuple(fc.nat(255), fc.nat(255)).map(([a, b]) => `192.0.2.${Math.min(a, b)}-192.0.2.${Math.max(a, b)}`),
  fc
    .tuple(fc.nat(0xffff), fc.integer({ min: 112, max: 128 }))
    .map(([h, p]) => `2001:db8::${h.toString(16)}/${p}`),
);
/** Address entries: valid ones, almost-CIDRs, almost-ranges, and anything at all. */
const entry = fc.oneof(
  { arbitrary: validEntry, weight: 6 },
  fc.tuple(space, ip, prefix, space).map(([a, i, p, b]) => `${a}${i}/${p}${b}`),
  fc.tuple(ip, space, ip).map(([x, sp, y]) => `${x}${sp}-${sp}${y}`),
  fc.tuple(ip, ip).map(([x, y]) => `${x}-${y}-${x}`),
  ip,
  fc.string({ maxLength: 40 }),
  fc.anything({ maxDepth: 2 }),
);
/** Pool names; never the valid pool's own (two objects of one name is a different question). */
const name = likely(
  fc.constantFrom('a', 'b', 'prod', 'x.y', 'edge-1'),
  fc.oneof(fc.constantFrom('Bad_Name', '', '-a'), fc.string({ maxLength: 70 }), fc.anything({ maxDepth: 1 })),
).filter((n) => n !== 'good');
const selector = fc.oneof(
  fc.record({
    matchLabels: fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 3 }),
  }),
  fc.record({
    matchExpressions: fc.array(
      fc.record({
        key: fc.string({ maxLength: 10 }),
        operator: fc.oneof(
          fc.constantFrom('In', 'NotIn', 'Exists', 'DoesNotExist'),
          fc.string({ maxLength: 8 }),
        ),
        values: fc.oneof(
          fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
          fc.anything({ maxDepth: 1 }),
        ),
      }),
      { maxLength: 3 },
    ),
  }),
  fc.anything({ maxDepth: 2 }),
);
const pool = fc.record(
  {
    apiVersion: likely(
      fc.constantFrom('switchyard.io/v1beta1', 'metallb.io/v1beta1'),
      fc.oneof(fc.constantFrom('v1', 'switchyard.io/v2'), fc.anything({ maxDepth: 0 })),
    ),
    kind: likely(fc.constant('IPAddressPool'), fc.anything({ maxDepth: 0 })),
    metadata: likely(
      fc.record(
        {
          name,
          namespace: likely(fc.constant('switchyard-system'), fc.anything({ maxDepth: 0 })),
          creationTimestamp: likely(
            fc
              .date({ min: new Date('2001-01-01'), max: new Date('2030-01-01'), noInvalidDate: true })
              .map((d) => d.toISOString()),
            fc.anything({ maxDepth: 0 }),
          ),
        },
        { requiredKeys: ['name'] },
      ),
      fc.anything({ maxDepth: 1 }),
    ),
    spec: likely(
      fc.record(
        {
          addresses: likely(fc.array(entry, { minLength: 1, maxLength: 4 }), fc.anything({ maxDepth: 1 })),
          autoAssign: likely(fc.boolean(), fc.anything({ maxDepth: 0 })),
          avoidBuggyIPs: likely(fc.boolean(), fc.anything({ maxDepth: 0 })),
          serviceAllocation: likely(
            fc.record(
              {
                priority: likely(fc.integer({ min: -5, max: 100 }), fc.anything({ maxDepth: 0 })),
                namespaces: likely(
                  fc.array(fc.constantFrom('default', 'shop', 'team-a'), { maxLength: 3 }),
                  fc.anything({ maxDepth: 1 }),
                ),
                namespaceSelectors: fc.array(selector, { maxLength: 2 }),
                serviceSelectors: fc.array(selector, { maxLength: 2 }),
              },
              { requiredKeys: [] },
            ),
            fc.anything({ maxDepth: 2 }),
          ),
          extra: fc.anything({ maxDepth: 1 }),
        },
        { requiredKeys: ['addresses'] },
      ),
      fc.anything({ maxDepth: 2 }),
    ),
  },
  { requiredKeys: [] },
);

describe(`fuzz: IPAddressPool parsing (seed ${seed})`, { timeout: scaled(120_000, 3_600_000) }, () => {
  it('never throws; returns only well-formed pools and typed problems; a valid pool beside garbage is kept', () => {
    let otherPools = 0;
    let problems = 0;
    fc.assert(
      fc.property(fc.array(pool, { maxLength: 5 }), fc.nat(5), (garbage, at) => {
        const objects: unknown[] = [...garbage];
        objects.splice(Math.min(at, objects.length), 0, GOOD);
        const r = parsePools(objects);
        otherPools += r.pools.length - 1;
        problems += r.problems.length;
        for (const p of [...r.problems, ...r.warnings]) assertProblem(p, ['pool.']);
        const names = new Set<string>();
        for (const p of r.pools) {
          assert.equal(typeof p.name, 'string');
          assert.ok(!names.has(p.name), `pool ${p.name} returned twice`);
          names.add(p.name);
          assert.ok(p.ranges.length > 0, `pool ${p.name} has addresses`);
          for (const range of p.ranges) {
            assert.ok(range.first <= range.last, `${range.entry}: first <= last`);
            assert.ok(
              range.last < 2n ** (range.family === 4 ? 32n : 128n),
              `${range.entry}: inside the family`,
            );
          }
          // Ranges are disjoint within a pool.
          const sorted = [...p.ranges].sort((x, y) => x.family - y.family || (x.first < y.first ? -1 : 1));
          for (let i = 1; i < sorted.length; i++) {
            const a = sorted[i - 1]!;
            const b = sorted[i]!;
            if (a.family === b.family) assert.ok(a.last < b.first, `${a.entry} and ${b.entry} overlap`);
          }
        }
        const good = r.pools.find((p) => p.name === 'good');
        assert.ok(
          good,
          `the valid pool is kept: ${JSON.stringify(r.problems.filter((p) => p.object.includes('good')))}`,
        );
        assert.deepEqual(
          good.ranges.map((x) => x.entry),
          ['198.51.100.0/28', '2001:db8:1::10-2001:db8:1::1f'],
        );
        // No two returned pools overlap.
        const all = r.pools.flatMap((p) => p.ranges.map((x) => ({ ...x, pool: p.name })));
        for (let i = 0; i < all.length; i++) {
          for (let j = i + 1; j < all.length; j++) {
            const a = all[i]!;
            const b = all[j]!;
            if (a.pool !== b.pool && a.family === b.family) {
              assert.ok(a.last < b.first || b.last < a.first, `${a.pool} and ${b.pool} overlap`);
            }
          }
        }
      }),
      fuzzParameters(seed),
    );
    report('fuzz-pools-coverage', { otherPoolsAccepted: otherPools, problems });
    assert.ok(otherPools > 0, 'the generator also builds valid pools');
  });
});
