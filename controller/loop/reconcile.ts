/**
 * One reconcile pass, pure: the cluster's objects in, everything the controller should make true
 * out — each Service's IPs and events, each pool's status, and the forwarding table. The loop around
 * it (controller-loop.ts) decides when to run it and applies the result; `switchyard plan` prints it.
 */

import type { Problem } from '../../shared/errors.ts';
import type { ForwardingTable } from '../../shared/model.ts';
import type { NodeState } from '../../shared/store/store.ts';
import { type AllocationPlan, allocateAll } from '../allocate/reconcile-allocations.ts';
import type { EndpointSliceObject, NamespaceObject, NodeObject, ServiceObject } from '../model/kubernetes.ts';
import { parsePools } from '../pools/parse.ts';
import type { Pool } from '../pools/pool.ts';
import { isNodeExcluded, isNodeReady } from '../table/backend-nodes.ts';
import { type CompileOptionsInput, compileTable } from '../table/compiler.ts';

/** Everything the controller reads, as plain objects (from informers or a manifest file). */
export interface ClusterObjects {
  /** IPAddressPool objects as written; `parsePools` validates them. */
  readonly pools: readonly unknown[];
  readonly services: readonly ServiceObject[];
  readonly nodes: readonly NodeObject[];
  readonly namespaces: readonly NamespaceObject[];
  readonly endpointSlices: readonly EndpointSliceObject[];
}

/** Settings of a pass that come from flags, not from objects. */
export interface ReconcileOptions {
  /** Serve only Services of this loadBalancerClass; null/unset serves Services without a class. */
  readonly lbClass?: string | null;
  readonly compile?: CompileOptionsInput;
}

/** The outcome of one pass. */
export interface PassResult {
  /** The pools in force: valid ones, plus the last valid version of any whose edit was refused. */
  readonly pools: readonly Pool[];
  /** Pool problems (a refused pool or edit) and notes (host bits masked, MetalLB apiVersion). */
  readonly poolProblems: readonly Problem[];
  readonly poolWarnings: readonly Problem[];
  readonly plan: AllocationPlan;
  /** The forwarding table, version 0: the publisher stamps versions. */
  readonly table: ForwardingTable;
  readonly tableProblems: readonly Problem[];
  /** Ready / excluded state of every node, for speakers choosing VIP owners (sorted by name). */
  readonly nodeStates: readonly NodeState[];
}

/** Run one pass. `previous` carries the last pools and plan so that IPs and refused edits stay stable. */
export function reconcile(
  objects: ClusterObjects,
  options: ReconcileOptions = {},
  previous?: PassResult,
): PassResult {
  const parsed = parsePools(objects.pools, previous ? { lastValid: previous.pools } : {});
  const plan = allocateAll({
    pools: parsed.pools,
    services: objects.services,
    namespaces: objects.namespaces,
    ...(previous ? { previous: previous.plan } : {}),
    options: { lbClass: options.lbClass ?? null },
  });
  const assignments = new Map<string, readonly string[]>();
  for (const s of plan.services) if (s.ips.length > 0) assignments.set(`${s.namespace}/${s.name}`, s.ips);
  const compiled = compileTable({
    services: objects.services,
    assignments,
    nodes: objects.nodes,
    endpointSlices: objects.endpointSlices,
    ...(options.compile ? { options: options.compile } : {}),
  });
  return {
    pools: parsed.pools,
    poolProblems: parsed.problems,
    poolWarnings: parsed.warnings,
    plan,
    table: compiled.table,
    tableProblems: compiled.problems,
    nodeStates: objects.nodes
      .filter((n) => n.metadata?.name)
      .map((n) => ({
        node: n.metadata!.name!,
        ready: isNodeReady(n),
        excludeFromExternalLB: isNodeExcluded(n),
      }))
      .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0)),
  };
}
