/**
 * Parses the text wrk 4.x prints (with `--latency`). wrk has no machine-readable output, so the
 * parse is strict: a figure that cannot be found is an error rather than a zero.
 */

/** What one wrk run reports. Latencies are in microseconds. */
export interface WrkReport {
  /** Completed requests. */
  readonly requests: number;
  /** Wall time wrk ran, in seconds (shorter than `-d` when stopped by SIGINT). */
  readonly seconds: number;
  readonly requestsPerSecond: number;
  /** Latency percentiles in µs, from the `Latency Distribution` block; null without `--latency`. */
  readonly p50Us: number | null;
  readonly p75Us: number | null;
  readonly p90Us: number | null;
  readonly p99Us: number | null;
  /** Socket errors by kind; all zero when wrk printed no `Socket errors` line. */
  readonly errors: {
    readonly connect: number;
    readonly read: number;
    readonly write: number;
    readonly timeout: number;
  };
  /** Responses with a status outside 2xx/3xx. */
  readonly non2xx: number;
}

const TIME_UNIT_US: Record<string, number> = {
  us: 1,
  ms: 1000,
  s: 1_000_000,
  m: 60_000_000,
  h: 3_600_000_000,
};

/** Convert a wrk time such as `658.00us`, `2.23ms`, `1.10s` or `1.00m` to microseconds; null if not one. */
export function parseWrkTime(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * (TIME_UNIT_US[m[2]!] ?? Number.NaN);
}

function required(text: string, re: RegExp, what: string): RegExpExecArray {
  const m = re.exec(text);
  if (!m) throw new Error(`wrk output has no ${what} line:\n${text.slice(-2000)}`);
  return m;
}

function percentile(text: string, pct: number): number | null {
  const m = new RegExp(`^\\s+${pct}%\\s+(\\S+)\\s*$`, 'm').exec(text);
  return m ? parseWrkTime(m[1]!) : null;
}

/** Parse wrk's report. Throws when the summary lines are missing (wrk failed or was killed). */
export function parseWrkOutput(text: string): WrkReport {
  const total = required(text, /^\s*(\d+) requests in (\S+?),/m, '"N requests in T"');
  const seconds = parseWrkTime(total[2]!);
  if (seconds === null) throw new Error(`wrk run time "${total[2]}" is not a duration`);
  const rps = required(text, /^Requests\/sec:\s+(\d+(?:\.\d+)?)\s*$/m, '"Requests/sec"');
  const sock = /^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)\s*$/m.exec(text);
  const non2xx = /^\s*Non-2xx or 3xx responses: (\d+)\s*$/m.exec(text);
  return {
    requests: Number(total[1]),
    seconds: seconds / 1_000_000,
    requestsPerSecond: Number(rps[1]),
    p50Us: percentile(text, 50),
    p75Us: percentile(text, 75),
    p90Us: percentile(text, 90),
    p99Us: percentile(text, 99),
    errors: {
      connect: Number(sock?.[1] ?? 0),
      read: Number(sock?.[2] ?? 0),
      write: Number(sock?.[3] ?? 0),
      timeout: Number(sock?.[4] ?? 0),
    },
    non2xx: Number(non2xx?.[1] ?? 0),
  };
}

/** All socket errors plus bad responses: anything that is not a clean completed request. */
export function wrkErrorCount(r: WrkReport): number {
  return r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout + r.non2xx;
}
