/**
 * The controller's view of the cluster: Services, IPAddressPools, Nodes, Namespaces and
 * EndpointSlices, kept by supervised informers. It is the reconcile loop's ObjectSource (the same
 * interface a manifest file implements): `snapshot()` gives the objects in the shape reconcile()
 * reads, `view()` the typed, immutable collections they are built from, and a coalesced "changed"
 * notification tells the loop to pull again. `start()` resolves only once every collection has been
 * listed, so the loop never mistakes a half-filled cache for Services or pools that were deleted.
 */
import type { Logger } from '../../../shared/log.ts';
import type { ObjectSource } from '../../loop/controller-loop.ts';
import type { ClusterObjects } from '../../loop/reconcile.ts';
import { callOptions, DEFAULT_REQUEST_TIMEOUT_MS, type KubeClients, POOL_RESOURCE } from './client.ts';
import { ClusterObjectsCache, type KubeCollections } from './cluster-objects.ts';
import { type InformerBackoff, type InformerSpec, SupervisedInformer } from './informer.ts';
import {
  type KubeObjectMeta,
  toKubeEndpointSlice,
  toKubeIPAddressPool,
  toKubeNamespace,
  toKubeNode,
  toKubeService,
} from './objects.ts';

/** Everything the controller knows about the cluster at one moment. Never mutated. */
export interface KubeSnapshot extends KubeCollections {
  /** Grows with every change taken in; equal versions mean equal content. */
  readonly version: number;
  /** True once every collection has been listed once. */
  readonly synced: boolean;
}

/** Options of the Kubernetes source. */
export interface KubeSourceOptions {
  readonly clients: KubeClients;
  readonly logger: Logger;
  /** Watch pools in this namespace only; all namespaces when empty. */
  readonly poolNamespace?: string;
  /** Changes are announced at most this long after the first of a burst. */
  readonly coalesceMs?: number;
  readonly backoff?: InformerBackoff;
}

type Kind = 'services' | 'pools' | 'nodes' | 'namespaces' | 'endpointSlices';

/** The Kubernetes API as an ObjectSource. */
export class KubeSource implements ObjectSource {
  readonly #log: Logger;
  readonly #coalesceMs: number;
  readonly #informers: { readonly [K in Kind]: SupervisedInformer<KubeObjectMeta> };
  readonly #listeners = new Set<() => void>();
  readonly #dirty = new Set<Kind>();
  #snapshot: KubeSnapshot;
  #version = 0;
  #timer: NodeJS.Timeout | undefined;
  #syncedResolve: () => void = () => {};
  readonly #synced: Promise<void>;
  readonly #objects = new ClusterObjectsCache();

  constructor(opts: KubeSourceOptions) {
    this.#log = opts.logger.child({ component: 'kube-source' });
    this.#coalesceMs = opts.coalesceMs ?? 100;
    this.#synced = new Promise((resolve) => {
      this.#syncedResolve = resolve;
    });
    const { core, discovery, custom, kubeConfig } = opts.clients;
    const call = callOptions(DEFAULT_REQUEST_TIMEOUT_MS * 3);
    const ns = opts.poolNamespace ?? '';
    const poolPath = ns
      ? `/apis/${POOL_RESOURCE.group}/${POOL_RESOURCE.version}/namespaces/${ns}/${POOL_RESOURCE.plural}`
      : `/apis/${POOL_RESOURCE.group}/${POOL_RESOURCE.version}/${POOL_RESOURCE.plural}`;
    const specs: { readonly [K in Kind]: InformerSpec<KubeObjectMeta> } = {
      services: {
        resource: 'services',
        path: '/api/v1/services',
        list: () => core.listServiceForAllNamespaces({}, call),
        convert: toKubeService,
      },
      pools: {
        resource: 'ipaddresspools',
        path: poolPath,
        list: () =>
          (ns
            ? custom.listNamespacedCustomObject({ ...POOL_RESOURCE, namespace: ns }, call)
            : custom.listClusterCustomObject(POOL_RESOURCE, call)) as Promise<{ items: unknown[] }>,
        convert: toKubeIPAddressPool,
      },
      nodes: {
        resource: 'nodes',
        path: '/api/v1/nodes',
        list: () => core.listNode({}, call),
        convert: toKubeNode,
      },
      namespaces: {
        resource: 'namespaces',
        path: '/api/v1/namespaces',
        list: () => core.listNamespace({}, call),
        convert: toKubeNamespace,
      },
      endpointSlices: {
        resource: 'endpointslices',
        path: '/apis/discovery.k8s.io/v1/endpointslices',
        list: () => discovery.listEndpointSliceForAllNamespaces({}, call),
        convert: toKubeEndpointSlice,
      },
    };
    const make = (kind: Kind) =>
      new SupervisedInformer(specs[kind], {
        kubeConfig,
        logger: this.#log,
        backoff: opts.backoff,
        onChange: () => this.#changed(kind),
        onSynced: () => this.#changed(kind),
      });
    this.#informers = {
      services: make('services'),
      pools: make('pools'),
      nodes: make('nodes'),
      namespaces: make('namespaces'),
      endpointSlices: make('endpointSlices'),
    };
    this.#snapshot = this.#build(new Set(Object.keys(this.#informers) as Kind[]));
  }

  /** Start every informer (again after stop()); resolves once every collection has been listed. */
  start(): Promise<void> {
    for (const inf of Object.values(this.#informers)) inf.start();
    return this.#synced;
  }

  /** Stop every informer; the last snapshot stays readable. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await Promise.all(Object.values(this.#informers).map((inf) => inf.stop()));
  }

  /** Resolves once every collection has been listed. */
  whenSynced(): Promise<void> {
    return this.#synced;
  }

  /** Be called (with no data: pull a snapshot) after changes settle. Returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** The objects as reconcile() reads them; the same arrays while their collection is unchanged. */
  snapshot(): ClusterObjects {
    return this.#objects.of(this.view());
  }

  /** The latest typed state; the same object while nothing changed. */
  view(): KubeSnapshot {
    if (this.#dirty.size > 0) {
      this.#snapshot = this.#build(this.#dirty);
      this.#dirty.clear();
    }
    return this.#snapshot;
  }

  #allSynced(): boolean {
    return Object.values(this.#informers).every((inf) => inf.synced);
  }

  /** Copy only the collections that changed; the others are shared with the previous snapshot. */
  #build(dirty: ReadonlySet<Kind>): KubeSnapshot {
    const prev = this.#snapshot as KubeSnapshot | undefined;
    const pick = <K extends Kind>(kind: K): KubeSnapshot[K] =>
      (prev && !dirty.has(kind) ? prev[kind] : new Map(this.#informers[kind].objects)) as KubeSnapshot[K];
    return Object.freeze({
      version: this.#version,
      synced: this.#allSynced(),
      services: pick('services'),
      pools: pick('pools'),
      nodes: pick('nodes'),
      namespaces: pick('namespaces'),
      endpointSlices: pick('endpointSlices'),
    });
  }

  #changed(kind: Kind): void {
    this.#version++;
    this.#dirty.add(kind);
    if (!this.#allSynced() || this.#timer) return;
    this.#syncedResolve();
    this.#timer = setTimeout(() => this.#announce(), this.#coalesceMs);
  }

  #announce(): void {
    this.#timer = undefined;
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (err) {
        this.#log.error({ event: 'kube.listener-failed', err }, 'a change listener threw');
      }
    }
  }
}
