/**
 * `switchyard controller`: allocates IPs and publishes the forwarding table to Redis for the
 * speakers. With `--config FILE` it reads objects from a manifest (no cluster needed); otherwise it
 * watches the Kubernetes API, writes Service and pool status and Events, and elects a leader among
 * its replicas. Thin: flags and wiring; the loop is loop/controller-loop.ts, Kubernetes mode is
 * sources/kube/controller.ts.
 */

import { Registry } from 'prom-client';
import type { CommandModule } from 'yargs';
import { parseDuration } from '../shared/duration.ts';
import { type Problem, UserError } from '../shared/errors.ts';
import { createLogger, type LogFormat, type Logger } from '../shared/log.ts';
import { parseHostPort, startMetricsServer } from '../shared/metrics-server.ts';
import { openRedisStore } from '../shared/store/open-store.ts';
import { REDIS_CLI_OPTIONS, type RedisFlags } from '../shared/store/redis-options.ts';
import { ControllerLoop, type StoreRefusal, type TablePublisher } from './loop/controller-loop.ts';
import {
  checkLeaderElectionTiming,
  DEFAULT_LEADER_ELECTION_TIMING,
  type LeaderElectionTiming,
} from './loop/leader-election.ts';
import { LogWriter } from './loop/log-writer.ts';
import { ControllerMetrics } from './loop/metrics.ts';
import type { PassResult, ReconcileOptions } from './loop/reconcile.ts';
import { nextTerm, termPublisher } from './loop/term-publisher.ts';
import { type ResolvedKubeConfig, resolveKubeConfig } from './sources/kube/client.ts';
import { KubeController, type LeaseSettings } from './sources/kube/controller.ts';
import { defaultIdentity, defaultLeaseNamespace, FALLBACK_LEASE_NAMESPACE } from './sources/kube/lease.ts';
import { ManifestSource } from './sources/manifest/source.ts';

interface ControllerArgs extends RedisFlags {
  config?: string;
  kubeconfig?: string;
  'leader-elect': boolean;
  'leader-election-namespace'?: string;
  'leader-election-id': string;
  'leader-election-lease-duration': string;
  'leader-election-renew-deadline': string;
  'leader-election-retry-period': string;
  identity?: string;
  'lb-class'?: string;
  'kube-proxy-health-port': number;
  'metrics-address': string;
  'log-level': string;
  'log-format': LogFormat;
}

/** The Lease name when --leader-election-id is not given. */
export const DEFAULT_LEASE_NAME = 'switchyard-controller';

/** Timing flags and the LeaderElectionTiming field each sets. */
const TIMING_FLAGS = {
  leaseDurationMs: 'leader-election-lease-duration',
  renewDeadlineMs: 'leader-election-renew-deadline',
  retryPeriodMs: 'leader-election-retry-period',
} as const satisfies Record<keyof LeaderElectionTiming, keyof ControllerArgs>;

/** The leader-election timing from the flags, checked as client-go checks it. */
function leaseTiming(args: ControllerArgs): LeaderElectionTiming {
  const problems: Problem[] = [];
  const timing = { ...DEFAULT_LEADER_ELECTION_TIMING };
  for (const [field, flag] of Object.entries(TIMING_FLAGS) as [keyof LeaderElectionTiming, string][]) {
    const ms = parseDuration(args[flag as keyof ControllerArgs]);
    if (ms === null || ms <= 0) {
      problems.push({
        code: 'controller.invalid-duration',
        object: 'controller',
        field: `--${flag}`,
        value: String(args[flag as keyof ControllerArgs]),
        message: 'must be a duration such as 500ms, 2s or 1m',
      });
    } else timing[field] = ms;
  }
  if (problems.length === 0) {
    const flagOf: Record<string, string> = {
      leaseDuration: TIMING_FLAGS.leaseDurationMs,
      renewDeadline: TIMING_FLAGS.renewDeadlineMs,
      retryPeriod: TIMING_FLAGS.retryPeriodMs,
    };
    for (const p of checkLeaderElectionTiming(timing)) {
      const flag = flagOf[p.field];
      const value = flag ? String(args[flag as keyof ControllerArgs]) : p.value;
      problems.push({ ...p, object: 'controller', field: `--${flag ?? p.field}`, value });
    }
  }
  if (problems.length > 0) throw new UserError(problems);
  return timing;
}

/** Resolves on the first SIGTERM or SIGINT. */
function untilSignalled(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
}

/** What both modes are given besides their flags. */
interface Wiring {
  readonly reconcile: ReconcileOptions;
  readonly onPass: (result: PassResult) => void;
  readonly onStoreRefused: (reason: StoreRefusal) => void;
}

/** A manifest-mode controller, built and not started: the file's source and the loop over it. */
export interface ManifestController {
  readonly source: ManifestSource;
  readonly loop: ControllerLoop;
}

/** What a manifest-mode controller is built from besides the file. */
export interface ManifestControllerOptions extends Partial<Omit<Wiring, 'reconcile'>> {
  readonly file: string;
  /** Where the tables go: the store under one term, or straight to an in-process store. */
  readonly publisher: TablePublisher;
  readonly reconcile: ReconcileOptions;
  readonly logger: Logger;
  /** The loop logs under this term; null when it publishes without one. */
  readonly term: number | null;
  readonly onDeposed?: () => void;
}

/**
 * The controller on a manifest file (`switchyard controller --config` and `switchyard run`):
 * outcomes go to the log, tables to `publisher`.
 */
export function buildManifestController(opts: ManifestControllerOptions): ManifestController {
  const { file, logger, term, ...loopOptions } = opts;
  const source = new ManifestSource(file, logger);
  const loop = new ControllerLoop({
    ...loopOptions,
    source,
    writer: new LogWriter(logger),
    logger: term === null ? logger : logger.child({ term }),
  });
  return { source, loop };
}

async function runManifestMode(
  args: ControllerArgs,
  file: string,
  wiring: Wiring,
  logger: Logger,
): Promise<void> {
  const store = await openRedisStore(args, logger, { noReplay: true });
  const term = new AbortController();
  let controller: ManifestController;
  try {
    // No leader election here: one term, above the store's, so an older instance still running
    // is refused from this one's first write on.
    const number = await nextTerm(store);
    controller = buildManifestController({
      ...wiring,
      file,
      publisher: termPublisher(store, number, term.signal),
      logger,
      term: number,
      onDeposed: () =>
        logger.error({ event: 'controller-deposed' }, 'another controller writes to this store; not writing'),
    });
    await controller.loop.start();
  } catch (err) {
    await store.close();
    throw err;
  }
  const { source, loop } = controller;
  logger.info({ event: 'controller-started', source: file, store: store.target }, 'controller running');
  process.on('SIGHUP', () => source.reload());
  await untilSignalled();
  term.abort();
  await loop.stop();
  await source.stop();
  await store.close();
  logger.info({ event: 'controller-stopped' }, 'controller stopped');
}

/** Kubernetes mode's settings from its flags. */
interface KubeSettings {
  readonly kube: ResolvedKubeConfig;
  readonly identity: string;
  readonly lease: LeaseSettings | null;
}

/** Kubernetes mode's flags, checked (the kubeconfig loaded) without binding or connecting anything. */
function kubeSettings(args: ControllerArgs): KubeSettings {
  return {
    kube: resolveKubeConfig(args.kubeconfig),
    identity: args.identity || defaultIdentity(),
    lease: args['leader-elect']
      ? {
          namespace: args['leader-election-namespace'] || defaultLeaseNamespace(),
          name: args['leader-election-id'],
          timing: leaseTiming(args),
        }
      : null,
  };
}

async function runKubeMode(
  args: ControllerArgs,
  { kube, identity, lease }: KubeSettings,
  wiring: Wiring,
  logger: Logger,
): Promise<void> {
  const store = await openRedisStore(args, logger, { noReplay: true });
  const controller = new KubeController({
    kubeConfig: kube.kubeConfig,
    store,
    logger,
    reconcile: wiring.reconcile,
    onPass: wiring.onPass,
    onStoreRefused: wiring.onStoreRefused,
    identity,
    leaderElection: lease,
  });
  controller.start();
  logger.info(
    {
      event: 'controller-started',
      source: 'kubernetes',
      kubeconfig: kube.from,
      server: kube.server,
      store: store.target,
      identity,
      lease: lease ? `${lease.namespace}/${lease.name}` : null,
    },
    lease ? 'controller running; campaigning for leadership' : 'controller running (no leader election)',
  );
  const signalled = untilSignalled();
  void controller
    .whenSynced()
    .then(() => logger.info({ event: 'controller-synced' }, 'informers have listed every collection'));
  await signalled;
  await controller.stop();
  await store.close();
  logger.info({ event: 'controller-stopped' }, 'controller stopped');
}

/** The `controller` subcommand. */
export const controllerCommand: CommandModule<object, ControllerArgs> = {
  command: 'controller',
  describe: 'Allocate IPs to LoadBalancer Services and publish the forwarding table to Redis',
  builder: (y) =>
    y
      .option('config', {
        type: 'string',
        describe: 'Read objects from this manifest file instead of the Kubernetes API',
      })
      .option('kubeconfig', {
        type: 'string',
        describe:
          'Kubeconfig file (else $KUBECONFIG, else the in-cluster service account, else ~/.kube/config)',
      })
      .option('leader-elect', {
        type: 'boolean',
        default: true,
        describe:
          'Elect one writing replica through a coordination.k8s.io Lease (--no-leader-elect: always write)',
      })
      .option('leader-election-namespace', {
        type: 'string',
        describe: `Namespace of the Lease (default: the pod's own namespace, else ${FALLBACK_LEASE_NAMESPACE})`,
      })
      .option('leader-election-id', {
        type: 'string',
        default: DEFAULT_LEASE_NAME,
        describe: 'Name of the Lease',
      })
      .option('leader-election-lease-duration', {
        type: 'string',
        default: '15s',
        describe: 'How long a Lease stays valid after its last renewal, as seen by the other replicas',
      })
      .option('leader-election-renew-deadline', {
        type: 'string',
        default: '10s',
        describe: 'A leader that has not renewed within this long stops writing (< lease duration)',
      })
      .option('leader-election-retry-period', {
        type: 'string',
        default: '2s',
        describe: 'Time between tries to acquire or renew the Lease',
      })
      .option('identity', {
        type: 'string',
        describe: 'This replica in the Lease and in Events (default: host name and PID)',
      })
      .option('lb-class', { type: 'string', describe: 'Serve only Services of this loadBalancerClass' })
      .option('kube-proxy-health-port', {
        type: 'number',
        default: 10256,
        describe: "kube-proxy's health port probed for Cluster Services; 0 where there is no kube-proxy",
      })
      .option('metrics-address', {
        type: 'string',
        default: '127.0.0.1:9471',
        describe: 'host:port of the Prometheus endpoint (/metrics); port 0 picks one; "off" disables it',
      })
      .options(REDIS_CLI_OPTIONS) as never,
  handler: async (args) => {
    const logger = createLogger({ level: args['log-level'], format: args['log-format'], name: 'controller' });
    const reconcile: ReconcileOptions = {
      lbClass: args['lb-class'] ?? null,
      compile: { kubeProxyHealthPort: args['kube-proxy-health-port'] },
    };
    const metricsAt = args['metrics-address'] === 'off' ? null : parseHostPort(args['metrics-address']);
    if (args['metrics-address'] !== 'off' && !metricsAt) {
      throw new UserError([
        {
          code: 'controller.metrics-address',
          object: 'controller',
          field: '--metrics-address',
          value: JSON.stringify(args['metrics-address']),
          message: 'must be IP:PORT, e.g. 127.0.0.1:9471 or 0.0.0.0:9471, or "off" for no metrics endpoint',
        },
      ]);
    }
    // Every flag is checked before anything binds or connects, so a typo fails fast with exit 2
    // (and is reported as itself, not as whatever the metrics port or Redis says).
    const file = args.config;
    const kube = file ? null : kubeSettings(args);
    const registry = new Registry();
    const metrics = new ControllerMetrics(registry);
    const server = metricsAt ? await startMetricsServer(metricsAt, registry, logger) : null;
    if (server) {
      const { address, port } = server.address;
      logger.info({ event: 'metrics-listening', address, port }, `metrics on ${address}:${port}/metrics`);
    }
    try {
      const wiring: Wiring = {
        reconcile,
        onPass: (r) => metrics.observe(r),
        onStoreRefused: (reason) => metrics.storeRefused(reason),
      };
      if (kube) await runKubeMode(args, kube, wiring, logger);
      else if (file) await runManifestMode(args, file, wiring, logger);
    } finally {
      await server?.close();
    }
  },
};
