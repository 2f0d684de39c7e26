/**
 * What the controller writes back to Kubernetes besides Events: a Service's load-balancer status and
 * its `switchyard.io/ip-allocated-from-pool` annotation, and an IPAddressPool's status. Every write
 * is a JSON merge patch of only the fields Switchyard owns, and carries the `metadata.resourceVersion`
 * of the object as the decision to write was made on it: the API server answers 409 Conflict when the
 * object changed since, so a write decided on a stale read never lands (the loop retries the pass on
 * fresh data). It is idempotent (the API server keeps the resourceVersion of a write that changes
 * nothing). Each call returns an outcome, with the object's new resourceVersion; the reconcile loop
 * decides whether to retry.
 */
import { PatchStrategy } from '@kubernetes/client-node';
import type { Logger } from '../../../shared/log.ts';
import {
  callOptions,
  DEFAULT_REQUEST_TIMEOUT_MS,
  describeFailure,
  type KubeClients,
  POOL_RESOURCE,
  type WriteOutcome,
  writeOutcome,
} from './client.ts';

export type { WriteOutcome };

/** A write's outcome; when done, the object's resourceVersion after it (null if the reply had none). */
export type WrittenOutcome =
  | { readonly ok: true; readonly resourceVersion: string | null }
  | Extract<WriteOutcome, { ok: false }>;

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

/**
 * The patch part that makes the API server refuse the write (409) unless the object is still at
 * `resourceVersion`; nothing when there is none to hold it to.
 */
function precondition(resourceVersion: string | null): { metadata?: { resourceVersion: string } } {
  return resourceVersion ? { metadata: { resourceVersion } } : {};
}

function resourceVersionOf(obj: unknown): string | null {
  const rv = (obj as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
  return typeof rv === 'string' && rv !== '' ? rv : null;
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
    resourceVersion: string | null,
  ): Promise<WrittenOutcome> {
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
        { ...ref, body: { ...precondition(resourceVersion), status: { loadBalancer: { ingress } } } },
        this.#merge,
      ),
    );
  }

  /** Set (or, with null, remove) the annotation naming the pool the Service's IP came from. */
  writeAllocatedPool(
    ref: ObjectRef,
    pool: string | null,
    resourceVersion: string | null,
  ): Promise<WrittenOutcome> {
    const metadata = {
      ...precondition(resourceVersion).metadata,
      annotations: { [ALLOCATED_FROM_POOL_ANNOTATION]: pool },
    };
    return this.#write('services', ref, () =>
      this.#clients.core.patchNamespacedService({ ...ref, body: { metadata } }, this.#merge),
    );
  }

  /** Replace the counts in an IPAddressPool's status (other status fields are left alone). */
  writePoolStatus(
    ref: ObjectRef,
    status: PoolStatusCounts,
    resourceVersion: string | null,
  ): Promise<WrittenOutcome> {
    return this.#write('ipaddresspools/status', ref, () =>
      this.#clients.custom.patchNamespacedCustomObjectStatus(
        {
          ...POOL_RESOURCE,
          ...ref,
          body: {
            ...precondition(resourceVersion),
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

  async #write(what: string, ref: ObjectRef, call: () => Promise<unknown>): Promise<WrittenOutcome> {
    let written: unknown;
    const done = await writeOutcome(async () => {
      written = await call();
    });
    const outcome: WrittenOutcome = done.ok
      ? { ok: true, resourceVersion: resourceVersionOf(written) }
      : done;
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
