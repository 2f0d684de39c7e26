/**
 * The data plane of one thread (a worker, or the main thread in in-process mode): the listeners of
 * the current table, the health of their backends as the main thread reports it, and the shared
 * sweeper. A table is applied as a diff; health changes rebuild only the pickers they touch.
 */
import type { Logger } from '../../shared/log.ts';
import { type ForwardingTable, listenerKey as keyOf, type Listener } from '../../shared/model.ts';
import type { HealthChange, HealthState } from '../health/health-target.ts';
import { diffListeners } from '../table-diff.ts';
import type { RelayIo } from './io/relay-io.ts';
import { type BindFailure, ListenerRuntime } from './listener-runtime.ts';
import type { ListenerStatsEntry } from './listener-stats.ts';
import { newCounterCell, newLimitCell } from './shared-limit.ts';
import { Sweeper, tickFor } from './sweeper.ts';

/** Outcome of binding one listener during an apply. */
export interface BindReport {
  readonly key: string;
  readonly service: string;
  /** Null when the listener is bound (now or from before). */
  readonly failure: BindFailure | null;
}

/** What a thread's data plane is given at start. */
export interface ForwarderOptions {
  readonly logger: Logger;
  /** The relay's I/O this thread uses (io/choose.ts). */
  readonly io: RelayIo;
  /** Called for every failed backend connect, with the backend's health-target key. */
  readonly onConnectFailure: (healthKey: string) => void;
  /** Speaker-wide open-connection count and limit (`newLimitCell`, shared by all workers); none if absent. */
  readonly speakerLimit?: Int32Array;
}

/** The listeners and health state of one thread. */
export class Forwarder {
  readonly #log: Logger;
  readonly #io: RelayIo;
  readonly #onConnectFailure: (healthKey: string) => void;
  readonly #speakerLimit: Int32Array;
  readonly #sweeper = new Sweeper();
  readonly #live = new Map<string, ListenerRuntime>();
  readonly #retired = new Set<ListenerRuntime>();
  #health = new Map<string, HealthState>();
  #version = -1;

  constructor(opts: ForwarderOptions) {
    this.#log = opts.logger;
    this.#io = opts.io;
    this.#onConnectFailure = opts.onConnectFailure;
    this.#speakerLimit = opts.speakerLimit ?? newLimitCell(0);
  }

  /** Version of the table being served, -1 before the first. */
  get version(): number {
    return this.#version;
  }

  /** The live listener with this key (tests, metrics). */
  listener(key: string): ListenerRuntime | undefined {
    return this.#live.get(key);
  }

  /**
   * Serve `table`: bind added listeners (and retry ones that failed to bind before), give changed
   * ones new settings and pickers, drain removed ones. `health` replaces the thread's health view;
   * `counters` holds the shared open-connection counter of each listener key.
   */
  async apply(
    table: ForwardingTable,
    health: Iterable<readonly [string, HealthState]>,
    counters: ReadonlyMap<string, Int32Array>,
  ): Promise<BindReport[]> {
    this.#health = new Map(health);
    const current = new Map<string, Listener>();
    for (const [key, rt] of this.#live) current.set(key, rt.settings);
    const diff = diffListeners(current, table.listeners);
    for (const key of diff.removed) {
      const rt = this.#live.get(key)!;
      this.#live.delete(key);
      this.#retire(rt, rt.settings.timeouts.drainMs);
    }
    for (const l of diff.changed) this.#live.get(keyOf(l))!.update(l);
    for (const l of diff.added) {
      const key = keyOf(l);
      const cell = counters.get(key) ?? newCounterCell();
      this.#live.set(
        key,
        new ListenerRuntime(l, cell, {
          logger: this.#log,
          sweeper: this.#sweeper,
          io: this.#io,
          healthOf: (k) => this.#health.get(k) ?? 'unknown',
          connectFailed: (k) => this.reportConnectFailure(k),
          speakerLimit: this.#speakerLimit,
        }),
      );
    }
    // The health view was replaced wholesale: every picker is rebuilt from it.
    for (const l of diff.unchanged) this.#live.get(keyOf(l))!.rebuildPicker();
    this.#version = table.version;
    this.#retick();
    const runtimes = [...this.#live.values()];
    const failures = await Promise.all(runtimes.map((rt) => rt.bind()));
    return runtimes.map((rt, i) => ({
      key: rt.key,
      service: rt.settings.service,
      failure: rt.bound ? null : (failures[i] ?? { code: 'UNBOUND', message: 'listener is not bound' }),
    }));
  }

  /** Health changes from the main thread: rebuild the pickers that use a changed target. */
  setHealth(changes: readonly HealthChange[]): void {
    let touched = false;
    for (const c of changes) {
      if (this.#health.get(c.key) === c.state) continue;
      this.#health.set(c.key, c.state);
      touched = true;
    }
    if (!touched) return;
    for (const rt of this.#live.values()) {
      if (changes.some((c) => rt.usesHealthKey(c.key))) rt.rebuildPicker();
    }
  }

  /**
   * A backend connect failed: stop picking its target in this thread at once, without waiting for
   * the main thread's verdict, and pass the failure on to the health checker.
   */
  reportConnectFailure(healthKey: string): void {
    this.setHealth([{ key: healthKey, state: 'unhealthy' }]);
    this.#onConnectFailure(healthKey);
  }

  /** Every listener's counters, live and draining. */
  stats(): ListenerStatsEntry[] {
    const out: ListenerStatsEntry[] = [];
    for (const rt of [...this.#live.values(), ...this.#retired]) {
      out.push({ key: rt.key, service: rt.settings.service, bound: rt.bound, stats: rt.stats });
    }
    return out;
  }

  /** Stop accepting everywhere; connections get up to `timeoutMs` (and their drain time) to finish. */
  async drain(timeoutMs: number): Promise<void> {
    for (const [key, rt] of this.#live) {
      this.#live.delete(key);
      this.#retire(rt, Math.min(timeoutMs, rt.settings.timeouts.drainMs));
    }
    await Promise.all([...this.#retired].map((rt) => rt.drain(timeoutMs)));
    this.#sweeper.stop();
  }

  #retire(rt: ListenerRuntime, ms: number): void {
    this.#retired.add(rt);
    const drained = rt.drain(ms);
    // Logged once the listening socket is closed: from here on, new clients are refused.
    this.#log.info({ event: 'listener-drain', listener: rt.key, service: rt.settings.service, ms });
    void drained.then(() => {
      this.#retired.delete(rt);
      this.#log.info({ event: 'listener-drained', listener: rt.key, service: rt.settings.service });
      this.#retick();
    });
  }

  #retick(): void {
    let shortest = Infinity;
    for (const rt of this.#live.values()) shortest = Math.min(shortest, rt.shortestTimeout());
    for (const rt of this.#retired) shortest = Math.min(shortest, rt.shortestTimeout());
    this.#sweeper.setTick(tickFor(shortest));
  }
}
