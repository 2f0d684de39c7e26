/**
 * `switchyard speaker`: serve a forwarding table from a file (`--table FILE`), or join a cluster
 * (`--redis-url URL --node-name NAME`): follow the table in the store, own a share of the VIPs and
 * announce them. Flags, wiring and start only; the parts are speaker.ts and cluster-speaker.ts.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, networkInterfaces } from 'node:os';
import { Registry } from 'prom-client';
import type { CommandModule } from 'yargs';
import { parseDuration } from '../shared/duration.ts';
import { UserError } from '../shared/errors.ts';
import { createLogger, type LogFormat, type Logger } from '../shared/log.ts';
import { parseHostPort } from '../shared/metrics-server.ts';
import { openRedisStore } from '../shared/store/open-store.ts';
import { REDIS_CLI_OPTIONS, type RedisFlags } from '../shared/store/redis-options.ts';
import type { SpeakerInfo } from '../shared/store/store.ts';
import { neighbourConflictProbe } from './announce/address-conflict.ts';
import { type Announcer, PassiveAnnouncer } from './announce/announcer.ts';
import { execRunner } from './announce/command-runner.ts';
import { L2Announcer } from './announce/l2-announcer.ts';
import { linkWatch } from './announce/link-state.ts';
import { NftVipFirewall } from './announce/vip-firewall.ts';
import { type StoreSource, speakerSourceFrom } from './cluster-flags.ts';
import { ClusterSpeaker } from './cluster-speaker.ts';
import { type ConnectionCap, speakerCap, startupConnectionCap } from './descriptor-budget.ts';
import { DATA_PLANE_MODES, type DataPlaneMode } from './forward/io/choose.ts';
import { HealthChecker } from './health/health-checker.ts';
import { addressLifetimeS } from './ownership/lease.ts';
import { Speaker, type SpeakerOptions } from './speaker.ts';
import {
  lateStatusRoute,
  readSpeakerView,
  type StatusRoute,
  speakerReport,
  statusUrlFor,
} from './status-report.ts';

interface SpeakerArgs extends RedisFlags {
  table?: string;
  'node-name'?: string;
  'node-address'?: string;
  announce?: string;
  interface?: string;
  'lease-ttl'?: string;
  'lease-renew'?: string;
  'handover-delay'?: string;
  'retain-on-store-loss'?: string;
  workers: number;
  'data-plane': DataPlaneMode;
  'max-connections': string;
  'drain-timeout': string;
  'metrics-address': string;
  'log-level': string;
  'log-format': LogFormat;
}

function flagProblem(flag: string, value: unknown, message: string): UserError {
  return new UserError([
    { code: 'flag.invalid', object: 'switchyard speaker', field: `--${flag}`, value: String(value), message },
  ]);
}

/** The `speaker` subcommand. */
/**
 * `GET /livez` fails when the VIP ownership loop has not started a tick for this many lease TTLs: a
 * hung loop renews nothing, and the DaemonSet's liveness probe then restarts the speaker.
 */
const LIVENESS_TICKS = 3;

export const speakerCommand: CommandModule<object, SpeakerArgs> = {
  command: 'speaker',
  describe: 'Proxy VIP:port connections to healthy node NodePorts: from a table file, or as a cluster member',
  builder: (y) =>
    y
      .option('table', {
        type: 'string',
        describe:
          'Forwarding table, YAML or JSON (docs/table-format.md); re-read on change and on SIGHUP. Instead of --redis-url',
      })
      .option('node-name', {
        type: 'string',
        describe: 'With the store: this node as Kubernetes names it (leases and heartbeats carry it)',
      })
      .option('node-address', {
        type: 'string',
        describe: "With the store: the address registered for this node (default: --interface's IPv4)",
      })
      .option('announce', {
        type: 'string',
        choices: ['l2', 'none', 'local'],
        describe:
          'With the store: l2 adds owned VIPs to --interface and sends gratuitous ARP (default); none: the network routes VIPs; local: 127/8 VIPs',
      })
      .option('interface', {
        type: 'string',
        describe: 'l2 mode: the interface facing the clients, e.g. eth0',
      })
      .option('lease-ttl', {
        type: 'string',
        describe: 'With the store: VIP lease and heartbeat lifetime (default 1500ms)',
      })
      .option('lease-renew', {
        type: 'string',
        describe: 'With the store: how often leases are renewed (default 250ms)',
      })
      .option('retain-on-store-loss', {
        type: 'string',
        describe:
          'With the store: how long an owner keeps its VIPs (suspended, no gratuitous ARP) when it cannot reach the store: always (default; in l2 only while it proves no other node answers), off, or a duration',
      })
      .option('handover-delay', {
        type: 'string',
        describe:
          'With the store: how long a node that (re)joined must be live before VIPs it prefers move back to it (default 3s; long: they stay where they are)',
      })
      .options(REDIS_CLI_OPTIONS)
      .option('workers', {
        type: 'number',
        default: availableParallelism(),
        describe:
          'Forwarding worker threads, each with its own SO_REUSEPORT listeners; 0 forwards in the main thread',
      })
      .option('data-plane', {
        type: 'string',
        choices: DATA_PLANE_MODES,
        default: 'auto',
        describe:
          "The relay's I/O: handles drives Node's libuv handles (least CPU), sockets uses net.Socket; auto: handles if its start-up self-test passes, else sockets with a warning",
      })
      .option('max-connections', {
        type: 'string',
        default: 'auto',
        describe:
          'Open client connections per speaker over all listeners; more are reset. auto: what the descriptor limit holds, with some kept for metrics, health checks and the store; 0: unlimited',
      })
      .option('drain-timeout', {
        type: 'string',
        default: '30s',
        describe: 'On SIGTERM, how long open connections may take to finish before they are closed',
      })
      .option('metrics-address', {
        type: 'string',
        default: '127.0.0.1:9470',
        describe: 'host:port of the Prometheus endpoint (/metrics); port 0 picks one; "off" disables it',
      }) as never,
  handler: (args) => runSpeaker(args),
};

/** Validate flags, start the speaker, and run until SIGTERM or SIGINT; then drain and exit 0. */
async function runSpeaker(args: SpeakerArgs): Promise<void> {
  if (!Number.isInteger(args.workers) || args.workers < 0)
    throw flagProblem('workers', args.workers, 'must be an integer >= 0');
  const cap = startupConnectionCap(args['max-connections'], 'switchyard speaker');
  const drainMs = parseDuration(args['drain-timeout']);
  if (drainMs === null)
    throw flagProblem('drain-timeout', args['drain-timeout'], 'must be a duration such as "30s" or "500ms"');
  const metricsAt = args['metrics-address'] === 'off' ? null : parseHostPort(args['metrics-address']);
  if (args['metrics-address'] !== 'off' && metricsAt === null)
    throw flagProblem('metrics-address', args['metrics-address'], 'must be IP:port, [IPv6]:port or "off"');
  const source = speakerSourceFrom({
    table: args.table,
    redisUrl: args.redisUrl,
    redisSentinels: args.redisSentinels,
    nodeName: args['node-name'],
    nodeAddress: args['node-address'],
    announce: args.announce,
    interface: args.interface,
    leaseTtl: args['lease-ttl'],
    leaseRenew: args['lease-renew'],
    handoverDelay: args['handover-delay'],
    retainOnStoreLoss: args['retain-on-store-loss'],
  });
  if (!source.ok) throw new UserError(source.problems);

  const logger = createLogger({
    level: args['log-level'],
    format: args['log-format'],
    name: 'switchyard-speaker',
  });
  if (cap.warning !== null) logger.warn({ event: 'descriptor-budget', maxConnections: cap.max }, cap.warning);
  // Bound once the cluster speaker runs; a table-file speaker has no loop that could hang.
  let liveness: () => string | null = () => null;
  const {
    health,
    status,
    options: common,
  } = speakerParts({
    workers: args.workers,
    dataPlane: args['data-plane'],
    maxConnections: speakerCap(cap),
    drainTimeoutMs: drainMs,
    metricsAt,
    logger,
    logLevel: args['log-level'],
    logFormat: args['log-format'],
    liveness: () => liveness(),
  });
  if (source.value.kind === 'store') {
    await runClusterSpeaker(args, source.value, common, cap, status, logger, (check) => {
      liveness = check;
    });
    return;
  }
  const speaker = await Speaker.start({ ...common, tablePath: source.value.path });
  status.set(async () =>
    speakerReport(await readSpeakerView(speaker, health, null, () => []), { source: 'speaker', pools: null }),
  );
  logger.info({
    event: 'speaker-started',
    table: source.value.path,
    workers: args.workers,
    dataPlane: speaker.dataPlane.implementation,
    ...capFields(cap, speaker.maxConnections),
    metrics: speaker.metricsAddress,
  });
  process.on('SIGHUP', () => void speaker.reload('sighup', true));
  await stopSignal();
  await speaker.stop();
  process.exit(0);
}

/** What every way of running a speaker starts from: its metrics registry, health checker, `/status` route and start options. */
export interface SpeakerParts {
  readonly registry: Registry;
  readonly health: HealthChecker;
  readonly status: StatusRoute;
  readonly options: Omit<SpeakerOptions, 'tablePath'>;
}

/** Build the parts every speaker shares (`switchyard speaker` and `switchyard run`); nothing is bound yet. */
export function speakerParts(
  opts: Omit<SpeakerOptions, 'tablePath' | 'registry' | 'health' | 'jsonRoutes' | 'onFatal'>,
): SpeakerParts {
  const registry = new Registry();
  const health = new HealthChecker({ logger: opts.logger, registry });
  const status = lateStatusRoute();
  const options = { ...opts, registry, health, jsonRoutes: status.routes, onFatal: () => process.exit(1) };
  return { registry, health, status, options };
}

/** This node as the store and `switchyard status` know it; `statusUrl` only where metrics are served. */
export function speakerSelf(speaker: Speaker, node: string, address: string, version: string): SpeakerInfo {
  const statusUrl = statusUrlFor(speaker.metricsAddress, address);
  return {
    node,
    address,
    startedAt: new Date().toISOString(),
    version,
    ...(statusUrl !== undefined ? { statusUrl } : {}),
  };
}

/** The `speaker-started` fields that say which connection cap the speaker runs with (`max`) and why. */
function capFields(cap: ConnectionCap, max: number): Record<string, unknown> {
  return { maxConnections: max, maxConnectionsFrom: cap.source, descriptorLimit: cap.descriptorLimit };
}

function stopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
}

/** This build's version, for the speaker registration. */
function packageVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      return String(JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')).version ?? 'unknown');
    } catch {
      // Not here: the compiled build sits one level deeper.
    }
  }
  return 'unknown';
}

/** The first IPv4 of `iface` (or of any interface) that is not a VIP or loopback. */
function nodeAddressOf(iface: string | null, vips: ReadonlySet<string>): string {
  const all = networkInterfaces();
  const lists = iface !== null ? [all[iface] ?? []] : Object.values(all);
  for (const list of lists) {
    for (const a of list ?? [])
      if (a.family === 'IPv4' && !a.internal && !vips.has(a.address)) return a.address;
  }
  return '';
}

/**
 * The cluster member: privileges and stale addresses first (one clear line if l2 cannot work
 * here), then the store (one clear line if Redis does not answer), then the speaker with an empty
 * table, then ownership. On SIGTERM: leases released, VIPs withdrawn, connections drained.
 */
async function runClusterSpeaker(
  args: SpeakerArgs,
  src: StoreSource,
  common: Omit<SpeakerOptions, 'tablePath'>,
  cap: ConnectionCap,
  status: StatusRoute,
  logger: Logger,
  setLiveness: (check: () => string | null) => void,
): Promise<void> {
  const run = execRunner();
  let announcer: Announcer;
  let allowlist: NftVipFirewall | null = null;
  const lifetimeS = addressLifetimeS(src.timing);
  if (src.announce === 'l2') {
    announcer = new L2Announcer({ interface: src.interface!, run, lifetimeS, logger });
    await announcer.start();
    allowlist = new NftVipFirewall({ run, logger });
    try {
      await allowlist.apply([]);
    } catch (err) {
      throw new UserError([
        {
          code: 'announce.nftables',
          object: 'speaker',
          field: '--announce',
          value: 'l2',
          message: `l2 mode keeps an nftables allowlist on VIPs and nft failed (${(err as Error).message}); install nftables or use --announce none`,
        },
      ]);
    }
  } else {
    announcer = new PassiveAnnouncer(src.announce);
  }
  const store = await openRedisStore(args, logger);
  const speaker = await Speaker.start(common).catch(async (err: unknown) => {
    await store.close();
    throw err;
  });
  const address = src.nodeAddress ?? nodeAddressOf(src.interface, announcer.announced());
  const self = speakerSelf(speaker, src.node, address, packageVersion());
  const cluster = ClusterSpeaker.start({
    store,
    speaker,
    announcer,
    allowlist,
    conflictProbe:
      src.interface !== null && src.announce === 'l2'
        ? neighbourConflictProbe(src.interface, run, logger)
        : null,
    retainOnStoreLossMs: src.retainOnStoreLossMs,
    self,
    timing: src.timing,
    handoverDelayMs: src.handoverDelayMs,
    registry: common.registry,
    logger,
    // Four renewals per address lifetime: an event-loop stall of most of a lifetime is survived.
    keepAliveMs: Math.min(src.timing.renewMs / 2, (lifetimeS * 1000) / 4),
    linkUp: src.announce === 'l2' ? linkWatch(src.interface!, logger) : null,
  });
  setLiveness(() => cluster.stalled(performance.now(), LIVENESS_TICKS * src.timing.ttlMs));
  logger.info({
    event: 'speaker-started',
    store: store.target,
    node: src.node,
    announce: src.announce,
    interface: src.interface,
    leaseTtlMs: src.timing.ttlMs,
    leaseRenewMs: src.timing.renewMs,
    addressLifetimeS: src.announce === 'l2' ? lifetimeS : undefined,
    workers: args.workers,
    dataPlane: speaker.dataPlane.implementation,
    ...capFields(cap, speaker.maxConnections),
    metrics: speaker.metricsAddress,
  });
  status.set(async () =>
    speakerReport(await readSpeakerView(speaker, common.health, self, () => cluster.vips()), {
      source: 'speaker',
      pools: null,
    }),
  );
  process.on('SIGHUP', () => void cluster.reapply());
  await stopSignal();
  await cluster.stop();
  await speaker.stop();
  await store.close();
  process.exit(0);
}
