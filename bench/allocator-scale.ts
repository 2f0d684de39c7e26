/**
 * How allocateAll scales with the number of Services. Each size runs in a fresh child process so its
 * peak RSS is its own. Prints, per size: cold start (no Service holds an IP), the steady-state pass
 * (every status already written, as in the controller loop), and the per-Service cost, which stays
 * flat when the work is linear.
 *
 *   node --import tsx bench/allocator-scale.ts            # 1k, 5k, 10k, 20k and an exhausted pool
 *   node --import tsx bench/allocator-scale.ts 10000      # one size
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { allocateAll } from '../controller/allocate/reconcile-allocations.ts';
import type { ServiceObject } from '../controller/model/kubernetes.ts';
import { parsePools } from '../controller/pools/parse.ts';

interface Row {
  services: number;
  scenario: string;
  coldMs: number;
  steadyMs: number;
  allocated: number;
  peakRssMiB: number;
}

/** The Services of one run: mostly IPv4, some dual-stack and IPv6, some sharing, some explicit requests. */
function cluster(n: number): ServiceObject[] {
  const out: ServiceObject[] = [];
  for (let i = 0; i < n; i++) {
    const ns = `ns-${i % 50}`;
    const annotations: Record<string, string> = {};
    const spec: Record<string, unknown> = { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] };
    if (i % 10 === 1)
      Object.assign(spec, { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] });
    if (i % 10 === 2) Object.assign(spec, { ipFamilies: ['IPv6'] });
    if (i % 20 === 3 || i % 20 === 4) {
      // Pairs that share one IP on different ports.
      annotations['switchyard.io/allow-shared-ip'] = `pair-${Math.floor(i / 20)}`;
      spec['ports'] = [{ port: i % 20 === 3 ? 80 : 443, protocol: 'TCP' }];
    }
    if (i % 50 === 5) annotations['switchyard.io/loadBalancerIPs'] = `10.200.${(i >> 8) & 0xff}.${i & 0xff}`;
    out.push({
      metadata: { name: `svc-${i}`, namespace: ns, annotations, uid: `uid-${i}` },
      spec,
    } as ServiceObject);
  }
  return out;
}

function poolObjects(exhausted: boolean): unknown[] {
  const meta = (name: string) => ({ name, namespace: 'switchyard-system' });
  const kind = { apiVersion: 'switchyard.io/v1beta1', kind: 'IPAddressPool' };
  if (exhausted)
    return [{ ...kind, metadata: meta('small'), spec: { addresses: ['10.0.0.0/22', 'fd00::/118'] } }];
  return [
    {
      ...kind,
      metadata: meta('general'),
      spec: { addresses: ['10.0.0.0/16', 'fd00::/64'], avoidBuggyIPs: true },
    },
    {
      ...kind,
      metadata: meta('team'),
      spec: {
        addresses: ['10.100.0.0/20'],
        serviceAllocation: { priority: 1, namespaces: ['ns-0', 'ns-1'] },
      },
    },
    { ...kind, metadata: meta('requested'), spec: { addresses: ['10.200.0.0/16'], autoAssign: false } },
  ];
}

function measure(n: number, exhausted: boolean): Row {
  const parsed = parsePools(poolObjects(exhausted));
  if (parsed.problems.length > 0) throw new Error(JSON.stringify(parsed.problems));
  const services = cluster(n);
  const t0 = performance.now();
  const plan = allocateAll({ pools: parsed.pools, services });
  const coldMs = performance.now() - t0;
  // plan.services is sorted by key, so outcomes are matched to Services by key.
  const byKey = new Map(plan.services.map((o) => [`${o.namespace}/${o.name}`, o.ips]));
  const written = services.map((s) => ({
    ...s,
    status: {
      loadBalancer: {
        ingress: (byKey.get(`${s.metadata?.namespace}/${s.metadata?.name}`) ?? []).map((ip) => ({ ip })),
      },
    },
  }));
  const t1 = performance.now();
  const steady = allocateAll({ pools: parsed.pools, services: written, previous: plan });
  const steadyMs = performance.now() - t1;
  if (steady.services.some((o) => o.changed)) throw new Error('steady-state pass changed an allocation');
  return {
    services: n,
    scenario: exhausted ? 'pool of 1,024 IPv4' : '3 pools, mixed',
    coldMs,
    steadyMs,
    allocated: plan.services.filter((o) => o.ips.length > 0).length,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  process.stdout.write(JSON.stringify(measure(Number(args[1]), args[2] === 'exhausted')));
} else {
  const runs: [number, boolean][] = args[0]
    ? [[Number(args[0]), false]]
    : [
        [1000, false],
        [5000, false],
        [10000, false],
        [20000, false],
        [10000, true],
      ];
  const self = fileURLToPath(import.meta.url);
  console.log(`node ${process.version}, ${new Date().toISOString()}`);
  console.log('services  scenario              cold ms  µs/svc  steady ms  allocated  peak RSS MiB');
  for (const [n, exhausted] of runs) {
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', self, '--child', String(n), exhausted ? 'exhausted' : ''],
      { encoding: 'utf8', timeout: 120_000 },
    );
    const r = JSON.parse(out) as Row;
    console.log(
      `${String(r.services).padStart(8)}  ${r.scenario.padEnd(20)} ${r.coldMs.toFixed(0).padStart(8)}  ${((r.coldMs * 1000) / r.services).toFixed(0).padStart(6)}  ${r.steadyMs.toFixed(0).padStart(9)}  ${String(r.allocated).padStart(9)}  ${r.peakRssMiB.toFixed(0).padStart(12)}`,
    );
  }
}
