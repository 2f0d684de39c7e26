/**
 * One client-node informer kept alive, with its cache as plain typed objects. client-node's
 * informer has sharp edges this module absorbs:
 * - on most errors (a dropped watch connection, an unreachable server, a failed relist) it emits
 *   `error` and stops for good: here it is restarted with capped, jittered backoff, resuming from
 *   its last resourceVersion (a relist happens only when that is gone: 410);
 * - a handler that throws becomes an unhandled rejection: here handlers only update a map and
 *   report, inside try/catch;
 * - `stop()` makes it emit an AbortError, a stop during a LIST still opens the WATCH after it, and
 *   a stop while the WATCH request is in flight leaves that watch open for good (stop() aborts only
 *   a watch already established): all three are recognised and dealt with while stopping;
 * - after a watch that ended cleanly it waits before watching again, 1 s doubling to 30 s and reset
 *   only by a restart, so a long-lived informer would end up 30 s behind after every routine
 *   server-side close, and the pending wait (not cancelled by its stop()) keeps a stopping process
 *   alive: here the wait is capped at CLEAN_RECONNECT_DELAY_MS and cut short by stop().
 * The cache is kept through every failure, so an outage never empties what the controller sees.
 */
import { type KubeConfig, type KubernetesObject, ListWatch, Watch } from '@kubernetes/client-node';
import type { Logger } from '../../../shared/log.ts';
import { apiFailure, describeFailure } from './client.ts';
import type { KubeObjectMeta } from './objects.ts';

/** Restart backoff of a failed informer. */
export interface InformerBackoff {
  /** Delay before the first restart of an outage. */
  readonly initialMs: number;
  /** Delays double up to this. */
  readonly maxMs: number;
  /** A run that lasted this long before failing starts the next outage afresh at `initialMs`. */
  readonly resetAfterMs: number;
}

/** client-go's reflector backs off 800 ms → 30 s; these are close, with a quicker first retry. */
export const DEFAULT_INFORMER_BACKOFF: InformerBackoff = {
  initialMs: 500,
  maxMs: 30_000,
  resetAfterMs: 60_000,
};

/**
 * Longest wait before re-watching after a clean end. A clean end is routine (server-side timeout);
 * the wait only keeps a server that ends every watch at once from being hammered.
 */
export const CLEAN_RECONNECT_DELAY_MS = 1000;

/** What one informer lists and watches, and how its objects are converted. */
export interface InformerSpec<T extends KubeObjectMeta> {
  /** Name for logs, e.g. `services`. */
  readonly resource: string;
  /** The collection path watched, e.g. `/api/v1/services`. */
  readonly path: string;
  /** The LIST call for the same collection. */
  readonly list: () => Promise<{ items: unknown[]; metadata?: { resourceVersion?: string } }>;
  /** Convert one client object; null drops it (logged). */
  readonly convert: (raw: unknown) => T | null;
}

/** Options of a supervised informer. */
export interface SupervisedInformerOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** Called (synchronously) whenever the cache changed. */
  readonly onChange: () => void;
  /** Called once, after the first successful LIST has filled the cache. */
  readonly onSynced: () => void;
  readonly backoff?: InformerBackoff;
}

/** A Watch that asks for bookmarks and reports when a watch is established, or refuses while stopping. */
class ReportingWatch extends Watch {
  readonly #established: () => void;
  readonly #stopping: () => boolean;

  constructor(kc: KubeConfig, established: () => void, stopping: () => boolean) {
    super(kc);
    this.#established = established;
    this.#stopping = stopping;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    // biome-ignore lint/suspicious/noExplicitAny: the signature is client-node's.
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    // biome-ignore lint/suspicious/noExplicitAny: the signature is client-node's.
    done: (err: any) => void,
  ): Promise<AbortController> {
    if (this.#stopping()) {
      // A stop() that landed during the LIST: end this watch before it starts.
      queueMicrotask(() => done(null));
      return new AbortController();
    }
    let failed = false;
    const controller = await super.watch(
      path,
      // Bookmarks keep the resourceVersion fresh on quiet collections, so a reconnect rarely relists.
      { ...queryParams, allowWatchBookmarks: true },
      callback,
      (err) => {
        if (err) failed = true;
        done(err);
      },
    );
    if (this.#stopping()) {
      // A stop() that landed while the request was in flight: client-node's stop() found no
      // controller to abort yet, and would leave this watch open for good.
      controller.abort();
      return controller;
    }
    if (!failed) this.#established();
    return controller;
  }
}

/** A self-restarting informer over one collection, with a plain typed cache. */
export class SupervisedInformer<T extends KubeObjectMeta> {
  readonly #spec: InformerSpec<T>;
  readonly #opts: SupervisedInformerOptions;
  readonly #backoff: InformerBackoff;
  readonly #log: Logger;
  readonly #objects = new Map<string, T>();
  readonly #informer: ListWatch<KubernetesObject>;
  #synced = false;
  #stopping = true;
  #attempt = 0;
  #startedAt = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  /** Reconnect waits in progress; stop() ends them early. */
  readonly #delays = new Set<() => void>();
  /** Set while failing; cleared (and logged) at the first sign of recovery. */
  #outageSince: number | null = null;

  constructor(spec: InformerSpec<T>, opts: SupervisedInformerOptions) {
    this.#spec = spec;
    this.#opts = opts;
    this.#backoff = opts.backoff ?? DEFAULT_INFORMER_BACKOFF;
    this.#log = opts.logger.child({ resource: spec.resource });
    const watch = new ReportingWatch(
      opts.kubeConfig,
      () => this.#recovered(),
      () => this.#stopping,
    );
    this.#informer = new ListWatch(spec.path, watch, () => this.#list(), false, undefined, undefined, {
      delayFn: (ms) => this.#delay(ms),
    });
    this.#informer.on('add', (o) => this.#upsert(o));
    this.#informer.on('update', (o) => this.#upsert(o));
    this.#informer.on('delete', (o) => this.#remove(o));
    this.#informer.on('error', (err) => this.#failed(err));
  }

  /** The cache, keyed by `namespace/name` (or `name`); read-only to callers. */
  get objects(): ReadonlyMap<string, T> {
    return this.#objects;
  }

  /** True once the first LIST has filled the cache. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Start listing and watching (again after stop()). */
  start(): void {
    if (!this.#stopping) return;
    this.#stopping = false;
    this.#run();
  }

  /** Stop for good; the cache is kept. Suppresses the AbortError the informer emits. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    for (const end of [...this.#delays]) end();
    await this.#informer.stop();
  }

  /** client-node's wait before re-watching: capped, and over at once when stopping. */
  #delay(ms: number): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer);
        this.#delays.delete(end);
        resolve();
      };
      const timer = setTimeout(end, Math.min(ms, CLEAN_RECONNECT_DELAY_MS));
      this.#delays.add(end);
    });
  }

  #run(): void {
    this.#startedAt = Date.now();
    // start() reports failures through `error`; a rejection here would be a bug in the client.
    this.#informer.start().catch((err: unknown) => this.#failed(err));
  }

  /** The LIST behind every (re)list: the list result replaces the cache wholesale. */
  async #list(): Promise<{ items: KubernetesObject[]; metadata?: { resourceVersion?: string } }> {
    const list = await this.#spec.list();
    try {
      const next = new Map<string, T>();
      for (const raw of list.items) {
        const o = this.#convert(raw);
        if (o) next.set(o.key, o);
      }
      let changed = next.size !== this.#objects.size;
      for (const [key, o] of next) {
        if (this.#objects.get(key)?.resourceVersion !== o.resourceVersion) changed = true;
      }
      this.#objects.clear();
      for (const [key, o] of next) this.#objects.set(key, o);
      this.#recovered();
      if (!this.#synced) {
        this.#synced = true;
        this.#notify(this.#opts.onSynced);
      } else if (changed) {
        this.#notify(this.#opts.onChange);
      }
    } catch (err) {
      this.#log.error({ event: 'kube.list-convert-failed', err }, 'could not take in a LIST');
    }
    return list as { items: KubernetesObject[]; metadata?: { resourceVersion?: string } };
  }

  #convert(raw: unknown): T | null {
    const o = this.#spec.convert(raw);
    if (!o) this.#log.warn({ event: 'kube.object-dropped' }, 'dropped an object without metadata.name');
    return o;
  }

  #upsert(raw: KubernetesObject): void {
    if (this.#stopping) return;
    try {
      this.#recovered();
      const o = this.#convert(raw);
      if (!o || this.#objects.get(o.key)?.resourceVersion === o.resourceVersion) return;
      this.#objects.set(o.key, o);
      this.#notify(this.#opts.onChange);
    } catch (err) {
      this.#log.error({ event: 'kube.handler-failed', err }, 'could not take in a watch event');
    }
  }

  #remove(raw: KubernetesObject): void {
    if (this.#stopping) return;
    try {
      const m = raw.metadata;
      const key = m?.namespace ? `${m.namespace}/${m.name}` : (m?.name ?? '');
      if (this.#objects.delete(key)) this.#notify(this.#opts.onChange);
    } catch (err) {
      this.#log.error({ event: 'kube.handler-failed', err }, 'could not take in a watch event');
    }
  }

  #notify(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ event: 'kube.listener-failed', err }, 'a change listener threw');
    }
  }

  /** Only logs: the backoff resets by run length, so a server that drops every watch at once stays throttled. */
  #recovered(): void {
    if (this.#outageSince === null) return;
    const downMs = Date.now() - this.#outageSince;
    this.#outageSince = null;
    this.#log.info({ event: 'kube.watch-recovered', downMs }, 'watching again');
  }

  #failed(err: unknown): void {
    if (this.#stopping || this.#restartTimer) return;
    const failure = apiFailure(err);
    if (Date.now() - this.#startedAt >= this.#backoff.resetAfterMs) this.#attempt = 0;
    const base = Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** this.#attempt);
    // Jitter ±20% so informers (and controllers) that failed together do not retry together.
    const delayMs = Math.round(base * (0.8 + Math.random() * 0.4));
    this.#attempt++;
    const fields = {
      event: 'kube.watch-failed',
      reason: describeFailure(failure),
      attempt: this.#attempt,
      retryInMs: delayMs,
    };
    if (this.#outageSince === null) {
      this.#outageSince = Date.now();
      this.#log.warn(fields, 'list/watch failed; keeping the last state and retrying');
    } else {
      this.#log.debug(fields, 'list/watch still failing');
    }
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (!this.#stopping) this.#run();
    }, delayMs);
  }
}
