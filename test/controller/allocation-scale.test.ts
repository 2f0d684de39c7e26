/**
 * A cold start with 10,000 Services: correctness only (no timing is asserted; bench/allocator-scale.ts
 * measures time and memory).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { allocateAll } from '../../controller/allocate/reconcile-allocations.ts';
import { parsePools } from '../../controller/pools/parse.ts';
import { parseIp } from '../../shared/ip.ts';
import { poolObject, service } from './objects.ts';

describe('10,000 Services from cold', () => {
  it('each gets distinct addresses of its families from the right pool, and the counts agree', {
    timeout: 60_000,
  }, () => {
    const parsed = parsePools([
      poolObject('big', { addresses: ['10.0.0.0/18', 'fd00::/64'], avoidBuggyIPs: true }),
      poolObject('team', {
        addresses: ['10.1.0.0/22'],
        serviceAllocation: { priority: 1, namespaces: ['team'] },
      }),
    ]);
    assert.deepEqual(parsed.problems, []);
    const services: V1Service[] = [];
    for (let i = 0; i < 10_000; i++) {
      const ns = i % 10 === 0 ? 'team' : 'apps';
      if (i % 5 === 1) services.push(service(`${ns}/dual-${i}`, { policy: 'RequireDualStack' }));
      else if (i % 5 === 2) services.push(service(`${ns}/v6-${i}`, { families: ['IPv6'] }));
      else services.push(service(`${ns}/v4-${i}`));
    }
    const plan = allocateAll({ pools: parsed.pools, services });
    assert.equal(plan.services.length, 10_000);
    const seen = new Set<string>();
    let v4 = { big: 0, team: 0 };
    let v6 = 0;
    for (const o of plan.services) {
      assert.deepEqual(o.errors, [], `${o.namespace}/${o.name}`);
      const want = o.name.startsWith('dual') ? 2 : 1;
      assert.equal(o.ips.length, want, `${o.name} holds ${o.ips.join(',')}`);
      for (const text of o.ips) {
        assert.ok(!seen.has(text), `${text} given twice`);
        seen.add(text);
        const ip = parseIp(text)!;
        if (ip.family === 6) {
          v6++;
          assert.ok(text.startsWith('fd00::'), text);
          continue;
        }
        const last = Number(ip.value & 0xffn);
        if (o.namespace === 'team') {
          assert.ok(text.startsWith('10.1.'), `${o.name} must use the team pool: ${text}`);
          v4 = { ...v4, team: v4.team + 1 };
        } else {
          assert.ok(text.startsWith('10.0.'), `${o.name} must use the big pool: ${text}`);
          assert.ok(last !== 0 && last !== 255, `avoidBuggyIPs broken: ${text}`);
          v4 = { ...v4, big: v4.big + 1 };
        }
      }
    }
    const counts = new Map(plan.pools.map((p) => [p.name, p]));
    assert.equal(counts.get('big')?.assignedIPv4, v4.big);
    assert.equal(counts.get('team')?.assignedIPv4, v4.team);
    assert.equal(counts.get('big')?.assignedIPv6, v6);
    assert.equal(counts.get('big')?.availableIPv4, 16384 - 2 * 64 - v4.big);
    // Lowest first: the team pool (1,024 addresses, 1,000 Services with IPv4) ends exactly at its 1,000th.
    assert.ok(seen.has('10.1.3.231') && !seen.has('10.1.3.232'));
  });
});
