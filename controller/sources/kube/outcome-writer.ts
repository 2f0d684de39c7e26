/**
 * The reconcile loop's OutcomeWriter in Kubernetes mode: a Service's IPs become its
 * `status.loadBalancer.ingress` (ipMode Proxy, the Service's ports) and the
 * `switchyard.io/ip-allocated-from-pool` annotation, outcome events become core/v1 Events, and pool
 * counts become the IPAddressPool's status. What the cluster already shows (from the informers'
 * view) is not written again. A write that failed for a reason worth retrying throws, so the loop
 * retries the pass with backoff; a Service or pool that is gone (404) is skipped, as its deletion is
 * on its way through the watch.
 */
import type { Logger } from '../../../shared/log.ts';
import type { PoolStatus, ServiceOutcome } from '../../allocate/reconcile-allocations.ts';
import type { OutcomeWriter } from '../../loop/controller-loop.ts';
import { type ApiFailure, describeFailure, type WriteOutcome } from './client.ts';
import type { KubeCollections } from './cluster-objects.ts';
import type { EventRecorder } from './events.ts';
import type { KubeIPAddressPool, KubeService } from './objects.ts';
import {
  ALLOCATED_FROM_POOL_ANNOTATION,
  type IngressPort,
  type KubeWriter,
  type WrittenOutcome,
} from './writer.ts';

/** Options of the Kubernetes outcome writer. */
export interface KubeOutcomeWriterOptions {
  readonly writer: KubeWriter;
  readonly recorder: EventRecorder;
  /** The informers' current view: Service ports and what is already written. */
  readonly view: () => KubeCollections;
  readonly logger: Logger;
}

/** The API refused or failed a write; the loop retries the pass. */
export class KubeWriteError extends Error {
  readonly failure: ApiFailure;
  constructor(what: string, failure: ApiFailure) {
    super(`${what}: ${describeFailure(failure)}`);
    this.name = 'KubeWriteError';
    this.failure = failure;
  }
}

interface WantedIngress {
  readonly ip: string;
  readonly ipMode: 'Proxy';
  readonly ports: readonly IngressPort[];
}

function ingressPorts(svc: KubeService | undefined): IngressPort[] {
  return (svc?.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol }));
}

function wantedIngress(outcome: ServiceOutcome, svc: KubeService | undefined): WantedIngress[] {
  const ports = ingressPorts(svc);
  return outcome.ips.map((ip) => ({ ip, ipMode: 'Proxy', ports }));
}

function shownIngress(svc: KubeService): WantedIngress[] {
  return svc.ingress.map((i) => ({ ip: i.ip, ipMode: i.ipMode as 'Proxy', ports: i.ports }));
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Writes outcomes to the Kubernetes API. */
export class KubeOutcomeWriter implements OutcomeWriter {
  readonly #writer: KubeWriter;
  readonly #recorder: EventRecorder;
  readonly #view: () => KubeCollections;
  readonly #log: Logger;

  constructor(opts: KubeOutcomeWriterOptions) {
    this.#writer = opts.writer;
    this.#recorder = opts.recorder;
    this.#view = opts.view;
    this.#log = opts.logger;
  }

  /** The ingress and annotation the Service should show, and whether it shows something else. */
  serviceDrift(outcome: ServiceOutcome): { readonly want: string; readonly differs: boolean } {
    const svc = this.#service(outcome);
    const ingress = wantedIngress(outcome, svc);
    const want = JSON.stringify([ingress, outcome.pool]);
    if (!svc) return { want, differs: false };
    const annotation = svc.annotations[ALLOCATED_FROM_POOL_ANNOTATION] ?? null;
    return { want, differs: annotation !== outcome.pool || !sameJson(shownIngress(svc), ingress) };
  }

  /**
   * Annotation first, then status: a status that landed without its annotation would not be retried.
   * The first patch carries the resourceVersion the pass decided on, the second the one the first
   * left, so either is refused (409, the pass is retried on fresh data) if the Service changed since.
   */
  async writeService(outcome: ServiceOutcome): Promise<void> {
    const svc = this.#service(outcome);
    if (!svc) return;
    const ref = { namespace: outcome.namespace, name: outcome.name };
    const service = `${ref.namespace}/${ref.name}`;
    let resourceVersion = outcome.resourceVersion;
    let wrote = false;
    if ((svc.annotations[ALLOCATED_FROM_POOL_ANNOTATION] ?? null) !== outcome.pool) {
      const written = await this.#writer.writeAllocatedPool(ref, outcome.pool, resourceVersion);
      if (!this.#check(`annotate Service ${service}`, written)) return;
      resourceVersion = written.ok ? written.resourceVersion : null;
      wrote = true;
    }
    const ingress = wantedIngress(outcome, svc);
    if (!sameJson(shownIngress(svc), ingress)) {
      const written = await this.#writer.writeServiceIngress(
        ref,
        outcome.ips,
        ingressPorts(svc),
        resourceVersion,
      );
      if (!this.#check(`write the status of Service ${service}`, written)) return;
      wrote = true;
    }
    if (!wrote) return;
    if (outcome.ips.length > 0) {
      this.#log.info(
        { event: 'service-allocated', service, vip: outcome.ips.join(','), pool: outcome.pool },
        `${service} has ${outcome.ips.join(', ')}`,
      );
    } else {
      this.#log.info({ event: 'service-pending', service }, `${service} has no IP`);
    }
  }

  /** Best effort, as Events are: a failure is logged by the recorder and not retried here. */
  async recordEvents(outcome: ServiceOutcome): Promise<void> {
    const subject = {
      kind: 'Service',
      apiVersion: 'v1',
      namespace: outcome.namespace,
      name: outcome.name,
      ...(outcome.uid ? { uid: outcome.uid } : {}),
    };
    const service = `${outcome.namespace}/${outcome.name}`;
    await Promise.all(
      outcome.events.map((e) => {
        const level = e.type === 'Warning' ? 'warn' : 'debug';
        this.#log[level]({ event: 'service-event', service, reason: e.reason }, `${service}: ${e.message}`);
        return this.#recorder.record({ subject, type: e.type, reason: e.reason, message: e.message });
      }),
    );
  }

  /**
   * Counts go to the pool of that name; a status that already shows them is not written. The patch
   * carries the resourceVersion of the pool as compared, so a pool changed since gets 409.
   */
  async writePoolStatus(status: PoolStatus): Promise<void> {
    const pool = this.#pool(status.name);
    if (!pool || sameCounts(pool.status, status)) return;
    const ref = { namespace: pool.namespace, name: pool.name };
    const written = await this.#writer.writePoolStatus(ref, status, pool.resourceVersion || null);
    this.#check(`write the status of IPAddressPool ${pool.key}`, written);
  }

  #service(outcome: ServiceOutcome): KubeService | undefined {
    return this.#view().services.get(`${outcome.namespace}/${outcome.name}`);
  }

  /**
   * The pool object of that name. The pool parser uses the first of a duplicated name in input
   * order, which is key order (cluster-objects.ts), so the refused duplicates get no counts.
   */
  #pool(name: string): KubeIPAddressPool | undefined {
    let first: KubeIPAddressPool | undefined;
    for (const p of this.#view().pools.values()) {
      if (p.name === name && (!first || p.key < first.key)) first = p;
    }
    return first;
  }

  /** True when written; false when the object is gone; throws when the pass should be retried. */
  #check(what: string, outcome: WrittenOutcome | WriteOutcome): boolean {
    if (outcome.ok) return true;
    if (outcome.failure.code === 404) return false;
    throw new KubeWriteError(`could not ${what}`, outcome.failure);
  }
}

function sameCounts(shown: unknown, status: PoolStatus): boolean {
  if (typeof shown !== 'object' || shown === null) return false;
  const s = shown as Record<string, unknown>;
  return (
    s.assignedIPv4 === status.assignedIPv4 &&
    s.assignedIPv6 === status.assignedIPv6 &&
    s.availableIPv4 === status.availableIPv4 &&
    s.availableIPv6 === status.availableIPv6
  );
}
