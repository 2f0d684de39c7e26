/**
 * What the controller writes back to Kubernetes besides Events: a Service's load-balancer status and
 * its `switchyard.io/ip-allocated-from-pool` annotation, and an IPAddressPool's status. Every write
 * is a JSON merge patch of only the fields Switchyard owns, so it needs no resourceVersion, never
 * conflicts with other writers of other fields, and is idempotent (the API server keeps the
 * resourceVersion of a write that changes nothing). Each call returns an outcome; the reconcile loop
 * decides whether to retry.
 */
import { PatchStrategy } from '@kubernetes/client-node';
import type { Logger } from '../shared/log.ts';
import {
  callOptions,
  DEFAULT_REQUEST_TIMEOUT_MS,
  describeFailure,
  type KubeClients,
  POOL_RESOURCE,
  type WriteOutcome,
  writeOutcome,
} from './kube-client.ts';

export type { WriteOutcome };

/** The annotation naming the pool a Service's IP came from (MetalLB's, under our prefix). */
export const ALLOCATED_FROM_POOL_ANNOTATION = 'switchyard.io/ip-allocated-from-pool';

/** A namespaced object by name. */
export interface ObjectRef {
  readonly namespace: string;
  readonly name: string;
}

/** One port of a load-balancer ingress point. */
export interface IngressPort {
  readonly port: number;
  readonly protocol: string;
}

/** An IPAddressPool's status, with MetalLB's field names. */
export interface PoolStatusCounts {
  readonly assignedIPv4: number;
  readonly assignedIPv6: number;
  /** Free addresses; callers cap huge IPv6 ranges at Number.MAX_SAFE_INTEGER. */
  readonly availableIPv4: number;
  readonly availableIPv6: number;
}

/** Options of the writer. */
export interface KubeWriterOptions {
  readonly clients: KubeClients;
  readonly logger: Logger;
  readonly requestTimeoutMs?: number;
}

/** Writes Service and pool status through merge patches. */
export class KubeWriter {
  readonly #clients: KubeClients;
  readonly #log: Logger;
  readonly #merge: ReturnType<typeof callOptions>;

  constructor(opts: KubeWriterOptions) {
    this.#clients = opts.clients;
    this.#log = opts.logger.child({ component: 'kube-writer' });
    this.#merge = callOptions(opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, PatchStrategy.MergePatch);
  }

  /**
   * Set `status.loadBalancer.ingress` to one entry per VIP, each with `ipMode: Proxy` (so kube-proxy
   * leaves VIP traffic to the speaker) and the Service's ports. An empty list clears the ingress.
   */
  writeServiceIngress(
    ref: ObjectRef,
    vips: readonly string[],
    ports: readonly IngressPort[],
  ): Promise<WriteOutcome> {
    const ingress =
      vips.length === 0
        ? null
        : vips.map((ip) => ({
            ip,
            ipMode: 'Proxy',
            ports: ports.map((p) => ({ port: p.port, protocol: p.protocol })),
          }));
    return this.#write('services/status', ref, () =>
      this.#clients.core.patchNamespacedServiceStatus(
        { ...ref, body: { status: { loadBalancer: { ingress } } } },
        this.#merge,
      ),
    );
  }

  /** Set (or, with null, remove) the annotation naming the pool the Service's IP came from. */
  writeAllocatedPool(ref: ObjectRef, pool: string | null): Promise<WriteOutcome> {
    return this.#write('services', ref, () =>
      this.#clients.core.patchNamespacedService(
        { ...ref, body: { metadata: { annotations: { [ALLOCATED_FROM_POOL_ANNOTATION]: pool } } } },
        this.#merge,
      ),
    );
  }

  /** Replace the counts in an IPAddressPool's status (other status fields are left alone). */
  writePoolStatus(ref: ObjectRef, status: PoolStatusCounts): Promise<WriteOutcome> {
    return this.#write('ipaddresspools/status', ref, () =>
      this.#clients.custom.patchNamespacedCustomObjectStatus(
        {
          ...POOL_RESOURCE,
          ...ref,
          body: {
            status: {
              assignedIPv4: status.assignedIPv4,
              assignedIPv6: status.assignedIPv6,
              availableIPv4: status.availableIPv4,
              availableIPv6: status.availableIPv6,
            },
          },
        },
        this.#merge,
      ),
    );
  }

  async #write(what: string, ref: ObjectRef, call: () => Promise<unknown>): Promise<WriteOutcome> {
    const outcome = await writeOutcome(call);
    const object = `${ref.namespace}/${ref.name}`;
    // The loop logs what it decides; here only the detail, at debug.
    if (outcome.ok) this.#log.debug({ event: 'kube.write', what, object }, 'written');
    else
      this.#log.debug(
        { event: 'kube.write-failed', what, object, reason: describeFailure(outcome.failure) },
        'write failed',
      );
    return outcome;
  }
}
