/**
 * The controller in Kubernetes mode, wired: informers (KubeSource) run on every replica so a new
 * leader starts from a warm cache; only the leader runs a ControllerLoop, which writes Service and
 * pool status and Events through KubeOutcomeWriter and publishes the forwarding table. Each
 * leadership term gets a fresh loop, started only once the previous term's loop has stopped writing,
 * and reading what it must keep from the Services' status rather than from a stale memory. Each term
 * writes the store under its number (the Lease's `leaseTransitions`), so the store refuses a deposed
 * leader's late writes. Without leader election the loop simply runs for as long as the process does,
 * under a term one above the store's at start.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../../shared/log.ts';
import { ControllerLoop, type StoreRefusal } from '../../loop/controller-loop.ts';
import { type LeaderElectionTiming, LeaderElector } from '../../loop/leader-election.ts';
import type { PassResult, ReconcileOptions } from '../../loop/reconcile.ts';
import { type ControllerStore, nextTerm, termPublisher } from '../../loop/term-publisher.ts';
import { DEFAULT_REQUEST_TIMEOUT_MS, makeKubeClients } from './client.ts';
import { EventRecorder } from './events.ts';
import type { InformerBackoff } from './informer.ts';
import { KubeLeaseStore } from './lease.ts';
import { KubeOutcomeWriter } from './outcome-writer.ts';
import { KubeSource } from './source.ts';
import { KubeWriter } from './writer.ts';

/** Where the leader-election Lease lives and how fast it moves. */
export interface LeaseSettings {
  readonly namespace: string;
  /** The Lease's name. */
  readonly name: string;
  readonly timing: LeaderElectionTiming;
}

/** Options of the Kubernetes-mode controller. */
export interface KubeControllerOptions {
  readonly kubeConfig: KubeConfig;
  /** Where the leader publishes the table, node states and pool statuses, fenced by its term. */
  readonly store: ControllerStore;
  readonly logger: Logger;
  readonly reconcile?: ReconcileOptions;
  /** This replica: the Lease holder name and the Events' reportingInstance. */
  readonly identity: string;
  /** Null: no leader election, this process always runs the loop. */
  readonly leaderElection: LeaseSettings | null;
  readonly informerBackoff?: InformerBackoff;
  /** Quiet time after a change before a pass runs. */
  readonly debounceMs?: number;
  /** Called after every completed pass of the leader's loop (metrics). */
  readonly onPass?: (result: PassResult) => void;
  /** A store write was refused (metrics). */
  readonly onStoreRefused?: (reason: StoreRefusal) => void;
}

/** Wait between tries to read the store's term when starting without leader election. */
const TERM_RETRY_MS = 1000;

/** Lease calls must fail well inside the renew deadline, or one hung call would cost leadership. */
function leaseRequestTimeoutMs(t: LeaderElectionTiming): number {
  return Math.min(DEFAULT_REQUEST_TIMEOUT_MS, Math.max(500, Math.floor(t.renewDeadlineMs / 2)));
}

/** Informers everywhere, the reconcile loop on the leader only. */
export class KubeController {
  readonly #log: Logger;
  readonly #source: KubeSource;
  readonly #newLoop: (term: number, signal: AbortSignal) => ControllerLoop;
  readonly #elector: LeaderElector | null;
  readonly #store: ControllerStore;
  /** Ends the term of a controller without leader election, on stop. */
  readonly #unelected = new AbortController();
  #loop: ControllerLoop | null = null;
  /** The previous term's loop winding down; the next term starts after it. */
  #stopping: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(opts: KubeControllerOptions) {
    this.#log = opts.logger;
    const clients = makeKubeClients(opts.kubeConfig);
    const source = new KubeSource({
      clients,
      logger: opts.logger,
      ...(opts.informerBackoff ? { backoff: opts.informerBackoff } : {}),
    });
    this.#source = source;
    const writer = new KubeOutcomeWriter({
      writer: new KubeWriter({ clients, logger: opts.logger }),
      recorder: new EventRecorder({ clients, logger: opts.logger, instance: opts.identity }),
      view: () => source.view(),
      logger: opts.logger,
    });
    this.#store = opts.store;
    this.#newLoop = (term, signal) =>
      new ControllerLoop({
        source,
        writer,
        publisher: termPublisher(opts.store, term, signal),
        logger: opts.logger.child({ term }),
        ...(opts.reconcile ? { reconcile: opts.reconcile } : {}),
        ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
        ...(opts.onPass ? { onPass: opts.onPass } : {}),
        ...(opts.onStoreRefused ? { onStoreRefused: opts.onStoreRefused } : {}),
        onDeposed: () => this.#deposed(),
      });
    const le = opts.leaderElection;
    this.#elector = le
      ? new LeaderElector({
          ...le.timing,
          identity: opts.identity,
          store: new KubeLeaseStore({
            coordination: clients.coordination,
            namespace: le.namespace,
            name: le.name,
            requestTimeoutMs: leaseRequestTimeoutMs(le.timing),
          }),
          logger: opts.logger,
          releaseOnStop: true,
          minTerm: () => nextTerm(opts.store),
          onStartedLeading: (signal, term) => this.#startTerm(signal, term),
          onStoppedLeading: () => this.#endTerm(),
          onNewLeader: (holder) =>
            this.#log.info({ event: 'leader.new', holder }, `leader is ${holder || '(none)'}`),
        })
      : null;
  }

  /** Start the informers, then campaign (or, without leader election, run the loop). */
  start(): void {
    void this.#source.start();
    if (this.#elector) this.#elector.start();
    else void this.#startUnelected();
  }

  /** Without leader election: one term, above the store's, for as long as the process runs. */
  async #startUnelected(): Promise<void> {
    const signal = this.#unelected.signal;
    while (!signal.aborted) {
      try {
        const term = await nextTerm(this.#store);
        this.#startTerm(signal, term);
        return;
      } catch (err) {
        this.#log.warn({ event: 'store-term-unknown', err }, 'could not read the store term; retrying');
        await new Promise((resolve) => setTimeout(resolve, TERM_RETRY_MS).unref());
      }
    }
  }

  /**
   * The store refused the term: a newer one wrote. A leader gives up leading and campaigns again:
   * if another replica leads, the Lease says so; if the Lease is still ours (it was deleted and
   * created again, restarting its count), the next acquisition takes a term above the store's.
   */
  #deposed(): void {
    this.#endTerm();
    if (this.#elector) this.#elector.abdicate('the store refused this term');
    else
      this.#log.error(
        { event: 'controller-deposed' },
        'another controller writes to this store; not writing',
      );
  }

  /** Resolves once every collection has been listed (start-up log, tests). */
  whenSynced(): Promise<void> {
    return this.#source.whenSynced();
  }

  /** Stop writing (a pass in flight ends at its next write), then release the Lease, then stop watching. */
  async stop(): Promise<void> {
    this.#closed = true;
    this.#unelected.abort();
    this.#endTerm();
    await this.#stopping;
    await this.#elector?.stop();
    await this.#source.stop();
  }

  #startTerm(signal: AbortSignal, term: number): void {
    if (signal.aborted || this.#closed) return;
    const loop = this.#newLoop(term, signal);
    this.#loop = loop;
    // The previous term's loop may still be finishing a write: start after it, unless this term
    // ended meanwhile. start() itself waits for the informers' first full listing.
    this.#stopping
      .then(() => {
        if (this.#loop !== loop) return;
        this.#log.info({ event: 'controller-leading', term }, `running the reconcile loop (term ${term})`);
        return loop.start();
      })
      .catch((err: unknown) =>
        this.#log.error({ event: 'controller-loop-failed', err }, 'the reconcile loop failed to start'),
      );
  }

  #endTerm(): void {
    const loop = this.#loop;
    this.#loop = null;
    if (!loop) return;
    this.#log.info({ event: 'controller-standby' }, 'reconcile loop stopped');
    const previous = this.#stopping;
    this.#stopping = Promise.all([previous, loop.stop()]).then(() => undefined);
  }
}
