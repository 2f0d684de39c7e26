/**
 * The controller in Kubernetes mode, wired: informers (KubeSource) run on every replica so a new
 * leader starts from a warm cache; only the leader runs a ControllerLoop, which writes Service and
 * pool status and Events through KubeOutcomeWriter and publishes the forwarding table. Each
 * leadership term gets a fresh loop, started only once the previous term's loop has stopped writing,
 * and reading what it must keep from the Services' status rather than from a stale memory. Without
 * leader election the loop simply runs for as long as the process does.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../shared/log.ts';
import { ControllerLoop, type TablePublisher } from './controller-loop.ts';
import { DEFAULT_REQUEST_TIMEOUT_MS, makeKubeClients } from './kube-client.ts';
import { EventRecorder } from './kube-events.ts';
import type { InformerBackoff } from './kube-informer.ts';
import { KubeLeaseStore } from './kube-lease.ts';
import { KubeOutcomeWriter } from './kube-outcome-writer.ts';
import { KubeSource } from './kube-source.ts';
import { KubeWriter } from './kube-writer.ts';
import { type LeaderElectionTiming, LeaderElector } from './leader-election.ts';
import type { PassResult, ReconcileOptions } from './reconcile.ts';

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
  readonly publisher: TablePublisher;
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
}

/** Lease calls must fail well inside the renew deadline, or one hung call would cost leadership. */
function leaseRequestTimeoutMs(t: LeaderElectionTiming): number {
  return Math.min(DEFAULT_REQUEST_TIMEOUT_MS, Math.max(500, Math.floor(t.renewDeadlineMs / 2)));
}

/** Informers everywhere, the reconcile loop on the leader only. */
export class KubeController {
  readonly #log: Logger;
  readonly #source: KubeSource;
  readonly #newLoop: () => ControllerLoop;
  readonly #elector: LeaderElector | null;
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
    this.#newLoop = () =>
      new ControllerLoop({
        source,
        writer,
        publisher: opts.publisher,
        logger: opts.logger,
        ...(opts.reconcile ? { reconcile: opts.reconcile } : {}),
        ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
        ...(opts.onPass ? { onPass: opts.onPass } : {}),
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
          onStartedLeading: (signal) => this.#startTerm(signal),
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
    else this.#startTerm(new AbortController().signal);
  }

  /** Resolves once every collection has been listed (start-up log, tests). */
  whenSynced(): Promise<void> {
    return this.#source.whenSynced();
  }

  /** Stop writing (a pass in flight ends at its next write), then release the Lease, then stop watching. */
  async stop(): Promise<void> {
    this.#closed = true;
    this.#endTerm();
    await this.#stopping;
    await this.#elector?.stop();
    await this.#source.stop();
  }

  #startTerm(signal: AbortSignal): void {
    if (signal.aborted || this.#closed) return;
    const loop = this.#newLoop();
    this.#loop = loop;
    // The previous term's loop may still be finishing a write: start after it, unless this term
    // ended meanwhile. start() itself waits for the informers' first full listing.
    this.#stopping
      .then(() => {
        if (this.#loop !== loop) return;
        this.#log.info({ event: 'controller-leading' }, 'running the reconcile loop');
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
