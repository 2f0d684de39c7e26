/**
 * The rules that decide whether a Service may hold an IP, as pure functions: placement (the IP's pool
 * serves the Service) and sharing (MetalLB's rules for several Services on one IP). The allocator
 * applies both on every change, so no path hands out an IP that breaks them.
 */

import { type Problem, problemOf } from '../../shared/errors.ts';
import { type Ip, isBuggyIPv4 } from '../../shared/ip.ts';
import type { CodeIn } from '../../shared/problems.ts';
import { type Pool, type PoolRefusal, poolRefusal } from '../pools/pool.ts';
import { type AllocationRequest, familyName, type ServicePort } from '../services/request.ts';

/** The sharing terms of an IP in use: all Services on it agreed to them. */
export interface SharedIp {
  readonly sharingKey: string | null;
  readonly backendKey: string;
  /** Service key to the ports it uses on the IP. */
  readonly services: ReadonlyMap<string, readonly ServicePort[]>;
}

/** An allocation failure about one Service, as a Problem with a stable `alloc.*` code. */
export function allocationProblem(
  req: AllocationRequest,
  code: CodeIn<'alloc'>,
  value: unknown,
  message: string,
): Problem {
  return problemOf(`alloc.${code}`, `Service ${req.key}`, 'status.loadBalancer', value, message);
}

/** The problem for a pool whose serviceAllocation refuses the Service. */
export function refusalProblem(
  req: AllocationRequest,
  pool: Pool,
  refusal: NonNullable<PoolRefusal>,
  value: string,
): Problem {
  const why = refusal === 'namespace' ? `namespace ${req.namespace}` : 'Services with these labels';
  return allocationProblem(
    req,
    'pool-not-allowed',
    value,
    `IPAddressPool ${pool.name} does not serve ${why} (see its spec.serviceAllocation)`,
  );
}

/** Why `ip`, which lies in `pool` (null: in none), may not be placed on the Service whatever others hold, or null. */
export function placementProblem(req: AllocationRequest, ip: Ip, pool: Pool | null): Problem | null {
  if (!pool) {
    return allocationProblem(
      req,
      'ip-not-in-pool',
      ip.text,
      `${ip.text} is in no IPAddressPool; ask for an address of a pool or add it to one`,
    );
  }
  if (req.pool !== null && pool.name !== req.pool) {
    return allocationProblem(
      req,
      'ip-not-in-named-pool',
      ip.text,
      `${ip.text} is in IPAddressPool ${pool.name}, not in ${req.pool} named by the address-pool annotation; change one of them`,
    );
  }
  if (pool.avoidBuggyIPs && ip.family === 4 && isBuggyIPv4(ip.value)) {
    return allocationProblem(
      req,
      'buggy-ip',
      ip.text,
      `IPAddressPool ${pool.name} has avoidBuggyIPs, so it never gives out .0 or .255 addresses`,
    );
  }
  const refusal = poolRefusal(pool, req);
  if (refusal) return refusalProblem(req, pool, refusal, ip.text);
  if (!req.families.includes(ip.family)) {
    return allocationProblem(
      req,
      'family-mismatch',
      ip.text,
      `${ip.text} is ${familyName(ip.family)}, which the Service's IP families do not include`,
    );
  }
  return null;
}

function portText(p: ServicePort): string {
  return `${p.port}/${p.protocol}`;
}

function backendText(backendKey: string): string {
  return backendKey === 'Cluster'
    ? 'externalTrafficPolicy Cluster'
    : `externalTrafficPolicy Local and selector "${backendKey.slice('Local:'.length)}"`;
}

/**
 * Why the Service may not use `ip` next to the Services already on it (`use`, undefined when none), or
 * null. MetalLB's rules: both carry the same allow-shared-ip key, the same backend terms (traffic
 * policy and, for Local, selector), and no (protocol, port) in common. A Service alone on its IP may
 * change its terms freely.
 */
export function sharingProblem(req: AllocationRequest, ip: Ip, use: SharedIp | undefined): Problem | null {
  if (!use) return null;
  const others = [...use.services.keys()].filter((k) => k !== req.key);
  if (others.length === 0) return null;
  const who = `Service ${others.join(', ')}`;
  if (req.sharingKey === null || use.sharingKey === null || req.sharingKey !== use.sharingKey) {
    const theirs = use.sharingKey === null ? 'no allow-shared-ip key' : `allow-shared-ip "${use.sharingKey}"`;
    const mine = req.sharingKey === null ? 'none' : `"${req.sharingKey}"`;
    return allocationProblem(
      req,
      'ip-in-use',
      ip.text,
      `${ip.text} is used by ${who} with ${theirs} (this Service's key: ${mine}); both need the same allow-shared-ip key to share it`,
    );
  }
  if (req.backendKey !== use.backendKey) {
    return allocationProblem(
      req,
      'sharing-policy-mismatch',
      ip.text,
      `${ip.text} is shared by ${who} with ${backendText(use.backendKey)}, this Service has ${backendText(req.backendKey)}; Services sharing an IP need the same policy, and for Local the same selector`,
    );
  }
  for (const other of others) {
    const theirPorts = use.services.get(other) ?? [];
    const clash = req.ports.find((p) =>
      theirPorts.some((q) => q.port === p.port && q.protocol === p.protocol),
    );
    if (clash) {
      return allocationProblem(
        req,
        'port-conflict',
        ip.text,
        `port ${portText(clash)} on ${ip.text} is already used by Service ${other}; use another port or IP`,
      );
    }
  }
  return null;
}
