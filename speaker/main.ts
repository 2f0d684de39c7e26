/**
 * `switchyard speaker --table FILE`: serve a forwarding table from a file. Flags, wiring and start
 * only; the speaker itself is speaker.ts.
 */
import { availableParallelism } from 'node:os';
import { Registry } from 'prom-client';
import type { CommandModule } from 'yargs';
import { parseDuration } from '../shared/duration.ts';
import { UserError } from '../shared/errors.ts';
import { createLogger, type LogFormat } from '../shared/log.ts';
import { parseHostPort } from '../shared/metrics-server.ts';
import { HealthChecker } from './health/health-checker.ts';
import { Speaker } from './speaker.ts';

interface SpeakerArgs {
  table: string;
  workers: number;
  'max-connections': number;
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
export const speakerCommand: CommandModule<object, SpeakerArgs> = {
  command: 'speaker',
  describe: 'Proxy VIP:port connections to healthy node NodePorts, as a forwarding-table file says',
  builder: (y) =>
    y
      .option('table', {
        type: 'string',
        demandOption: true,
        describe: 'Forwarding table, YAML or JSON (docs/table-format.md); re-read on change and on SIGHUP',
      })
      .option('workers', {
        type: 'number',
        default: availableParallelism(),
        describe:
          'Forwarding worker threads, each with its own SO_REUSEPORT listeners; 0 forwards in the main thread',
      })
      .option('max-connections', {
        type: 'number',
        default: 0,
        describe: 'Open client connections per speaker over all listeners; more are reset (0: unlimited)',
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
  if (!Number.isInteger(args['max-connections']) || args['max-connections'] < 0)
    throw flagProblem('max-connections', args['max-connections'], 'must be an integer >= 0 (0: unlimited)');
  const drainMs = parseDuration(args['drain-timeout']);
  if (drainMs === null)
    throw flagProblem('drain-timeout', args['drain-timeout'], 'must be a duration such as "30s" or "500ms"');
  const metricsAt = args['metrics-address'] === 'off' ? null : parseHostPort(args['metrics-address']);
  if (args['metrics-address'] !== 'off' && metricsAt === null)
    throw flagProblem('metrics-address', args['metrics-address'], 'must be IP:port, [IPv6]:port or "off"');

  const logger = createLogger({
    level: args['log-level'],
    format: args['log-format'],
    name: 'switchyard-speaker',
  });
  const registry = new Registry();
  const health = new HealthChecker({ logger, registry });
  const speaker = await Speaker.start({
    tablePath: args.table,
    workers: args.workers,
    maxConnections: args['max-connections'],
    drainTimeoutMs: drainMs,
    metricsAt,
    logger,
    logLevel: args['log-level'],
    logFormat: args['log-format'],
    registry,
    health,
    onFatal: () => process.exit(1),
  });
  logger.info({
    event: 'speaker-started',
    table: args.table,
    workers: args.workers,
    metrics: speaker.metricsAddress,
  });
  process.on('SIGHUP', () => void speaker.reload('sighup', true));
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await speaker.stop();
  process.exit(0);
}
