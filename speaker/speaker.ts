/**
 * The speaker process: serves the forwarding table from a file. It keeps health probing (once per
 * speaker) in the main thread, drives the data plane (in-process or worker threads), re-reads the
 * table on change or on request, refuses a bad table whole while the last good one keeps serving,
 * reports listeners that cannot be bound (retried on the next apply), and drains on stop.
 */
import { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import { formatProblem, type Problem, UserError } from '../shared/errors.ts';
import type { LogFormat, Logger } from '../shared/log.ts';
import { type HostPort, type MetricsServer, startMetricsServer } from '../shared/metrics-server.ts';
import { type ForwardingTable, type Listener, listenerKey } from '../shared/model.ts';
import type { BindReport } from './forward/forwarder.ts';
import { newCounterCell } from './forward/shared-limit.ts';
import { type HealthSource, healthTargets } from './health/health-target.ts';
import { SpeakerMetrics } from './metrics.ts';
import type { DataPlane } from './plane/data-plane.ts';
import { LocalPlane } from './plane/local-plane.ts';
import { WorkerPlane } from './plane/worker-plane.ts';
import { diffListeners } from './table-diff.ts';
import { DEFAULT_DEBOUNCE_MS, readTableFile, type TableWatch, watchTableFile } from './table-file.ts';

/** Everything a speaker is started with. */
export interface SpeakerOptions {
  readonly tablePath: string;
  /** Worker threads; 0 forwards in the main thread. */
  readonly workers: number;
  /** Open connections per speaker over all listeners; 0 is unlimited. */
  readonly maxConnections: number;
  /** Upper bound of a drain on stop (each listener also has its own drain time). */
  readonly drainTimeoutMs: number;
  /** Where to serve metrics; null for nowhere. */
  readonly metricsAt: HostPort | null;
  readonly logger: Logger;
  readonly logLevel?: string;
  readonly logFormat?: LogFormat;
  readonly registry: Registry;
  readonly health: HealthSource;
  /** Quiet time after file events before re-reading; tests shorten it. */
  readonly debounceMs?: number;
  /** Called when the data plane breaks (a worker died); the process should exit non-zero. */
  readonly onFatal?: (err: Error) => void;
}

/** Outcome of a reload. */
export type ReloadOutcome = 'applied' | 'unchanged' | 'refused';

/** What a speaker announces: every applied table (with its bind reports) and every refusal. */
export interface SpeakerEvents {
  applied: [table: ForwardingTable, reports: readonly BindReport[]];
  refused: [problems: readonly Problem[]];
}

/** A running speaker. */
export class Speaker {
  /** Table outcomes, for whoever wants to follow them (tests, a future status endpoint). */
  readonly events = new EventEmitter<SpeakerEvents>();
  readonly #opts: SpeakerOptions;
  readonly #log: Logger;
  readonly #plane: DataPlane;
  readonly #metrics: SpeakerMetrics;
  readonly #counters = new Map<string, Int32Array>();
  #served: ForwardingTable | null = null;
  #servedText = '';
  #watch: TableWatch | null = null;
  #metricsServer: MetricsServer | null = null;
  /** Applies run one at a time, in order. */
  #queue: Promise<unknown> = Promise.resolve();
  #stopping: Promise<void> | null = null;

  private constructor(opts: SpeakerOptions, plane: DataPlane) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.#plane = plane;
    this.#metrics = new SpeakerMetrics(opts.registry, {
      stats: () => plane.stats(),
      health: () => opts.health.snapshot(),
    });
  }

  /**
   * Read the table (a bad or missing one throws UserError: exit 2 with one line per problem), start
   * the data plane and serve the table, then watch the file and serve metrics.
   */
  static async start(opts: SpeakerOptions): Promise<Speaker> {
    const first = await readTableFile(opts.tablePath);
    if (!first.result.ok) throw new UserError(first.result.problems);
    const speakerCount = newCounterCell();
    const events = {
      onConnectFailure: (key: string) => opts.health.reportConnectFailure(key),
      onFatal: (err: Error) => {
        opts.logger.fatal({ event: 'data-plane-failed', err });
        opts.onFatal?.(err);
      },
    };
    const plane: DataPlane =
      opts.workers > 0
        ? await WorkerPlane.start({
            count: opts.workers,
            logger: opts.logger,
            logLevel: opts.logLevel ?? opts.logger.level,
            logFormat: opts.logFormat ?? 'json',
            speakerCount,
            speakerMax: opts.maxConnections,
            events,
          })
        : new LocalPlane({ logger: opts.logger, events, speakerCount, speakerMax: opts.maxConnections });
    const speaker = new Speaker(opts, plane);
    opts.health.onChange((change) => plane.setHealth([change]));
    try {
      await speaker.#apply(first.result.value, first.text, 'start');
      if (opts.metricsAt) {
        speaker.#metricsServer = await startMetricsServer(opts.metricsAt, opts.registry, opts.logger);
      }
    } catch (err) {
      await speaker.stop();
      throw err;
    }
    speaker.#watch = watchTableFile(
      opts.tablePath,
      () => void speaker.reload('file-change', false),
      opts.debounceMs ?? DEFAULT_DEBOUNCE_MS,
    );
    return speaker;
  }

  /** The table being served. */
  get table(): ForwardingTable | null {
    return this.#served;
  }

  /** The data plane (tests look inside the in-process one). */
  get plane(): DataPlane {
    return this.#plane;
  }

  /** Where metrics are served, if anywhere. */
  get metricsAddress(): MetricsServer['address'] | null {
    return this.#metricsServer?.address ?? null;
  }

  /**
   * Re-read the table file and apply it. `force` applies an unchanged file again, which retries
   * listeners that failed to bind (SIGHUP does this); a file event with unchanged content is a no-op.
   */
  reload(reason: string, force: boolean): Promise<ReloadOutcome> {
    const run = async (): Promise<ReloadOutcome> => {
      if (this.#stopping) return 'unchanged';
      const read = await readTableFile(this.#opts.tablePath);
      if (!force && read.text === this.#servedText) return 'unchanged';
      if (!read.result.ok) {
        this.#refuse(read.result.problems, reason);
        return 'refused';
      }
      await this.#apply(read.result.value, read.text, reason);
      return 'applied';
    };
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Serve a table that came from elsewhere than the file (a store subscriber, say), in order with
   * file reloads. The table is already parsed, so it cannot be refused.
   */
  serve(table: ForwardingTable, reason: string): Promise<void> {
    const run = () => this.#apply(table, JSON.stringify(table), reason);
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #refuse(problems: readonly Problem[], reason: string): void {
    this.#metrics.tableRefused();
    for (const p of problems) {
      this.#log.error(
        { event: 'table-problem', reason: p.code, path: this.#opts.tablePath },
        formatProblem(p),
      );
    }
    this.#log.error(
      { event: 'table-refused', reason, problems: problems.length, version: this.#served?.version },
      'table refused; the last good table keeps serving',
    );
    this.events.emit('refused', problems);
  }

  async #apply(table: ForwardingTable, text: string, reason: string): Promise<void> {
    const before = new Map<string, Listener>((this.#served?.listeners ?? []).map((l) => [listenerKey(l), l]));
    const diff = diffListeners(before, table.listeners);
    const keys = new Set(table.listeners.map(listenerKey));
    for (const key of keys) if (!this.#counters.has(key)) this.#counters.set(key, newCounterCell());
    for (const key of this.#counters.keys()) if (!keys.has(key)) this.#counters.delete(key);
    this.#opts.health.setTargets(healthTargets(table.listeners));
    const reports = await this.#plane.apply(table, this.#opts.health.snapshot(), this.#counters);
    this.#served = table;
    this.#servedText = text;
    this.#metrics.tableApplied(table.version);
    this.#reportBinds(reports);
    this.#log.info({
      event: 'table-applied',
      reason,
      version: table.version,
      listeners: table.listeners.length,
      added: diff.added.length,
      changed: diff.changed.length,
      removed: diff.removed.length,
    });
    this.events.emit('applied', table, reports);
  }

  #reportBinds(reports: readonly BindReport[]): void {
    for (const r of reports) {
      if (r.failure === null) continue;
      this.#metrics.bindFailed(r.key, r.service);
      this.#log.warn(
        { event: 'bind-failed', listener: r.key, service: r.service, reason: r.failure.code },
        `cannot listen on ${r.key}: ${r.failure.message}; retried on the next table apply`,
      );
    }
  }

  /** Stop watching, drain every listener (bounded by the drain timeout), stop probing. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#watch?.close();
      await this.#queue;
      this.#log.info({ event: 'speaker-drain', ms: this.#opts.drainTimeoutMs });
      await this.#plane.drain(this.#opts.drainTimeoutMs);
      await this.#plane.close();
      this.#opts.health.close();
      await this.#metricsServer?.close();
      this.#log.info({ event: 'speaker-stopped' });
    })();
    return this.#stopping;
  }
}
