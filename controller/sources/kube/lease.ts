/**
 * The leader-election Lease as a coordination.k8s.io/v1 object: reads, creates and conditional
 * replaces through the real client, with a 409 reported as a lost race rather than an error.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { type CoordinationV1Api, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { LeaseRead, LeaseRecord, LeaseStore, LeaseWrite } from '../../loop/leader-election.ts';
import { apiFailure, callOptions, describeFailure, SERVICE_ACCOUNT_DIR } from './client.ts';

/** Where the Lease lives when neither a flag nor the pod's namespace says otherwise. */
export const FALLBACK_LEASE_NAMESPACE = 'switchyard-system';

/** The Lease's default namespace: the pod's own (from its service account), else switchyard-system. */
export function defaultLeaseNamespace(root = ''): string {
  try {
    const ns = readFileSync(`${root}${SERVICE_ACCOUNT_DIR}/namespace`, 'utf8').trim();
    return ns || FALLBACK_LEASE_NAMESPACE;
  } catch {
    return FALLBACK_LEASE_NAMESPACE;
  }
}

/** A default leader-election identity, unique per process: the host (pod) name and the PID. */
export function defaultIdentity(): string {
  return `${hostname()}_${process.pid}`;
}

/** client-node leaves MicroTime fields as strings when reading and takes Dates when writing. */
function time(v: unknown): Date | null {
  if (v instanceof Date) return v;
  if (typeof v !== 'string' || v === '') return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

function recordOf(lease: V1Lease): LeaseRecord {
  const s = lease.spec ?? {};
  return {
    holderIdentity: s.holderIdentity ?? '',
    leaseDurationSeconds: s.leaseDurationSeconds ?? 0,
    acquireTime: time(s.acquireTime),
    renewTime: time(s.renewTime),
    leaseTransitions: s.leaseTransitions ?? 0,
  };
}

/** Options of the Kubernetes Lease store. */
export interface KubeLeaseStoreOptions {
  readonly coordination: CoordinationV1Api;
  readonly namespace: string;
  readonly name: string;
  /** Longest wait for one call; past it the attempt counts as failed (renew deadline applies). */
  readonly requestTimeoutMs: number;
}

/** A LeaseStore over one Lease object. */
export class KubeLeaseStore implements LeaseStore {
  readonly description: string;
  readonly #api: CoordinationV1Api;
  readonly #namespace: string;
  readonly #name: string;
  readonly #call: ReturnType<typeof callOptions>;

  constructor(opts: KubeLeaseStoreOptions) {
    this.#api = opts.coordination;
    this.#namespace = opts.namespace;
    this.#name = opts.name;
    this.#call = callOptions(opts.requestTimeoutMs);
    this.description = `${opts.namespace}/${opts.name}`;
  }

  async read(): Promise<LeaseRead> {
    try {
      const lease = await this.#api.readNamespacedLease(
        { name: this.#name, namespace: this.#namespace },
        this.#call,
      );
      return { ok: true, lease: { record: recordOf(lease), version: lease.metadata?.resourceVersion ?? '' } };
    } catch (err) {
      const f = apiFailure(err);
      return f.code === 404 ? { ok: true, lease: null } : { ok: false, message: describeFailure(f) };
    }
  }

  create(record: LeaseRecord): Promise<LeaseWrite> {
    return this.#write(() =>
      this.#api.createNamespacedLease(
        {
          namespace: this.#namespace,
          body: { metadata: { name: this.#name, namespace: this.#namespace }, spec: this.#spec(record) },
        },
        this.#call,
      ),
    );
  }

  update(record: LeaseRecord, version: string): Promise<LeaseWrite> {
    return this.#write(() =>
      this.#api.replaceNamespacedLease(
        {
          name: this.#name,
          namespace: this.#namespace,
          body: {
            metadata: { name: this.#name, namespace: this.#namespace, resourceVersion: version },
            spec: this.#spec(record),
          },
        },
        this.#call,
      ),
    );
  }

  #spec(r: LeaseRecord): V1Lease['spec'] {
    return {
      holderIdentity: r.holderIdentity,
      leaseDurationSeconds: r.leaseDurationSeconds,
      // A real API server parses MicroTime with exactly six fractional digits, which V1MicroTime writes.
      acquireTime: r.acquireTime ? new V1MicroTime(r.acquireTime.getTime()) : undefined,
      renewTime: r.renewTime ? new V1MicroTime(r.renewTime.getTime()) : undefined,
      leaseTransitions: r.leaseTransitions,
    };
  }

  async #write(call: () => Promise<V1Lease>): Promise<LeaseWrite> {
    try {
      const lease = await call();
      return { ok: true, version: lease.metadata?.resourceVersion ?? '' };
    } catch (err) {
      const f = apiFailure(err);
      // AlreadyExists on create and Conflict on replace both mean another candidate wrote first.
      return { ok: false, conflict: f.code === 409, message: describeFailure(f) };
    }
  }
}
