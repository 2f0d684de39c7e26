/**
 * `switchyard status`: what Switchyard is doing now, like `kubectl get`. With `--url` (default the
 * address `npm start` serves) it asks one speaker or `switchyard run` for `GET /status`; with
 * `--redis-url` it reads a cluster's store and asks every live speaker. `-o json` prints the same
 * report for scripts; `--watch` redraws until Ctrl-C. Flags and the loop only: the report comes from
 * shared/cluster-status.ts and shared/status-fetch.ts, the text from shared/status-render.ts.
 */
import type { CommandModule } from 'yargs';
import { readClusterStatus } from '../shared/cluster-status.ts';
import { type Problem, UserError } from '../shared/errors.ts';
import type { ProblemCode } from '../shared/problems.ts';
import { fetchStatus, STATUS_TIMEOUT_MS, statusUrlOf } from '../shared/status-fetch.ts';
import type { StatusReport } from '../shared/status-model.ts';
import { formatStatusJson, formatStatusTable } from '../shared/status-render.ts';
import { REDIS_CLI_OPTIONS, type RedisFlags } from '../shared/store/redis-options.ts';
import type { Store } from '../shared/store/store.ts';

/** Where `npm start` (and a speaker with default flags) serves its status. */
export const DEFAULT_STATUS_URL = 'http://127.0.0.1:9470';

/** Default `--watch` interval, and the bounds an interval must stay within. */
export const WATCH_SECONDS = { default: 2, min: 0.2, max: 3600 } as const;

interface StatusArgs extends RedisFlags {
  url?: string;
  output: 'table' | 'json';
  watch?: string;
}

function problem(field: string, value: string, message: string, code: ProblemCode = 'status.flag'): Problem {
  return { code, object: 'switchyard status', field, value, message };
}

/** The `--watch` value in seconds: none (undefined), the default (flag alone), or the number given. */
export function watchSeconds(value: string | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === '') return WATCH_SECONDS.default;
  const n = Number(value);
  return Number.isFinite(n) && n >= WATCH_SECONDS.min && n <= WATCH_SECONDS.max ? n : null;
}

/** One way of getting a report: from a URL, or from a cluster's store. */
interface ReportSource {
  read(): Promise<StatusReport>;
  close(): Promise<void>;
}

function urlSource(url: string): ReportSource {
  return {
    read: async () => {
      // A person waits for this one: a little more time than for each speaker of a cluster.
      const a = await fetchStatus(url, 3 * STATUS_TIMEOUT_MS);
      if (a.ok) return a.report;
      const message =
        a.why === 'bad-answer'
          ? `${url} answered ${a.detail}; point --url at a speaker's or \`switchyard run\`'s metrics address`
          : `nothing answers at ${url} (${a.detail}): is \`switchyard run\` or a speaker running? Point --url at its --metrics-address, or use --redis-url for a cluster`;
      throw new UserError([problem('--url', url, message, 'status.unreachable')], 1);
    },
    close: async () => {},
  };
}

function storeSource(store: Store): ReportSource {
  return { read: () => readClusterStatus(store), close: () => store.close() };
}

function render(report: StatusReport, output: StatusArgs['output']): string {
  return output === 'json' ? formatStatusJson(report) : formatStatusTable(report);
}

/** Resolves after `ms`, or at once on Ctrl-C (then `stopped()` is true). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

/** Redraw every `seconds` until Ctrl-C; a failed read is shown in place and tried again. */
async function watch(source: ReportSource, seconds: number, output: StatusArgs['output']): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    while (!stop.signal.aborted) {
      let text: string;
      try {
        text = render(await source.read(), output);
      } catch (err) {
        text = `error: ${err instanceof Error ? err.message : String(err)}\n`;
      }
      if (stop.signal.aborted) break;
      const head = `Every ${seconds}s: switchyard status    ${new Date().toISOString()}    (Ctrl-C to stop)\n\n`;
      // Clear the screen and home the cursor, then draw the whole frame in one write.
      process.stdout.write(`\x1b[2J\x1b[H${head}${text}`);
      await pause(seconds * 1000, stop.signal);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The `status` subcommand. */
export const statusCommand: CommandModule<object, StatusArgs> = {
  command: 'status',
  describe: 'Show listeners (owner, backend health, connections, bytes), pools and speakers',
  builder: (y) =>
    y
      .option('url', {
        type: 'string',
        describe: `A speaker's or \`switchyard run\`'s metrics address to ask for GET /status (default ${DEFAULT_STATUS_URL})`,
      })
      .options(REDIS_CLI_OPTIONS)
      .option('output', {
        alias: 'o',
        choices: ['table', 'json'] as const,
        default: 'table' as const,
        describe: 'table for people; json: the report as GET /status serves it (docs/operations.md)',
      })
      .option('watch', {
        alias: 'w',
        type: 'string',
        describe: `Redraw every N seconds (default ${WATCH_SECONDS.default}) until Ctrl-C`,
      }) as never,
  handler: async (args) => {
    const seconds = watchSeconds(args.watch);
    if (seconds === null)
      throw new UserError([
        problem(
          '--watch',
          String(args.watch),
          `must be a number of seconds from ${WATCH_SECONDS.min} to ${WATCH_SECONDS.max}`,
        ),
      ]);
    const cluster = args.redisUrl !== undefined || args.redisSentinels !== undefined;
    if (cluster && args.url !== undefined)
      throw new UserError([
        problem(
          '--url',
          args.url,
          'give --url (one speaker or `switchyard run`) or --redis-url (a cluster), not both',
        ),
      ]);
    let source: ReportSource;
    if (cluster) {
      // Imported here: only a cluster read needs Redis (ioredis, the table codec, pino), so a
      // `--url` read starts without them.
      const [{ openRedisStore }, { silentLogger }] = await Promise.all([
        import('../shared/store/open-store.ts'),
        import('../shared/log.ts'),
      ]);
      source = storeSource(await openRedisStore(args, silentLogger()));
    } else {
      const url = statusUrlOf(args.url ?? DEFAULT_STATUS_URL);
      if (url === null)
        throw new UserError([
          problem('--url', String(args.url), 'must be an http:// URL such as http://127.0.0.1:9470'),
        ]);
      source = urlSource(url);
    }
    try {
      if (seconds === undefined) process.stdout.write(render(await source.read(), args.output));
      else await watch(source, seconds, args.output);
    } finally {
      await source.close();
    }
  },
};
