import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  assignOwners,
  eligibleNodes,
  preferredOwner,
  rankNodes,
  rendezvousWeight,
} from '../../speaker/ownership/rendezvous.ts';

const SEED = 20_240_611;

function vipsOf(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `198.18.${(i >> 8) & 255}.${i & 255}`);
}

const nodeName = fc.stringMatching(/^[a-z][a-z0-9-]{0,14}$/);
const vip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c]) => `10.${a}.${b}.${c}`);

describe('rendezvous ownership', () => {
  it('is deterministic and independent of the order nodes are listed in', () => {
    fc.assert(
      fc.property(fc.uniqueArray(nodeName, { minLength: 1, maxLength: 8 }), vip, (nodes, v) => {
        const owner = preferredOwner(v, nodes);
        assert.equal(preferredOwner(v, [...nodes].reverse()), owner);
        assert.equal(rankNodes(v, nodes)[0], owner);
        assert.deepEqual(rankNodes(v, [...nodes].reverse()), rankNodes(v, nodes));
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('spreads 1,000 VIPs over 5 nodes within ±25% of an even share', () => {
    const nodes = ['node-a', 'node-b', 'node-c', 'node-d', 'node-e'];
    const counts = new Map<string, number>();
    for (const owner of assignOwners(vipsOf(1000), nodes).values())
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    assert.equal(counts.size, 5, 'every node owns some');
    for (const [node, c] of counts) assert.ok(c >= 150 && c <= 250, `${node} owns ${c} of 1000`);
  });

  it('stays balanced for random node names (seeded)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(nodeName, { minLength: 5, maxLength: 5 }), (nodes) => {
        const counts = new Map<string, number>(nodes.map((n) => [n, 0]));
        for (const owner of assignOwners(vipsOf(1000), nodes).values())
          counts.set(owner, counts.get(owner)! + 1);
        for (const c of counts.values())
          assert.ok(c >= 140 && c <= 260, `unbalanced: ${[...counts.values()]}`);
      }),
      { seed: SEED, numRuns: 30 },
    );
  });

  it('moves only VIPs that now prefer an added node, and only to it', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(nodeName, { minLength: 2, maxLength: 7 }),
        fc.uniqueArray(vip, { minLength: 1, maxLength: 200 }),
        (names, vips) => {
          const [added, ...before] = names as [string, ...string[]];
          const was = assignOwners(vips, before);
          const now = assignOwners(vips, [...before, added]);
          for (const v of vips) {
            if (now.get(v) !== was.get(v)) assert.equal(now.get(v), added, `${v} moved to ${now.get(v)}`);
          }
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('moves only the removed node’s VIPs when a node leaves, to their second choice', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(nodeName, { minLength: 2, maxLength: 7 }),
        fc.uniqueArray(vip, { minLength: 1, maxLength: 200 }),
        (nodes, vips) => {
          const gone = nodes[0]!;
          const rest = nodes.slice(1);
          const was = assignOwners(vips, nodes);
          const now = assignOwners(vips, rest);
          for (const v of vips) {
            if (was.get(v) !== gone) assert.equal(now.get(v), was.get(v));
            else assert.equal(now.get(v), rankNodes(v, nodes)[1]);
          }
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('gives a weight that depends on both node and VIP', () => {
    assert.notEqual(rendezvousWeight('a', '10.0.0.1'), rendezvousWeight('a', '10.0.0.2'));
    assert.notEqual(rendezvousWeight('a', '10.0.0.1'), rendezvousWeight('b', '10.0.0.1'));
    // The separator keeps ("ab", "c") and ("a", "bc") apart.
    assert.notEqual(rendezvousWeight('ab', 'c'), rendezvousWeight('a', 'bc'));
    assert.equal(preferredOwner('10.0.0.1', []), undefined);
  });
});

describe('eligibleNodes', () => {
  const speakers = [{ node: 'a' }, { node: 'b' }, { node: 'c' }, { node: 'd' }];

  it('takes every live speaker when no node states were published', () => {
    assert.deepEqual(eligibleNodes(speakers, null), ['a', 'b', 'c', 'd']);
  });

  it('drops speakers on nodes that are not Ready, are excluded, or are unknown to the controller', () => {
    const states = new Map([
      ['a', { node: 'a', ready: true, excludeFromExternalLB: false }],
      ['b', { node: 'b', ready: false, excludeFromExternalLB: false }],
      ['c', { node: 'c', ready: true, excludeFromExternalLB: true }],
      ['e', { node: 'e', ready: true, excludeFromExternalLB: false }],
    ]);
    assert.deepEqual(eligibleNodes(speakers, states), ['a']);
  });
});
