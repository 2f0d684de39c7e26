/**
 * `switchyard controller`: allocates IPs and publishes the forwarding table to Redis for the
 * speakers. With `--config FILE` it reads objects from a manifest (no cluster needed); otherwise it
 * watches the Kubernetes API. Thin: flags and wiring; the loop is controller-loop.ts.
 */
import type { CommandModule } from 'yargs';
import { UserError } from '../shared/errors.ts';
import { createLogger, type LogFormat } from '../shared/log.ts';
import { openRedisStore } from '../shared/store/open-store.ts';
import { REDIS_CLI_OPTIONS, type RedisFlags } from '../shared/store/redis-options.ts';
import type { Store } from '../shared/store/store.ts';
import { ControllerLoop, type TablePublisher } from './controller-loop.ts';
import { LogWriter } from './log-writer.ts';
import { ManifestSource } from './manifest-source.ts';

interface ControllerArgs extends RedisFlags {
  config?: string;
  'lb-class'?: string;
  'kube-proxy-health-port': number;
  'log-level': string;
  'log-format': LogFormat;
}

/** The store as the loop's publisher. */
export function storePublisher(store: Store): TablePublisher {
  return {
    publish: async (table) => {
      await store.publishTable(table);
    },
    publishNodeStates: (states) => store.publishNodeStates(states),
  };
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
      .option('lb-class', { type: 'string', describe: 'Serve only Services of this loadBalancerClass' })
      .option('kube-proxy-health-port', {
        type: 'number',
        default: 10256,
        describe: "kube-proxy's health port probed for Cluster Services; 0 where there is no kube-proxy",
      })
      .options(REDIS_CLI_OPTIONS) as never,
  handler: async (args) => {
    const logger = createLogger({ level: args['log-level'], format: args['log-format'], name: 'controller' });
    if (!args.config) {
      throw new UserError([
        {
          code: 'controller.no-source',
          object: 'controller',
          field: '--config',
          value: '(missing)',
          message: 'Kubernetes mode is not built yet; pass --config FILE to run from a manifest',
        },
      ]);
    }
    const source = new ManifestSource(args.config, logger);
    const store = await openRedisStore(args, logger);
    const loop = new ControllerLoop({
      source,
      writer: new LogWriter(logger),
      publisher: storePublisher(store),
      logger,
      reconcile: {
        lbClass: args['lb-class'] ?? null,
        compile: { kubeProxyHealthPort: args['kube-proxy-health-port'] },
      },
    });
    try {
      await loop.start();
    } catch (err) {
      await store.close();
      throw err;
    }
    logger.info(
      { event: 'controller-started', source: args.config, store: store.target },
      'controller running',
    );
    process.on('SIGHUP', () => source.reload());
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await loop.stop();
    await source.stop();
    await store.close();
    logger.info({ event: 'controller-stopped' }, 'controller stopped');
  },
};
