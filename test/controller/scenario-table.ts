/**
 * The harness for allocator scenario tables in the manner of MetalLB's allocator_test.go: a table drives
 * one allocator through steps, and each step states what must happen.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Allocator } from '../../controller/allocate/allocator.ts';
import type { Pool } from '../../controller/pools/pool.ts';
import { parseIp } from '../../shared/ip.ts';
import { request, type ServiceSpec } from './objects.ts';

/** One step of a table. */
export interface Step {
  desc: string;
  op: 'assign' | 'allocate' | 'unassign' | 'release' | 'setPools';
  svc?: string;
  spec?: ServiceSpec;
  /** Labels of the Service's namespace. */
  ns?: Record<string, string>;
  ips?: string[];
  pools?: Pool[];
  /** The IPs the Service must hold after the step. */
  want?: string[];
  /** The error code the step must fail with (and then nothing changes). */
  wantErr?: string;
  /** Text the error message must contain, e.g. the other Service's name. */
  wantMsg?: RegExp;
  /** Services that must have lost an IP in setPools. */
  wantLost?: string[];
  /** The Services that must be on an IP after the step. */
  on?: Record<string, string[]>;
}

/** Parse an IP the test expects to be valid. */
export function ip(text: string) {
  const v = parseIp(text);
  assert.ok(v, `bad IP in test: ${text}`);
  return v;
}

/** Run a table as one suite whose steps are sequential tests sharing one allocator. */
export function runTable(name: string, initial: Pool[], steps: Step[]): void {
  describe(name, () => {
    const a = new Allocator(initial);
    for (const step of steps) {
      it(step.desc, { timeout: 5000 }, () => {
        const key = step.svc ? (step.svc.includes('/') ? step.svc : `default/${step.svc}`) : '';
        const before = key ? a.holding(key)?.ips.map((i) => i.text) : undefined;
        let result: ReturnType<Allocator['assign']> | null = null;
        switch (step.op) {
          case 'assign':
            result = a.assign(request(key, step.spec, step.ns), (step.ips ?? []).map(ip));
            break;
          case 'allocate':
            result = a.allocate(request(key, step.spec, step.ns));
            break;
          case 'unassign':
            assert.equal(a.unassign(key), true, 'the Service must have held something');
            break;
          case 'release':
            assert.equal(
              a.release(key, ip((step.ips ?? [])[0] as string)),
              true,
              'the Service must have held the IP',
            );
            break;
          case 'setPools':
            assert.deepEqual(a.setPools(step.pools ?? []).sort(), (step.wantLost ?? []).sort());
            break;
        }
        if (step.wantErr) {
          assert.ok(result && !result.ok, `expected ${step.wantErr}, got ${JSON.stringify(result)}`);
          if (result && !result.ok) {
            assert.equal(result.problem.code, step.wantErr, result.problem.message);
            if (step.wantMsg) assert.match(result.problem.message, step.wantMsg);
          }
          assert.deepEqual(
            a.holding(key)?.ips.map((i) => i.text),
            before,
            'a failed step changes nothing',
          );
        } else if (result) {
          assert.ok(result.ok, result.ok ? '' : `${result.problem.code}: ${result.problem.message}`);
        }
        if (step.want) assert.deepEqual(a.holding(key)?.ips.map((i) => i.text) ?? [], step.want);
        for (const [addr, svcs] of Object.entries(step.on ?? {})) {
          assert.deepEqual(a.servicesOn(ip(addr)).sort(), svcs.sort(), `Services on ${addr}`);
        }
      });
    }
  });
}
