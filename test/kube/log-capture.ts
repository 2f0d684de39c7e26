/**
 * A pino logger whose lines land in a Recorder, so a test can await a log event (a failure seen, a
 * recovery) instead of sleeping, and can count how often something was logged.
 */
import { pino } from 'pino';
import type { Logger } from '../../shared/log.ts';
import { Recorder } from './recorder.ts';

/** One parsed log line. */
export interface LogLine {
  readonly level: number;
  readonly event?: string;
  readonly resource?: string;
  readonly [key: string]: unknown;
}

/** A debug-level logger and the record of what it wrote. */
export function captureLogs(): { logger: Logger; lines: Recorder<LogLine> } {
  const lines = new Recorder<LogLine>();
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as LogLine) },
  );
  return { logger, lines };
}

/** pino's numeric level for warn. */
export const WARN = 40;
