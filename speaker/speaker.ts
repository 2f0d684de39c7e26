/**
 * The speaker process: serves the forwarding table from a file, or from whoever calls `serve` (the
 * cluster speaker, with tables from the store). It keeps health probing (once per speaker) in the
 * main thread, drives the data plane (in-process or worker threads), re-reads the table file on
 * change or on request, refuses a bad table whole while the last good one keeps serving, reports
 * listeners that cannot be bound (retried on the next apply), and drains on stop.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { formatProblem, type Problem, UserError } from '../shared/errors.ts';
import type { LogFormat, Logger } from '../shared/log.ts';
import {
  type HostPort,
  type JsonRoutes,
  type LivenessCheck,
  type MetricsServer,
  startMetricsServer,
} from '../shared/metrics-server.ts';
import { type ForwardingTable, type Listener, listenerKey } from '../shared/model.ts';
import { missingCapabilities } from './announce/capabilities.ts';
import type { BindReport } from './forward/forwarder.ts';
import { chooseRelayIo, type DataPlaneChoice, type DataPlaneMode } from './forward/io/choose.ts';
import { current, limitMax, newCounterCell, newLimitCell, setLimitMax } from './forward/shared-limit.ts';
import { type HealthSource, healthTargets } from './health/health-target.ts';
import { SpeakerMetrics } from './metrics.ts';
import type { DataPlane } from './plane/data-plane.ts';
import { LocalPlane } from './plane/local-plane.ts';
import { WorkerPlane } from './plane/worker-plane.ts';
import { diffListeners } from './table-diff.ts';
import { DEFAULT_DEBOUNCE_MS, readTableFile, type TableWatch, watchTableFile } from './table-file.ts';

/** Everything a speaker is started with. */
export interface SpeakerOptions {
  /** The table file; without one the speaker starts with an empty table and serves what `serve` gives it. */
  readonly tablePath?: string;
  /** Worker threads; 0 forwards in the main thread. */
  readonly workers: number;
  /** Which implementation of the relay's I/O forwards (`--data-plane`, io/choose.ts); auto by default. */
  readonly dataPlane?: DataPlaneMode;
  /**
   * Open connections per speaker over all listeners; 0 is unlimited. A function is asked again on
   * every table apply with the number of other sockets the table makes the speaker hold (one per
   * listener and worker, one per health target), so a cap sized from the descriptor limit shrinks
   * as they grow.
   */
  readonly maxConnections: number | ((otherSockets: number) => number);
  /** Upper bound of a drain on stop (each listener also has its own drain time). */
  readonly drainTimeoutMs: number;
  /** Where to serve metrics; null for nowhere. */
  readonly metricsAt: HostPort | null;
  /** JSON routes served beside the metrics (`/status`). */
  readonly jsonRoutes?: JsonRoutes;
  /** Answers `GET /livez` on the metrics endpoint; always live when absent. */
  readonly liveness?: LivenessCheck;
  readonly logger: Logger;
  readonly logLevel?: string;
  readonly logFormat?: LogFormat;
  readonly registry: Registry;
  readonly health: HealthSource;
  /** Quiet time after file events before re-reading; tests shorten it. */
  readonly debounceMs?: number;
  /** Called when the data plane breaks (a worker died); the process should exit non-zero. */
  readonly onFatal?: (err: Error) => void;
  /** Ports below this need CAP_NET_BIND_SERVICE (`net.ipv4.ip_unprivileged_port_start`); read from /proc by default. */
  readonly unprivilegedPortStart?: number;
}

/** Which listeners of a served table the data plane binds; the rest are only health-probed. */
export type BindFilter = (listener: Listener) => boolean;

const EMPTY_TABLE: ForwardingTable = { version: 0, listeners: [] };

/** `net.ipv4.ip_unprivileged_port_start` of this network namespace (1024 when unreadable). */
function unprivilegedPortStart(): number {
  try {
    const n = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
    return Number.isInteger(n) ? n : 1024;
  } catch {
    return 1024;
  }
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
  readonly #dataPlane: DataPlaneChoice;
  readonly #metrics: SpeakerMetrics;
  readonly #counters = new Map<string, Int32Array>();
  /** Speaker-wide open connections and their cap, shared with every worker. */
  readonly #speakerLimit: Int32Array;
  #served: ForwardingTable | null = null;
  /** What the data plane was given: the served table less the listeners the bind filter left out. */
  #bound: ForwardingTable = EMPTY_TABLE;
  #servedText = '';
  /** Low ports already warned about, so a missing capability is logged once per port. */
  readonly #lowPortsWarned = new Set<number>();
  #portStart = 1024;
  #watch: TableWatch | null = null;
  #metricsServer: MetricsServer | null = null;
  /** Applies run one at a time, in order. */
  #queue: Promise<unknown> = Promise.resolve();
  #stopping: Promise<void> | null = null;

  private constructor(
    opts: SpeakerOptions,
    plane: DataPlane,
    dataPlane: DataPlaneChoice,
    speakerLimit: Int32Array,
  ) {
    this.#opts = opts;
    this.#speakerLimit = speakerLimit;
    this.#log = opts.logger;
    this.#plane = plane;
    this.#dataPlane = dataPlane;
    this.#portStart = opts.unprivilegedPortStart ?? unprivilegedPortStart();
    this.#metrics = new SpeakerMetrics(opts.registry, {
      stats: () => plane.stats(),
      health: () => opts.health.snapshot(),
      connections: () => ({ active: current(speakerLimit), max: limitMax(speakerLimit) }),
    });
    this.#metrics.dataPlaneChosen(dataPlane.implementation, dataPlane.reason);
  }

  /**
   * Read the table file if there is one (a bad or missing one throws UserError: exit 2 with one line
   * per problem), start the data plane and serve the table, then watch the file and serve metrics.
   */
  static async start(opts: SpeakerOptions): Promise<Speaker> {
    let first: { table: ForwardingTable; text: string } = { table: EMPTY_TABLE, text: '' };
    if (opts.tablePath !== undefined) {
      const read = await readTableFile(opts.tablePath);
      if (!read.result.ok) throw new UserError(read.result.problems);
      first = { table: read.result.value, text: read.text };
    }
    const speakerLimit = newLimitCell(typeof opts.maxConnections === 'number' ? opts.maxConnections : 0);
    const events = {
      onConnectFailure: (key: string) => opts.health.reportConnectFailure(key),
      onFatal: (err: Error) => {
        opts.logger.fatal({ event: 'data-plane-failed', err });
        opts.onFatal?.(err);
      },
    };
    // Chosen once, in this thread; the workers load the same implementation.
    const dataPlane = await chooseRelayIo(opts.dataPlane ?? 'auto', { logger: opts.logger });
    const plane: DataPlane =
      opts.workers > 0
        ? await WorkerPlane.start({
            count: opts.workers,
            logger: opts.logger,
            logLevel: opts.logLevel ?? opts.logger.level,
            logFormat: opts.logFormat ?? 'json',
            speakerLimit,
            events,
            implementation: dataPlane.implementation,
          })
        : new LocalPlane({ logger: opts.logger, events, speakerLimit, io: dataPlane.io });
    const speaker = new Speaker(opts, plane, dataPlane, speakerLimit);
    opts.health.onChange((change) => plane.setHealth([change]));
    try {
      await speaker.#apply(first.table, first.text, 'start', undefined);
      if (opts.metricsAt) {
        speaker.#metricsServer = await startMetricsServer(
          opts.metricsAt,
          opts.registry,
          opts.logger,
          opts.jsonRoutes,
          opts.liveness,
        );
      }
    } catch (err) {
      await speaker.stop();
      throw err;
    }
    if (opts.tablePath !== undefined) {
      speaker.#watch = watchTableFile(
        opts.tablePath,
        () => void speaker.reload('file-change', false),
        opts.debounceMs ?? DEFAULT_DEBOUNCE_MS,
      );
    }
    return speaker;
  }

  /** The table being served. */
  get table(): ForwardingTable | null {
    return this.#served;
  }

  /** The listeners the data plane has now: the served table less those a bind filter left out. */
  get bound(): ForwardingTable {
    return this.#bound;
  }

  /** Which implementation of the relay's I/O forwards, and why. */
  get dataPlane(): Pick<DataPlaneChoice, 'implementation' | 'reason'> {
    return { implementation: this.#dataPlane.implementation, reason: this.#dataPlane.reason };
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
    const path = this.#opts.tablePath;
    const run = async (): Promise<ReloadOutcome> => {
      if (this.#stopping || path === undefined) return 'unchanged';
      const read = await readTableFile(path);
      if (!force && read.text === this.#servedText) return 'unchanged';
      if (!read.result.ok) {
        this.#refuse(read.result.problems, reason, path);
        return 'refused';
      }
      await this.#apply(read.result.value, read.text, reason, undefined);
      return 'applied';
    };
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Serve a table that came from elsewhere than the file (a store subscriber, say), in order with
   * file reloads. The table is already parsed, so it cannot be refused. With `bind`, only the
   * listeners it accepts are bound (the others are health-probed all the same, so a listener bound
   * later starts with its backends' health known). Resolves, once applied, with the bind reports.
   */
  serve(table: ForwardingTable, reason: string, bind?: BindFilter): Promise<BindReport[]> {
    const run = () => this.#apply(table, null, reason, bind);
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** A table from elsewhere (the store) was refused there: count it and log it like a bad file. */
  reportRefused(problems: readonly Problem[], source: string): void {
    this.#refuse(problems, 'store', source);
  }

  #refuse(problems: readonly Problem[], reason: string, source: string): void {
    this.#metrics.tableRefused();
    for (const p of problems) {
      this.#log.error({ event: 'table-problem', reason: p.code, path: source }, formatProblem(p));
    }
    this.#log.error(
      { event: 'table-refused', reason, problems: problems.length, version: this.#served?.version },
      'table refused; the last good table keeps serving',
    );
    this.events.emit('refused', problems);
  }

  async #apply(
    table: ForwardingTable,
    text: string | null,
    reason: string,
    bind: BindFilter | undefined,
  ): Promise<BindReport[]> {
    const planeTable = bind ? { version: table.version, listeners: table.listeners.filter(bind) } : table;
    const before = new Map<string, Listener>(this.#bound.listeners.map((l) => [listenerKey(l), l]));
    const diff = diffListeners(before, planeTable.listeners);
    // Counters follow the whole table, so a listener unbound and bound again keeps counting the
    // connections its draining predecessor still has.
    const keys = new Set(table.listeners.map(listenerKey));
    for (const key of keys) if (!this.#counters.has(key)) this.#counters.set(key, newCounterCell());
    for (const key of this.#counters.keys()) if (!keys.has(key)) this.#counters.delete(key);
    const targets = healthTargets(table.listeners);
    this.#opts.health.setTargets(targets);
    this.#warnLowPorts(planeTable.listeners);
    this.#sizeConnectionCap(planeTable.listeners.length, targets.length);
    const reports = await this.#plane.apply(planeTable, this.#opts.health.snapshot(), this.#counters);
    this.#served = table;
    this.#bound = planeTable;
    if (text !== null) this.#servedText = text;
    this.#metrics.tableApplied(table.version);
    this.#reportBinds(reports);
    this.#log.info({
      event: 'table-applied',
      reason,
      version: table.version,
      listeners: planeTable.listeners.length,
      added: diff.added.length,
      changed: diff.changed.length,
      removed: diff.removed.length,
    });
    this.events.emit('applied', table, reports);
    return reports;
  }

  /**
   * The speaker-wide cap for `listeners` bound listeners (a socket each per worker) and `targets`
   * health targets (a socket each while probed), where the cap follows them; logged when it moves.
   */
  #sizeConnectionCap(listeners: number, targets: number): void {
    const size = this.#opts.maxConnections;
    if (typeof size === 'number') return;
    const max = size(listeners * Math.max(1, this.#opts.workers) + targets);
    const before = limitMax(this.#speakerLimit);
    if (max === before) return;
    setLimitMax(this.#speakerLimit, max);
    this.#log.info({ event: 'connection-cap', maxConnections: max, listeners, targets, before });
  }

  /** The speaker-wide connection cap now (0: none). */
  get maxConnections(): number {
    return limitMax(this.#speakerLimit);
  }

  /** Say once per port, before the bind fails, which capability a low port needs. */
  #warnLowPorts(listeners: readonly Listener[]): void {
    const low = listeners
      .map((l) => l.port)
      .filter((p) => p < this.#portStart && !this.#lowPortsWarned.has(p));
    if (low.length === 0 || missingCapabilities(['NET_BIND_SERVICE']).length === 0) return;
    for (const p of low) this.#lowPortsWarned.add(p);
    this.#log.warn(
      { event: 'bind-privilege-missing', ports: [...new Set(low)].sort((a, b) => a - b) },
      `ports below ${this.#portStart} need CAP_NET_BIND_SERVICE: grant it (the DaemonSet adds it) or use higher ports`,
    );
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
