import { type Logger, pino } from 'pino';

/** Log output format: NDJSON for machines (default) or colourised lines for people. */
export type LogFormat = 'json' | 'pretty';

export type { Logger };

/**
 * The process logger. Keys are stable (`event`, `service`, `vip`, `node`, `reason`, `err`);
 * nothing is logged per connection or per chunk at `info`.
 */
export function createLogger(opts: { level?: string; format?: LogFormat; name?: string } = {}): Logger {
  const base = { level: opts.level ?? 'info', name: opts.name ?? 'switchyard' };
  if (opts.format === 'pretty') {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, destination: 1 } },
    });
  }
  return pino(base);
}

/** A logger that discards everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
