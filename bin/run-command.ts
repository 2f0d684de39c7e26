/**
 * `switchyard run`: the whole of Switchyard in one process, on a manifest, with no cluster and no
 * Redis: the controller loop publishes into an in-process store and a speaker in `local` mode
 * (127.0.0.0/8 VIPs need no announcement) follows it, exactly as a cluster speaker follows Redis.
 * With no `--config` it runs the demo manifest and starts demo backends on the demo nodes'
 * NodePorts, so `curl` through a VIP shows the balancing at once.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';
import type { PassResult } from '../controller/loop/reconcile.ts';
import { buildManifestController } from '../controller/main.ts';
import { UserError } from '../shared/errors.ts';
import { createLogger, type LogFormat } from '../shared/log.ts';
import { parseHostPort } from '../shared/metrics-server.ts';
import { MemoryStore } from '../shared/store/memory-store.ts';
import { PassiveAnnouncer } from '../speaker/announce/announcer.ts';
import { ClusterSpeaker } from '../speaker/cluster-speaker.ts';
import { speakerCap, startupConnectionCap } from '../speaker/descriptor-budget.ts';
import { speakerParts, speakerSelf } from '../speaker/main.ts';
import { Speaker } from '../speaker/speaker.ts';
import { readSpeakerView, speakerReport } from '../speaker/status-report.ts';
import { type DemoBackends, startDemoBackends } from './demo-backends.ts';
import { formatRunBanner } from './run-banner.ts';

interface RunArgs {
  config?: string;
  'demo-backends'?: boolean;
  workers: number;
  'metrics-address': string;
  'log-level': string;
  'log-format': LogFormat;
}

/** The demo manifest shipped in examples/, found from the source tree or the compiled one. */
export function demoManifestPath(): string {
  for (const rel of ['../examples/demo.yaml', '../../examples/demo.yaml']) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new UserError([
    {
      code: 'run.no-demo',
      object: 'switchyard run',
      field: '--config',
      value: '(missing)',
      message: 'the demo manifest examples/demo.yaml is not installed here; pass --config FILE',
    },
  ]);
}

/** The `run` subcommand. */
export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run',
  describe: 'Run controller and speaker in one process on a manifest (default: the demo)',
  builder: (y) =>
    y
      .option('config', {
        type: 'string',
        describe: 'Manifest of pools, Services and Nodes (default: the demo)',
      })
      .option('demo-backends', {
        type: 'boolean',
        describe: 'Serve each loopback node NodePort with a tiny HTTP server (default: on for the demo only)',
      })
      .option('workers', {
        type: 'number',
        default: 1,
        describe: 'Data-plane worker threads (0: main thread)',
      })
      .option('metrics-address', {
        type: 'string',
        default: '127.0.0.1:9470',
        describe: 'host:port of the metrics endpoint; "off" disables it',
      })
      // A person runs this: warnings and errors only, unless asked.
      .option('log-level', { type: 'string', default: 'warn' }) as never,
  handler: async (args) => {
    const logger = createLogger({ level: args['log-level'], format: args['log-format'], name: 'switchyard' });
    const file = args.config ?? demoManifestPath();
    const metricsAt = args['metrics-address'] === 'off' ? null : parseHostPort(args['metrics-address']);
    if (args['metrics-address'] !== 'off' && metricsAt === null) {
      throw new UserError([
        {
          code: 'run.metrics-address',
          object: 'switchyard run',
          field: '--metrics-address',
          value: args['metrics-address'],
          message: 'must be IP:port, e.g. 127.0.0.1:9470, or "off"',
        },
      ]);
    }
    const say = (line: string) => process.stdout.write(`${line}\n`);
    say(`Starting Switchyard on ${file} ...`);

    const store = new MemoryStore({ logger });
    let first: PassResult | undefined;
    const { source, loop } = buildManifestController({
      file,
      // No node states: in one process the single speaker stands for every node.
      publisher: { publish: async (table) => void (await store.publishTable(table)) },
      logger,
      term: null,
      // No kube-proxy here: the data plane checks the NodePorts themselves.
      reconcile: { compile: { kubeProxyHealthPort: 0 } },
      onPass: (r) => {
        first ??= r;
      },
    });
    await source.start();
    let backends: DemoBackends | null = null;
    if (args['demo-backends'] ?? args.config === undefined) {
      const { nodes, services } = source.snapshot();
      backends = await startDemoBackends(nodes, services);
      say(`  demo backends: ${backends.backends.length} NodePort servers on the demo nodes`);
    }
    const { registry, health, status, options } = speakerParts({
      workers: args.workers,
      maxConnections: speakerCap(startupConnectionCap('auto', 'switchyard run')),
      drainTimeoutMs: 5000,
      metricsAt,
      logger,
      logLevel: args['log-level'],
      logFormat: args['log-format'],
    });
    const speaker = await Speaker.start(options);
    const self = speakerSelf(speaker, hostname(), '127.0.0.1', 'run');
    const cluster = ClusterSpeaker.start({
      store,
      speaker,
      announcer: new PassiveAnnouncer('local'),
      self,
      registry,
      logger,
      settleMs: 0,
    });
    // One report for the whole process: the speaker's view, the loop's pools, the store's speakers.
    status.set(async () =>
      speakerReport(await readSpeakerView(speaker, health, self, () => cluster.vips()), {
        source: 'run',
        pools: loop.last()?.plan.pools ?? null,
        speakers: await store.listSpeakers(),
      }),
    );
    await loop.start();
    await servingTable(cluster, first!.table.listeners.length);
    say('');
    say(formatRunBanner(first!, backends?.backends ?? [], speaker.metricsAddress));

    await new Promise<void>((resolve) => {
      process.once('SIGTERM', () => resolve());
      process.once('SIGINT', () => resolve());
    });
    say('\nStopping ...');
    await loop.stop();
    await source.stop();
    await cluster.stop();
    await speaker.stop();
    health.close();
    await store.close();
    await backends?.close();
    say('Stopped.');
    process.exit(0);
  },
};

/** Wait until the speaker follows the published table (a few milliseconds; bounded at 10 s). */
async function servingTable(cluster: ClusterSpeaker, listeners: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (cluster.table.listeners.length !== listeners) {
    if (Date.now() > deadline) throw new Error('the speaker did not receive the table within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  await cluster.settled();
}
