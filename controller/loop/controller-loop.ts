/**
 * The controller's loop: when the objects change, run one reconcile pass and make its result true —
 * Service status and events, pool status, and the published forwarding table. Changes are coalesced
 * (one pass at a time, the next one after `debounceMs`), a failed pass is retried with backoff, and
 * nothing is written before the source has delivered its first complete view.
 * A loop serves one leadership term: its first pass writes the whole table, the node states and the
 * pool statuses whatever was written before, and so does the first pass after every reconnect of the
 * store; once stopped, or once the store refused its term, it writes nothing more.
 */

import { formatProblem } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import type { ForwardingTable } from '../../shared/model.ts';
import { isStaleTerm, type NodeState } from '../../shared/store/store.ts';
import type { PoolStatus, ServiceOutcome } from '../allocate/reconcile-allocations.ts';
import { type ClusterObjects, type PassResult, type ReconcileOptions, reconcile } from './reconcile.ts';

/** Where the objects come from: informers, or a manifest file. */
export interface ObjectSource {
  /** Resolves once a first complete view is available (informers synced, file read). */
  start(): Promise<void>;
  snapshot(): ClusterObjects;
  /** Called after any change; cheap, may be called in bursts. Returns the unsubscribe. */
  onChange(listener: () => void): () => void;
  stop(): Promise<void>;
}

/** Where outcomes are written: the Kubernetes API, or nowhere but the log in manifest mode. */
export interface OutcomeWriter {
  /** Make the Service's status and allocation annotation say `outcome.ips` / `outcome.pool`. */
  writeService(outcome: ServiceOutcome): Promise<void>;
  recordEvents(outcome: ServiceOutcome): Promise<void>;
  writePoolStatus(status: PoolStatus): Promise<void>;
  /**
   * Where the Service's written state holds more than its IPs (ingress ports, the pool annotation):
   * a fingerprint of what `writeService` would write, and whether the cluster shows something else.
   * Lets a port edit, or a hand-edited status, be written again although the IPs did not change.
   */
  serviceDrift?(outcome: ServiceOutcome): { readonly want: string; readonly differs: boolean };
}

/**
 * Publishes the forwarding table to the speakers for one term; the store stamps the version. A
 * write the store refuses because a newer term wrote rejects with a `StaleTermError`.
 */
export interface TablePublisher {
  /** `full`: write the whole table even where a delta would do. */
  publish(table: ForwardingTable, opts?: { readonly full: boolean }): Promise<void>;
  /** Publish node readiness for VIP-owner choice (speakers have no Kubernetes access). */
  publishNodeStates?(states: readonly NodeState[]): Promise<void>;
  /** Publish pool address counts for `switchyard status` (which reads the store, not Kubernetes). */
  publishPoolStatuses?(statuses: readonly PoolStatus[]): Promise<void>;
  /** Call `listener` after every reconnect to the store; returns the unsubscribe. */
  onReconnect?(listener: () => void): () => void;
}

/** Why the store refused a write: the only reason so far is a newer term. */
export type StoreRefusal = 'stale-term';

/** Backoff after a failed pass: doubles from the first value up to the last. */
export const PASS_RETRY_MS = { first: 200, max: 10_000 } as const;

/** Settings of the loop. */
export interface ControllerLoopOptions {
  readonly source: ObjectSource;
  readonly writer: OutcomeWriter;
  readonly publisher: TablePublisher;
  readonly logger: Logger;
  readonly reconcile?: ReconcileOptions;
  /** Quiet time after a change before a pass runs, so a burst of events costs one pass. */
  readonly debounceMs?: number;
  /** Called after every completed pass (status views, tests). */
  readonly onPass?: (result: PassResult) => void;
  /** A store write was refused (metrics). */
  readonly onStoreRefused?: (reason: StoreRefusal) => void;
  /**
   * The store refused this loop's term: another controller leads. The loop has stopped writing by
   * the time this is called.
   */
  readonly onDeposed?: () => void;
}

function tableContent(table: ForwardingTable): string {
  return JSON.stringify(table.listeners);
}

/** Runs reconcile passes for as long as it is started (the leader's job). */
export class ControllerLoop {
  private readonly opts: ControllerLoopOptions;
  private previous: PassResult | undefined;
  /** What was last written successfully, so unchanged things are not written again. */
  private readonly writtenServices = new Map<string, string>();
  private readonly writtenPools = new Map<string, string>();
  private publishedTable: string | undefined;
  private publishedNodes: string | undefined;
  private publishedPools: string | undefined;
  /** The next table write is whole: a new term, or the store reconnected since the last one. */
  private fullTable = true;
  /** Counts store reconnects, so a write that straddled one is not remembered as written. */
  private reconnects = 0;
  private unwatchStore: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private dirty = false;
  private stopped = true;
  private retryMs: number = PASS_RETRY_MS.first;
  private idleWaiters: (() => void)[] = [];
  private unsubscribe: (() => void) | undefined;

  constructor(opts: ControllerLoopOptions) {
    this.opts = opts;
  }

  /** Wait for the source's first complete view, then run the first pass. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.opts.source.start();
    if (this.stopped) return;
    this.unsubscribe?.();
    this.unsubscribe = this.opts.source.onChange(() => this.schedule(this.opts.debounceMs ?? 100));
    this.unwatchStore?.();
    this.unwatchStore = this.opts.publisher.onReconnect?.(() => this.storeReconnected());
    await this.runPass();
  }

  /**
   * The store connection came back: the server may have restarted, failed over or lost writes, so
   * forget what was published and write all of it again, the table whole.
   */
  private storeReconnected(): void {
    if (this.stopped) return;
    this.reconnects++;
    this.publishedTable = undefined;
    this.publishedNodes = undefined;
    this.publishedPools = undefined;
    this.fullTable = true;
    this.opts.logger.info(
      { event: 'store-rewrite' },
      'store reconnected; writing the table and states again',
    );
    this.schedule(0);
  }

  /** Stop scheduling passes; a pass in flight writes nothing more and is waited for. */
  async stop(): Promise<void> {
    this.halt();
    await this.idle();
  }

  /** Stop listening and scheduling; nothing is written after this. */
  private halt(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.unwatchStore?.();
    this.unwatchStore = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The last pass's result, if any. */
  last(): PassResult | undefined {
    return this.previous;
  }

  /** Resolves when no pass is running or scheduled (tests, shutdown). */
  idle(): Promise<void> {
    if (!this.running && !this.timer) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runPass();
    }, delayMs);
  }

  private async runPass(): Promise<void> {
    if (this.stopped) return;
    this.running = true;
    this.dirty = false;
    let failed = false;
    try {
      await this.pass();
      this.retryMs = PASS_RETRY_MS.first;
    } catch (err) {
      failed = true;
      if (isStaleTerm(err)) this.deposed(err);
      else if (this.stopped) {
        // The term ended under the pass (its write was abandoned, or failed on the way): not a failure.
        this.opts.logger.debug({ event: 'reconcile-abandoned', err }, 'pass ended with the term');
      } else {
        this.opts.logger.error(
          { event: 'reconcile-failed', err, retryMs: this.retryMs },
          'reconcile pass failed; retrying',
        );
      }
    } finally {
      this.running = false;
    }
    if (failed) {
      const delay = this.retryMs;
      this.retryMs = Math.min(this.retryMs * 2, PASS_RETRY_MS.max);
      this.schedule(delay);
    } else if (this.dirty) this.schedule(0);
    if (!this.running && !this.timer) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** The store refused this term: count it, stop writing for good, and let the owner know. */
  private deposed(err: { readonly term: number; readonly storeTerm: number }): void {
    this.opts.onStoreRefused?.('stale-term');
    this.opts.logger.error(
      { event: 'store-write-refused', reason: 'stale-term', term: err.term, storeTerm: err.storeTerm },
      `the store refused a write of term ${err.term}: term ${err.storeTerm} wrote since; this controller stops writing`,
    );
    if (this.stopped) return;
    this.halt();
    this.opts.onDeposed?.();
  }

  private async pass(): Promise<void> {
    const { logger, writer, publisher } = this.opts;
    const result = reconcile(this.opts.source.snapshot(), this.opts.reconcile ?? {}, this.previous);
    const problemsBefore = new Set((this.previous?.poolProblems ?? []).map(formatProblem));
    for (const p of result.poolProblems) {
      const line = formatProblem(p);
      if (!problemsBefore.has(line)) logger.warn({ event: 'pool-refused', reason: p.code }, line);
    }
    const tableBefore = new Set((this.previous?.tableProblems ?? []).map(formatProblem));
    for (const p of result.tableProblems) {
      const line = formatProblem(p);
      if (!tableBefore.has(line)) logger.warn({ event: 'listener-problem', reason: p.code }, line);
    }
    this.previous = result;
    // Each store write is checked against the term right before it is made: a leader that stepped
    // down while this pass ran writes nothing more (the store's term check is the backstop).
    // The table first: the data plane should serve a new VIP by the time the Service shows it.
    const content = tableContent(result.table);
    if (content !== this.publishedTable || this.fullTable) {
      if (this.stopped) return;
      const at = this.reconnects;
      await publisher.publish(result.table, { full: this.fullTable });
      if (at === this.reconnects) {
        this.publishedTable = content;
        this.fullTable = false;
      }
      logger.info(
        { event: 'table-published', listeners: result.table.listeners.length },
        'forwarding table published',
      );
    }
    const nodes = JSON.stringify(result.nodeStates);
    if (publisher.publishNodeStates && nodes !== this.publishedNodes) {
      if (this.stopped) return;
      const at = this.reconnects;
      await publisher.publishNodeStates(result.nodeStates);
      if (at === this.reconnects) this.publishedNodes = nodes;
    }
    // Best effort: pool counts are for people, so a failed write is retried with the next pass
    // instead of failing this one; a refused term is not a failed write.
    const pools = JSON.stringify(result.plan.pools);
    if (publisher.publishPoolStatuses && pools !== this.publishedPools) {
      if (this.stopped) return;
      const at = this.reconnects;
      try {
        await publisher.publishPoolStatuses(result.plan.pools);
        if (at === this.reconnects) this.publishedPools = pools;
      } catch (err) {
        if (isStaleTerm(err) || this.stopped) throw err;
        logger.warn(
          { event: 'pools-publish-failed', err },
          'could not publish pool statuses; retried next pass',
        );
      }
    }
    const errors: unknown[] = [];
    const present = new Set(result.plan.services.map((o) => `${o.namespace}/${o.name}`));
    for (const key of this.writtenServices.keys()) if (!present.has(key)) this.writtenServices.delete(key);
    for (const outcome of result.plan.services) {
      // A leader that stepped down stops writing at once rather than at the end of a long pass.
      if (this.stopped) return;
      const key = `${outcome.namespace}/${outcome.name}`;
      const drift = writer.serviceDrift?.(outcome);
      const want = `${outcome.ips.join(',')}|${outcome.pool ?? ''}|${drift?.want ?? ''}`;
      try {
        if (outcome.events.length > 0) await writer.recordEvents(outcome);
        if (!outcome.changed && !drift?.differs) {
          // The cluster shows what we wrote: forget it, so a later edit by someone else is undone.
          this.writtenServices.delete(key);
        } else if (this.writtenServices.get(key) !== want) {
          await writer.writeService(outcome);
          this.writtenServices.set(key, want);
        }
      } catch (err) {
        errors.push(err);
      }
    }
    for (const status of result.plan.pools) {
      if (this.stopped) return;
      const want = JSON.stringify(status);
      if (this.writtenPools.get(status.name) === want) continue;
      try {
        await writer.writePoolStatus(status);
        this.writtenPools.set(status.name, want);
      } catch (err) {
        errors.push(err);
      }
    }
    this.opts.onPass?.(result);
    if (errors.length > 0) throw new AggregateError(errors, `${errors.length} write(s) failed`);
  }
}
