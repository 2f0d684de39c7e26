/**
 * Kubernetes Events about Services and pools (core/v1, what `kubectl describe` shows), aggregated
 * the way client-go's recorder does: a repeat of the same event (object, type, reason, message)
 * within the aggregation window patches `count` and `lastTimestamp` of the Event already written
 * instead of creating another. Events are best effort: the outcome is returned, never thrown.
 */
import { hostname } from 'node:os';
import { PatchStrategy } from '@kubernetes/client-node';
import type { Logger } from '../../../shared/log.ts';
import {
  callOptions,
  DEFAULT_REQUEST_TIMEOUT_MS,
  describeFailure,
  type KubeClients,
  type WriteOutcome,
  writeOutcome,
} from './client.ts';

/** The object an Event is about. */
export interface EventSubject {
  readonly kind: string;
  readonly apiVersion: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
}

/** One thing worth telling the user about an object. */
export interface ControllerEvent {
  readonly subject: EventSubject;
  readonly type: 'Normal' | 'Warning';
  /** CamelCase, stable: e.g. `IPAllocated`, `AllocationFailed`, `DeprecatedAnnotation`. */
  readonly reason: string;
  readonly message: string;
}

/** Options of the recorder. */
export interface EventRecorderOptions {
  readonly clients: KubeClients;
  readonly logger: Logger;
  /** `source.component` of every Event. */
  readonly component?: string;
  /** `reportingInstance`: this controller replica (pod name, else host name). */
  readonly instance?: string;
  /** Repeats within this window join the existing Event (client-go: 10 minutes). */
  readonly aggregateWindowMs?: number;
  /** Distinct events remembered for aggregation (client-go: 4096). */
  readonly cacheSize?: number;
  readonly requestTimeoutMs?: number;
  readonly now?: () => Date;
}

interface Series {
  readonly namespace: string;
  readonly name: string;
  firstSeen: Date;
  count: number;
  /** The Event exists on the server (created, or found already there). */
  created: boolean;
  /** The last write queued, so writes of one series go out in order. */
  pending: Promise<WriteOutcome>;
}

/** Time as metav1.Time writes it: RFC 3339, seconds. */
function rfc3339(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

/** Records Events, aggregating repeats. */
export class EventRecorder {
  readonly #clients: KubeClients;
  readonly #log: Logger;
  readonly #component: string;
  readonly #instance: string;
  readonly #windowMs: number;
  readonly #cacheSize: number;
  readonly #now: () => Date;
  readonly #json: ReturnType<typeof callOptions>;
  readonly #merge: ReturnType<typeof callOptions>;
  /** LRU by insertion order: a hit is re-inserted at the end. */
  readonly #series = new Map<string, Series>();
  #seq = 0;

  constructor(opts: EventRecorderOptions) {
    this.#clients = opts.clients;
    this.#log = opts.logger.child({ component: 'events' });
    this.#component = opts.component ?? 'switchyard-controller';
    this.#instance = opts.instance ?? process.env.POD_NAME ?? hostname();
    this.#windowMs = opts.aggregateWindowMs ?? 10 * 60_000;
    this.#cacheSize = opts.cacheSize ?? 4096;
    this.#now = opts.now ?? (() => new Date());
    const timeout = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#json = callOptions(timeout);
    this.#merge = callOptions(timeout, PatchStrategy.MergePatch);
  }

  /** Record `ev`: create an Event, or bump the count of the one it repeats. */
  record(ev: ControllerEvent): Promise<WriteOutcome> {
    const s = ev.subject;
    const key = [s.kind, s.namespace, s.name, s.uid ?? '', ev.type, ev.reason, ev.message].join('\u0000');
    const now = this.#now();
    let series = this.#series.get(key);
    this.#series.delete(key);
    if (series && now.getTime() - series.firstSeen.getTime() <= this.#windowMs) {
      series.count++;
    } else {
      // client-go names Events `<object>.<unix nanoseconds in hex>`; the sequence keeps them unique.
      const nanos = BigInt(now.getTime()) * 1_000_000n + BigInt(this.#seq++ % 1_000_000);
      series = {
        namespace: s.namespace || 'default',
        name: `${s.name}.${nanos.toString(16)}`,
        firstSeen: now,
        count: 1,
        created: false,
        pending: Promise.resolve({ ok: true }),
      };
    }
    this.#series.set(key, series);
    if (this.#series.size > this.#cacheSize) {
      const oldest = this.#series.keys().next().value;
      if (oldest !== undefined) this.#series.delete(oldest);
    }
    const target = series;
    const count = series.count;
    series.pending = series.pending.then(() =>
      target.created ? this.#bump(target, count, now, ev) : this.#create(target, ev, now),
    );
    return series.pending;
  }

  async #create(series: Series, ev: ControllerEvent, now: Date): Promise<WriteOutcome> {
    const s = ev.subject;
    const outcome = await this.#call('create', ev, () =>
      this.#clients.core.createNamespacedEvent(
        {
          namespace: series.namespace,
          body: {
            metadata: { name: series.name, namespace: series.namespace },
            involvedObject: {
              kind: s.kind,
              apiVersion: s.apiVersion,
              namespace: s.namespace || undefined,
              name: s.name,
              uid: s.uid,
              resourceVersion: s.resourceVersion,
            },
            type: ev.type,
            reason: ev.reason,
            message: ev.message,
            count: series.count,
            firstTimestamp: series.firstSeen,
            lastTimestamp: now,
            source: { component: this.#component },
            reportingComponent: `switchyard.io/${this.#component}`,
            reportingInstance: this.#instance,
          },
        },
        this.#json,
      ),
    );
    // AlreadyExists: an earlier create that timed out on our side did reach the server.
    if (outcome.ok || outcome.failure.code === 409) series.created = true;
    return outcome;
  }

  async #bump(series: Series, count: number, now: Date, ev: ControllerEvent): Promise<WriteOutcome> {
    const outcome = await this.#call('patch', ev, () =>
      this.#clients.core.patchNamespacedEvent(
        { namespace: series.namespace, name: series.name, body: { count, lastTimestamp: rfc3339(now) } },
        this.#merge,
      ),
    );
    if (outcome.ok || outcome.failure.code !== 404) return outcome;
    // The Event expired (the API server keeps them an hour) or was deleted: start the series afresh.
    series.created = false;
    series.count = 1;
    series.firstSeen = now;
    return this.#create(series, ev, now);
  }

  async #call(verb: string, ev: ControllerEvent, call: () => Promise<unknown>): Promise<WriteOutcome> {
    const outcome = await writeOutcome(call);
    if (!outcome.ok) {
      this.#log.debug(
        {
          event: 'kube.event-failed',
          verb,
          reason: describeFailure(outcome.failure),
          object: ev.subject.name,
        },
        'could not record an Event',
      );
    }
    return outcome;
  }
}
