/**
 * The speaker's Prometheus metrics on the process registry. Data-plane counters stay plain numbers
 * in the forwarding threads; at scrape time one snapshot is taken from every thread (shared by all
 * series of that scrape) and turned into series here. Table and bind events are counted as they
 * happen in the main thread. Other parts (the health checker) register on the same registry.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { type ListenerStatsEntry, REJECT_REASONS } from './forward/listener-stats.ts';
import type { HealthState } from './health/health-target.ts';

/** Where scrape-time values come from. */
export interface MetricsSources {
  /** Per-listener counters summed over threads. */
  stats(): Promise<ListenerStatsEntry[]>;
  /** Health of every probe target. */
  health(): ReadonlyMap<string, HealthState>;
  /** Client connections open over the whole speaker, and the speaker-wide cap (0: none). */
  connections(): { readonly active: number; readonly max: number };
}

const HEALTH_STATES: readonly HealthState[] = ['healthy', 'unhealthy', 'unknown'];
const LISTENER_LABELS = ['listener', 'service'] as const;
type ListenerLabel = (typeof LISTENER_LABELS)[number];

/** The speaker's series, and the event counters the main thread bumps. */
export class SpeakerMetrics {
  readonly #tableVersion: Gauge;
  readonly #tableApplies: Counter;
  readonly #tableRefusals: Counter;
  readonly #bindFailures: Counter<ListenerLabel>;
  readonly #dataPlane: Gauge<'implementation' | 'reason'>;
  readonly #sources: MetricsSources;
  #inFlight: Promise<ListenerStatsEntry[]> | null = null;

  constructor(registry: Registry, sources: MetricsSources) {
    this.#sources = sources;
    const registers = [registry];
    const snapshot = () => this.#snapshot();
    /** A series per listener computed from the scrape's snapshot. */
    const perListener = (
      name: string,
      help: string,
      type: 'counter' | 'gauge',
      value: (e: ListenerStatsEntry) => number,
    ) => {
      const config = {
        name,
        help,
        labelNames: LISTENER_LABELS,
        registers,
      };
      if (type === 'gauge') {
        new Gauge({
          ...config,
          async collect() {
            this.reset();
            for (const e of await snapshot()) this.set({ listener: e.key, service: e.service }, value(e));
          },
        });
      } else {
        new Counter({
          ...config,
          async collect() {
            this.reset();
            for (const e of await snapshot()) this.inc({ listener: e.key, service: e.service }, value(e));
          },
        });
      }
    };
    perListener(
      'switchyard_listener_connections_active',
      'Client connections open now, per listener.',
      'gauge',
      (e) => e.stats.active,
    );
    perListener(
      'switchyard_listener_connections_total',
      'Client connections accepted and admitted, per listener.',
      'counter',
      (e) => e.stats.total,
    );
    perListener(
      'switchyard_connect_failures_total',
      'Backend connects that failed (refused, reset or timed out), per listener.',
      'counter',
      (e) => e.stats.connectFailures,
    );
    perListener(
      'switchyard_connect_retries_total',
      'Connects retried on another backend after a failure, per listener.',
      'counter',
      (e) => e.stats.retries,
    );
    perListener(
      'switchyard_listener_failing_open',
      'Forwarding threads in which every backend of the listener fails its health checks, so it picks among those whose NodePort still accepts.',
      'gauge',
      (e) => e.stats.failingOpen,
    );
    perListener(
      'switchyard_listener_bound',
      'Whether the listener is bound (1) or failed to bind (0) in every forwarding thread.',
      'gauge',
      (e) => (e.bound ? 1 : 0),
    );
    new Counter({
      name: 'switchyard_listener_bytes_total',
      help: 'Bytes proxied, per listener and direction (to_backend, to_client).',
      labelNames: [...LISTENER_LABELS, 'direction'],
      registers,
      async collect() {
        this.reset();
        for (const e of await snapshot()) {
          this.inc({ listener: e.key, service: e.service, direction: 'to_backend' }, e.stats.bytesToBackend);
          this.inc({ listener: e.key, service: e.service, direction: 'to_client' }, e.stats.bytesToClient);
        }
      },
    });
    new Counter({
      name: 'switchyard_listener_rejected_total',
      help: 'Client connections reset instead of proxied, per listener and reason.',
      labelNames: [...LISTENER_LABELS, 'reason'],
      registers,
      async collect() {
        this.reset();
        for (const e of await snapshot()) {
          for (const reason of REJECT_REASONS) {
            this.inc({ listener: e.key, service: e.service, reason }, e.stats.rejected[reason]);
          }
        }
      },
    });
    new Counter({
      name: 'switchyard_listener_timeouts_total',
      help: 'Connections or connect attempts ended by a timeout, per listener and kind (connect, idle, half_closed, drain).',
      labelNames: [...LISTENER_LABELS, 'kind'],
      registers,
      async collect() {
        this.reset();
        for (const e of await snapshot()) {
          const l = { listener: e.key, service: e.service };
          this.inc({ ...l, kind: 'connect' }, e.stats.connectTimeouts);
          this.inc({ ...l, kind: 'idle' }, e.stats.idleTimeouts);
          this.inc({ ...l, kind: 'half_closed' }, e.stats.halfClosedTimeouts);
          this.inc({ ...l, kind: 'drain' }, e.stats.drainClosed);
        }
      },
    });
    new Gauge({
      name: 'switchyard_speaker_connections_active',
      help: 'Client connections open now over every listener and worker, as counted against --max-connections.',
      registers,
      collect() {
        this.set(sources.connections().active);
      },
    });
    new Gauge({
      name: 'switchyard_speaker_connections_max',
      help: 'The speaker-wide connection cap (--max-connections, sized from the descriptor limit by default); 0: none.',
      registers,
      collect() {
        this.set(sources.connections().max);
      },
    });
    new Gauge({
      name: 'switchyard_backend_health_state',
      help: 'Health of each probe target as the data plane uses it: 1 for the current state, 0 for the others.',
      labelNames: ['target', 'state'],
      registers,
      collect() {
        this.reset();
        for (const [target, state] of sources.health()) {
          for (const s of HEALTH_STATES) this.set({ target, state: s }, s === state ? 1 : 0);
        }
      },
    });
    this.#tableVersion = new Gauge({
      name: 'switchyard_table_version',
      help: 'Version of the forwarding table being served.',
      registers,
    });
    this.#tableApplies = new Counter({
      name: 'switchyard_table_applies_total',
      help: 'Forwarding tables applied (at start, on file change, on SIGHUP, from the store).',
      registers,
    });
    this.#tableRefusals = new Counter({
      name: 'switchyard_table_refusals_total',
      help: 'Forwarding tables refused as invalid; the last good table kept serving.',
      registers,
    });
    this.#bindFailures = new Counter({
      name: 'switchyard_listener_bind_failures_total',
      help: 'Times a listener could not be bound (retried on the next table apply).',
      labelNames: LISTENER_LABELS,
      registers,
    });
    this.#dataPlane = new Gauge({
      name: 'switchyard_data_plane_info',
      help: 'Always 1: which implementation of the relay I/O forwards (handles, sockets) and why (flag, self-test-passed, self-test-failed).',
      labelNames: ['implementation', 'reason'],
      registers,
    });
  }

  /** The data plane's implementation was chosen (once, at start). */
  dataPlaneChosen(implementation: string, reason: string): void {
    this.#dataPlane.reset();
    this.#dataPlane.set({ implementation, reason }, 1);
  }

  /** A table was applied. */
  tableApplied(version: number): void {
    this.#tableVersion.set(version);
    this.#tableApplies.inc();
  }

  /** A table was refused. */
  tableRefused(): void {
    this.#tableRefusals.inc();
  }

  /** A listener failed to bind. */
  bindFailed(listener: string, service: string): void {
    this.#bindFailures.inc({ listener, service });
  }

  /** One stats snapshot per scrape, however many series read it. */
  #snapshot(): Promise<ListenerStatsEntry[]> {
    if (this.#inFlight) return this.#inFlight;
    const p = this.#sources.stats().finally(() => {
      // Let the series of this scrape share it, then forget it.
      setImmediate(() => {
        if (this.#inFlight === p) this.#inFlight = null;
      });
    });
    this.#inFlight = p;
    return p;
  }
}
