/**
 * The fake API server's storage: every object of every resource, one global resourceVersion that
 * grows by one with each write (as etcd's revision does), and a bounded history of changes that
 * watches replay from. Write semantics follow the real server where a controller can tell the
 * difference: uid and creationTimestamp on create, 409 on a stale resourceVersion, the status
 * subresource split, generation bumped on spec change, and no new resourceVersion for a no-op write.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as status from './api-status.ts';
import type { Json } from './patch.ts';
import { apiVersionOf, type ResourceType, resourceId } from './resources.ts';

/** An object as stored and served: plain JSON with `metadata`. */
export type KubeObject = { [key: string]: Json } & { metadata: { [key: string]: Json } };

/** One stored change, as watches see it. */
export interface StoreEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly rv: number;
  readonly resource: ResourceType;
  readonly object: KubeObject;
  /** The object before this change (null for ADDED), so a filtered watch can tell entry from exit. */
  readonly previous: KubeObject | null;
}

/** The outcome of a write: the stored object, or the Status the server answers with. */
export type StoreResult =
  | { readonly ok: true; readonly value: KubeObject }
  | { readonly ok: false; readonly status: status.ApiStatus };

/** What a watch from a resourceVersion gets: the events after it, or 410 when they are gone. */
export type HistoryResult =
  | { readonly ok: true; readonly events: readonly StoreEvent[] }
  | { readonly ok: false; readonly status: status.ApiStatus };

/** Options of the store. */
export interface ObjectStoreOptions {
  /** Changes kept for watches to replay; older ones are compacted away. */
  readonly maxHistory?: number;
  readonly now?: () => Date;
}

const GENERATE_NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

function clone<T>(v: T): T {
  return structuredClone(v);
}

/** RFC 3339 with seconds precision, as Kubernetes writes `metav1.Time`. */
function timestamp(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

function metaString(obj: KubeObject, key: string): string | undefined {
  const v = obj.metadata[key];
  return typeof v === 'string' ? v : undefined;
}

function sameJson(a: Json | undefined, b: Json | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** In-memory objects, global resourceVersion and change history. */
export class ObjectStore {
  #rv = 0;
  #compactedRv = 0;
  readonly #objects = new Map<string, Map<string, KubeObject>>();
  readonly #resources = new Map<string, ResourceType>();
  #history: StoreEvent[] = [];
  readonly #listeners = new Set<(e: StoreEvent) => void>();
  readonly #maxHistory: number;
  readonly #now: () => Date;

  constructor(opts: ObjectStoreOptions = {}) {
    this.#maxHistory = opts.maxHistory ?? 10_000;
    this.#now = opts.now ?? (() => new Date());
  }

  /** The latest resourceVersion handed out. */
  get resourceVersion(): number {
    return this.#rv;
  }

  /** Watches from a resourceVersion below this one get 410 Gone. */
  get compactedResourceVersion(): number {
    return this.#compactedRv;
  }

  #bucket(r: ResourceType): Map<string, KubeObject> {
    const id = resourceId(r);
    let b = this.#objects.get(id);
    if (!b) {
      b = new Map();
      this.#objects.set(id, b);
    }
    return b;
  }

  /** Objects of `r`, in one namespace or (null) all, sorted by namespace then name; copies. */
  list(r: ResourceType, namespace: string | null): KubeObject[] {
    const out: KubeObject[] = [];
    for (const obj of this.#bucket(r).values()) {
      if (namespace === null || metaString(obj, 'namespace') === namespace) out.push(clone(obj));
    }
    return out.sort((a, b) => {
      const ka = `${metaString(a, 'namespace') ?? ''}/${metaString(a, 'name')}`;
      const kb = `${metaString(b, 'namespace') ?? ''}/${metaString(b, 'name')}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  }

  /** One object, or undefined; a copy. */
  get(r: ResourceType, namespace: string | null, name: string): KubeObject | undefined {
    const obj = this.#bucket(r).get(`${namespace ?? ''}/${name}`);
    return obj ? clone(obj) : undefined;
  }

  /** Be told of every change, in resourceVersion order, synchronously. Returns the unsubscribe. */
  subscribe(listener: (e: StoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The changes after `rv`, or 410 Expired when some of them have been compacted away. */
  historySince(rv: number, requested: string): HistoryResult {
    if (rv < this.#compactedRv) return { ok: false, status: status.expired(requested, this.#compactedRv) };
    return { ok: true, events: this.#history.filter((e) => e.rv > rv) };
  }

  /** Forget all history: a watch from any resourceVersion older than now gets 410. */
  compact(): void {
    this.#history = [];
    this.#compactedRv = this.#rv;
  }

  #commit(type: StoreEvent['type'], r: ResourceType, obj: KubeObject, previous: KubeObject | null): void {
    const event: StoreEvent = { type, rv: this.#rv, resource: r, object: clone(obj), previous };
    this.#history.push(event);
    if (this.#history.length > this.#maxHistory) {
      const dropped = this.#history.splice(0, this.#history.length - this.#maxHistory);
      this.#compactedRv = dropped.at(-1)?.rv ?? this.#compactedRv;
    }
    for (const l of this.#listeners) l(event);
  }

  #target(r: ResourceType, name: string): status.StatusTarget {
    return { plural: r.plural, group: r.group, name };
  }

  /** Store `obj` as is (status included), creating or replacing: the test hook behind `seed`. */
  put(r: ResourceType, obj: KubeObject): KubeObject {
    const name = metaString(obj, 'name');
    if (!name) throw new Error('seeded object needs metadata.name');
    const namespace = r.namespaced ? (metaString(obj, 'namespace') ?? 'default') : undefined;
    const key = `${namespace ?? ''}/${name}`;
    const previous = this.#bucket(r).get(key) ?? null;
    const prevGeneration = (previous?.metadata.generation as number | undefined) ?? 0;
    const generation = previous && sameJson(previous.spec, obj.spec) ? prevGeneration : prevGeneration + 1;
    this.#rv++;
    const stored: KubeObject = {
      ...clone(obj),
      apiVersion: apiVersionOf(r),
      kind: r.kind,
      metadata: {
        ...clone(obj.metadata),
        ...(namespace ? { namespace } : {}),
        uid: metaString(previous ?? obj, 'uid') ?? randomUUID(),
        creationTimestamp: metaString(previous ?? obj, 'creationTimestamp') ?? timestamp(this.#now()),
        resourceVersion: String(this.#rv),
        ...(r.statusSubresource ? { generation } : {}),
      },
    };
    this.#bucket(r).set(key, stored);
    this.#commit(previous ? 'MODIFIED' : 'ADDED', r, stored, previous);
    return clone(stored);
  }

  /** POST: a new object in `namespace` (null for cluster-scoped). */
  create(r: ResourceType, namespace: string | null, body: KubeObject): StoreResult {
    const meta = body.metadata;
    if (metaString(body, 'resourceVersion')) {
      return {
        ok: false,
        status: status.badRequest('resourceVersion should not be set on objects to be created'),
      };
    }
    let name = metaString(body, 'name');
    const generateName = metaString(body, 'generateName');
    if (!name && generateName) {
      const bytes = randomBytes(5);
      name =
        generateName + [...bytes].map((b) => GENERATE_NAME_CHARS[b % GENERATE_NAME_CHARS.length]).join('');
    }
    if (!name) {
      return {
        ok: false,
        status: status.invalid('metadata.name: Required value: name or generateName is required'),
      };
    }
    const bodyNs = metaString(body, 'namespace');
    if (r.namespaced && namespace !== null && bodyNs !== undefined && bodyNs !== namespace) {
      return {
        ok: false,
        status: status.badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        ),
      };
    }
    const ns = r.namespaced ? (namespace ?? bodyNs ?? 'default') : null;
    if (ns !== null && !this.#namespaceExists(ns)) {
      return { ok: false, status: status.notFound({ plural: 'namespaces', group: '', name: ns }) };
    }
    const key = `${ns ?? ''}/${name}`;
    if (this.#bucket(r).has(key)) return { ok: false, status: status.alreadyExists(this.#target(r, name)) };
    this.#rv++;
    const stored: KubeObject = {
      ...clone(body),
      apiVersion: apiVersionOf(r),
      kind: r.kind,
      metadata: {
        ...clone(meta),
        name,
        ...(ns !== null ? { namespace: ns } : {}),
        uid: randomUUID(),
        creationTimestamp: timestamp(this.#now()),
        resourceVersion: String(this.#rv),
        ...(r.statusSubresource ? { generation: 1 } : {}),
      },
    };
    // The status subresource owns .status: a create cannot set it, as on a real server.
    if (r.statusSubresource) delete stored.status;
    this.#bucket(r).set(key, stored);
    this.#commit('ADDED', r, stored, null);
    return { ok: true, value: clone(stored) };
  }

  #namespaceExists(ns: string): boolean {
    for (const [id, bucket] of this.#objects) {
      if (id === 'namespaces/v1') return bucket.has(`/${ns}`);
    }
    return false;
  }

  /**
   * PUT (and the tail of PATCH): replace the object. With `subresource` 'status' only `.status`
   * changes; otherwise, for resources with a status subresource, `.status` is kept as stored.
   */
  update(
    r: ResourceType,
    namespace: string | null,
    name: string,
    body: KubeObject,
    subresource: 'status' | null,
  ): StoreResult {
    const key = `${namespace ?? ''}/${name}`;
    const existing = this.#bucket(r).get(key);
    if (!existing) return { ok: false, status: status.notFound(this.#target(r, name)) };
    const bodyName = metaString(body, 'name');
    if (bodyName !== undefined && bodyName !== name) {
      return {
        ok: false,
        status: status.badRequest('the name of the object does not match the name on the URL'),
      };
    }
    const wantRv = metaString(body, 'resourceVersion');
    if (wantRv !== undefined && wantRv !== '' && wantRv !== metaString(existing, 'resourceVersion')) {
      return { ok: false, status: status.conflict(this.#target(r, name)) };
    }
    let next: KubeObject;
    if (subresource === 'status') {
      next = { ...clone(existing) };
      if (body.status === undefined) delete next.status;
      else next.status = clone(body.status);
    } else {
      next = { ...clone(body), metadata: { ...clone(body.metadata) } };
      if (r.statusSubresource) {
        if (existing.status === undefined) delete next.status;
        else next.status = clone(existing.status);
      }
      // Fields the server owns cannot be changed by a client.
      for (const owned of ['uid', 'creationTimestamp', 'generation', 'namespace', 'name']) {
        const v = existing.metadata[owned];
        if (v === undefined) delete next.metadata[owned];
        else next.metadata[owned] = v;
      }
    }
    next.apiVersion = apiVersionOf(r);
    next.kind = r.kind;
    next.metadata.resourceVersion = existing.metadata.resourceVersion ?? null;
    if (sameJson(next, existing)) return { ok: true, value: clone(existing) };
    if (r.statusSubresource && !sameJson(next.spec, existing.spec)) {
      next.metadata.generation = ((existing.metadata.generation as number | undefined) ?? 0) + 1;
    }
    this.#rv++;
    next.metadata.resourceVersion = String(this.#rv);
    this.#bucket(r).set(key, next);
    this.#commit('MODIFIED', r, next, clone(existing));
    return { ok: true, value: clone(next) };
  }

  /** DELETE, at once (no finalizers); a Namespace takes the objects inside it along. */
  delete(
    r: ResourceType,
    namespace: string | null,
    name: string,
    preconditions: { uid?: string; resourceVersion?: string } = {},
  ): StoreResult {
    const key = `${namespace ?? ''}/${name}`;
    const existing = this.#bucket(r).get(key);
    if (!existing) return { ok: false, status: status.notFound(this.#target(r, name)) };
    if (
      (preconditions.uid !== undefined && preconditions.uid !== metaString(existing, 'uid')) ||
      (preconditions.resourceVersion !== undefined &&
        preconditions.resourceVersion !== metaString(existing, 'resourceVersion'))
    ) {
      return { ok: false, status: status.conflict(this.#target(r, name)) };
    }
    if (r.plural === 'namespaces' && r.group === '') this.#deleteNamespaceContents(name);
    this.#bucket(r).delete(key);
    this.#rv++;
    const gone: KubeObject = {
      ...existing,
      metadata: { ...existing.metadata, resourceVersion: String(this.#rv) },
    };
    this.#commit('DELETED', r, gone, clone(existing));
    return { ok: true, value: clone(gone) };
  }

  #deleteNamespaceContents(ns: string): void {
    for (const bucket of this.#objects.values()) {
      for (const [key, obj] of bucket) {
        if (metaString(obj, 'namespace') !== ns) continue;
        bucket.delete(key);
        this.#rv++;
        const gone: KubeObject = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.#rv) } };
        const r = this.#resourceOf(obj);
        if (r) this.#commit('DELETED', r, gone, clone(obj));
      }
    }
  }

  /** Make `r` known, so namespace deletion can name it in events. */
  register(r: ResourceType): void {
    this.#resources.set(`${apiVersionOf(r)}|${r.kind}`, r);
    this.#bucket(r);
  }

  #resourceOf(obj: KubeObject): ResourceType | undefined {
    return this.#resources.get(`${obj.apiVersion}|${obj.kind}`);
  }
}
