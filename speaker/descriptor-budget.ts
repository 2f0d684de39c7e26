/**
 * How many client connections the speaker may hold before it runs out of file descriptors. Each
 * proxied connection takes two (client and backend); the rest of the process (the metrics server,
 * health checks, the store, ARP and nft helpers, worker threads' event loops) needs some too. The
 * default `--max-connections auto` caps clients below the descriptor limit, so a flood of clients
 * is refused as `speaker-limit` while /metrics, health checks and the store keep working, instead
 * of the whole process hitting EMFILE. (HAProxy derives its default maxconn from `ulimit -n` the
 * same way.)
 */
import { readdirSync } from 'node:fs';
import { UserError } from '../shared/errors.ts';
import { readOpenFileLimits } from '../shared/open-files.ts';

/** Descriptors kept back from client connections for everything else the speaker opens. */
export const RESERVED_DESCRIPTORS = 128;

/** What `--max-connections` asks for: `auto`, or a number (0: unlimited). */
export type MaxConnectionsFlag = 'auto' | number;

/** The speaker-wide connection cap the speaker runs with, and why. */
export interface ConnectionCap {
  /** Most open client connections per speaker; 0: unlimited. */
  readonly max: number;
  /** `descriptors`: derived from the descriptor limit; `flag`: as given; `unlimited`: no cap. */
  readonly source: 'descriptors' | 'flag' | 'unlimited';
  /** The soft RLIMIT_NOFILE, when known. */
  readonly descriptorLimit: number | null;
  /** Descriptors open when the cap was sized, when known. */
  readonly inUse: number | null;
  /** A reason to warn at start-up: an explicit cap the descriptor limit cannot hold. */
  readonly warning: string | null;
}

/** Parse `--max-connections`; null if it is neither `auto` nor a whole number >= 0. */
export function parseMaxConnections(raw: unknown): MaxConnectionsFlag | null {
  if (raw === 'auto') return 'auto';
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** This process's soft descriptor limit and the descriptors open now; nulls where /proc cannot tell. */
export function readDescriptorUse(): { limit: number | null; inUse: number | null } {
  let inUse: number | null = null;
  try {
    inUse = readdirSync('/proc/self/fd').length;
  } catch {
    // Not Linux, or /proc not mounted.
  }
  return { limit: readOpenFileLimits().soft, inUse };
}

/**
 * The cap for `flag` given the descriptor `limit`, the descriptors already `inUse` and the other
 * sockets still to come (listeners, health probes). `auto` with too few descriptors to hold even one connection is a
 * start-up error (a null `max`, with the problem), since that speaker could forward nothing.
 */
export function connectionCap(
  flag: MaxConnectionsFlag,
  limit: number | null,
  inUse: number | null,
  otherSockets = 0,
): ConnectionCap | { readonly max: null; readonly problem: string } {
  const spare = limit === null ? null : limit - (inUse ?? 0) - otherSockets - RESERVED_DESCRIPTORS;
  const fits = spare === null ? null : Math.floor(spare / 2);
  if (flag === 'auto') {
    if (limit === null || fits === null) {
      return { max: 0, source: 'unlimited', descriptorLimit: null, inUse, warning: null };
    }
    if (fits < 1) {
      return {
        max: null,
        problem: `the descriptor limit (${limit}, ${inUse ?? 0} in use) leaves no room for client connections after ${RESERVED_DESCRIPTORS} reserved; raise it (ulimit -n, LimitNOFILE=) or set --max-connections`,
      };
    }
    return { max: fits, source: 'descriptors', descriptorLimit: limit, inUse, warning: null };
  }
  const over = fits !== null && (flag === 0 || flag > fits);
  const warning = over
    ? `the descriptor limit (${limit}) holds about ${Math.max(fits, 0)} connections with ${RESERVED_DESCRIPTORS} descriptors reserved; past that, clients are refused as local-resources and /metrics may not answer`
    : null;
  return { max: flag, source: flag === 0 ? 'unlimited' : 'flag', descriptorLimit: limit, inUse, warning };
}

/**
 * What the speaker is given as its cap: a cap derived from descriptors is sized again for the other
 * sockets of every table (listeners, health probes; each holds a descriptor too), down to 1 when
 * they take it all; any other cap is a fixed number.
 */
export function speakerCap(cap: ConnectionCap): number | ((otherSockets: number) => number) {
  if (cap.source !== 'descriptors') return cap.max;
  return (sockets) => Math.max(1, connectionCap('auto', cap.descriptorLimit, cap.inUse, sockets).max ?? 1);
}

/**
 * The cap a starting speaker runs with for the raw `--max-connections` value, from this process's
 * descriptors now. Throws a UserError (exit 2, one line) for a bad value or a limit too low to forward.
 */
export function startupConnectionCap(raw: unknown, command: string): ConnectionCap {
  const problem = (message: string) =>
    new UserError([
      { code: 'flag.invalid', object: command, field: '--max-connections', value: String(raw), message },
    ]);
  const flag = parseMaxConnections(raw);
  if (flag === null) throw problem('must be "auto" or an integer >= 0 (0: unlimited)');
  const { limit, inUse } = readDescriptorUse();
  const cap = connectionCap(flag, limit, inUse);
  if (cap.max === null) throw problem(cap.problem);
  return cap;
}
