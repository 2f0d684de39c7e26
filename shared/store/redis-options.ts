/**
 * Turns the command line's Redis flags into ioredis options, once, at the boundary. The password
 * comes only from a file or an environment variable, never from a flag or a URL, and no message or
 * log line built here ever contains it: URLs are redacted before they are shown.
 */

import { readFileSync } from 'node:fs';
import type { RedisOptions } from 'ioredis';
import { type Problem, problemOf, type Result } from '../errors.ts';
import type { CodeIn } from '../problems.ts';
import { DEFAULT_KEY_PREFIX } from './store.ts';
import { isValidKeyPrefix } from './store-keys.ts';

/** Environment variable read for the Redis password when no password file is given. */
export const PASSWORD_ENV = 'SWITCHYARD_REDIS_PASSWORD';
/** Environment variable read for the Sentinel password when no Sentinel password file is given. */
export const SENTINEL_PASSWORD_ENV = 'SWITCHYARD_REDIS_SENTINEL_PASSWORD';

/** Default client-side timeout of one command; a hung Redis must not hang the control loops. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 3000;
/** Reconnect backoff: starts at BASE, doubles, capped at MAX, plus up to JITTER. */
const RECONNECT_BASE_MS = 100;
const RECONNECT_MAX_MS = 2000;
const RECONNECT_JITTER_MS = 100;

/** The Redis flags as parsed by yargs (camel-cased); every field optional. */
export interface RedisFlags {
  /** `redis://[user@]host[:port][/db]` or `rediss://…` for TLS. */
  readonly redisUrl?: string | undefined;
  /** Sentinels as `host:port,host:port`; selects Sentinel mode. */
  readonly redisSentinels?: string | undefined;
  /** Master name the Sentinels watch. */
  readonly redisSentinelMaster?: string | undefined;
  /** ACL user name (Redis 6+); the password is read from the file or the environment. */
  readonly redisUsername?: string | undefined;
  /** File holding the password (a Kubernetes Secret mounted as a file). */
  readonly redisPasswordFile?: string | undefined;
  /** File holding the Sentinels' own password. */
  readonly redisSentinelPasswordFile?: string | undefined;
  /** Use TLS to the master and the Sentinels in Sentinel mode (`rediss://` does it for a URL). */
  readonly redisTls?: boolean | undefined;
  /** CA bundle for TLS, PEM. */
  readonly redisTlsCaFile?: string | undefined;
  readonly redisDb?: number | undefined;
  readonly redisKeyPrefix?: string | undefined;
  readonly redisCommandTimeoutMs?: number | undefined;
}

/** Everything needed to open the Redis store. */
export interface RedisConnection {
  readonly options: RedisOptions;
  readonly keyPrefix: string;
  /** Where it points, with no secret in it: safe for logs and messages. */
  readonly target: string;
}

/** What the connection factory reads from the outside world; tests replace it. */
export interface RedisOptionsEnv {
  readonly env: Readonly<Record<string, string | undefined>>;
  readFile(path: string): string;
}

const REAL_ENV: RedisOptionsEnv = { env: process.env, readFile: (p) => readFileSync(p, 'utf8') };

/** yargs option definitions for the Redis flags, for the binaries to spread into their commands. */
export const REDIS_CLI_OPTIONS = {
  'redis-url': {
    type: 'string',
    describe: 'Redis URL, redis://host:6379/0 or rediss:// for TLS (no password in it)',
  },
  'redis-sentinels': { type: 'string', describe: 'Sentinel mode: host:port,host:port' },
  'redis-sentinel-master': { type: 'string', describe: 'Master name the Sentinels watch' },
  'redis-username': { type: 'string', describe: 'Redis ACL user name' },
  'redis-password-file': {
    type: 'string',
    describe: `File holding the Redis password (else $${PASSWORD_ENV})`,
  },
  'redis-sentinel-password-file': {
    type: 'string',
    describe: `File holding the Sentinel password (else $${SENTINEL_PASSWORD_ENV})`,
  },
  'redis-tls': { type: 'boolean', describe: 'TLS in Sentinel mode' },
  'redis-tls-ca-file': { type: 'string', describe: 'CA bundle (PEM) to verify the Redis server' },
  'redis-db': { type: 'number', describe: 'Database index (default 0)' },
  'redis-key-prefix': { type: 'string', default: DEFAULT_KEY_PREFIX, describe: 'Prefix of every key' },
  'redis-command-timeout-ms': {
    type: 'number',
    default: DEFAULT_COMMAND_TIMEOUT_MS,
    describe: 'Client-side timeout of one Redis command',
  },
} as const;

/** Replace any password in URLs inside `text` (`scheme://user:secret@` → `scheme://user:***@`). */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*):[^\s/]*@/gi, '$1:***@');
}

function problem(field: string, value: unknown, code: CodeIn<'redis'>, message: string): Problem {
  return problemOf(`redis.${code}`, 'Redis connection', field, value, message);
}

/** Read a secret from a file or an env var; the value never enters a problem. */
function readSecret(
  file: string | undefined,
  envName: string,
  fileFlag: string,
  io: RedisOptionsEnv,
  problems: Problem[],
): string | undefined {
  const fromEnv = io.env[envName];
  if (file !== undefined && fromEnv !== undefined && fromEnv !== '') {
    problems.push(
      problem(fileFlag, file, 'ambiguous-password', `both --${fileFlag} and $${envName} are set; keep one`),
    );
    return undefined;
  }
  if (file !== undefined) {
    let text: string;
    try {
      text = io.readFile(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      problems.push(
        problem(fileFlag, file, 'password-file', `cannot read the file (${code}); check the path and mount`),
      );
      return undefined;
    }
    // Secrets mounted from files usually end in a newline that is not part of the password.
    const secret = text.replace(/\r?\n$/, '');
    if (secret === '') {
      problems.push(problem(fileFlag, file, 'password-file', 'the file is empty; put the password in it'));
      return undefined;
    }
    return secret;
  }
  return fromEnv === '' ? undefined : fromEnv;
}

function parseHostPort(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1] ?? m[2]!, port };
}

/** Exponential reconnect delay, capped, with jitter so speakers do not reconnect in lockstep. */
export function reconnectDelayMs(attempt: number): number {
  const base = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempt, 10));
  return base + Math.floor(Math.random() * RECONNECT_JITTER_MS);
}

/**
 * The options of a connection whose writes must never be replayed: the controller's. ioredis queues
 * commands issued while it reconnects (the offline queue) and resends those in flight when the
 * connection dropped (`autoResendUnfulfilledCommands`); either can land a write long after its
 * caller gave up, under whoever leads by then. Without both, a command issued while disconnected
 * fails at once and one in flight on a dropped connection is never resent (its caller's command
 * timeout rejects it). Speakers keep the defaults: their lease writes are fenced by tokens instead.
 */
export function withoutReplay(options: RedisOptions): RedisOptions {
  return { ...options, enableOfflineQueue: false, autoResendUnfulfilledCommands: false };
}

/**
 * Validate the flags and build ioredis options. Exactly one of `--redis-url` and
 * `--redis-sentinels` selects the mode; every problem names the flag and the fix.
 */
export function redisConnectionFrom(
  flags: RedisFlags,
  io: RedisOptionsEnv = REAL_ENV,
): Result<RedisConnection> {
  const problems: Problem[] = [];
  const prefix = flags.redisKeyPrefix ?? DEFAULT_KEY_PREFIX;
  if (!isValidKeyPrefix(prefix)) {
    problems.push(
      problem(
        'redis-key-prefix',
        prefix,
        'invalid-prefix',
        'use 1-64 letters, digits or _ . : - such as "switchyard:"',
      ),
    );
  }
  const timeout = flags.redisCommandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  if (!Number.isInteger(timeout) || timeout < 100) {
    problems.push(
      problem('redis-command-timeout-ms', timeout, 'invalid-timeout', 'must be an integer >= 100'),
    );
  }
  const db = flags.redisDb;
  if (db !== undefined && (!Number.isInteger(db) || db < 0)) {
    problems.push(problem('redis-db', db, 'invalid-db', 'must be an integer >= 0'));
  }
  const password = readSecret(flags.redisPasswordFile, PASSWORD_ENV, 'redis-password-file', io, problems);
  let ca: string | undefined;
  if (flags.redisTlsCaFile !== undefined) {
    try {
      ca = io.readFile(flags.redisTlsCaFile);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      problems.push(
        problem('redis-tls-ca-file', flags.redisTlsCaFile, 'ca-file', `cannot read the file (${code})`),
      );
    }
  }

  const common: RedisOptions = {
    lazyConnect: true,
    commandTimeout: timeout,
    retryStrategy: reconnectDelayMs,
    // Commands wait for a reconnect rather than failing in a burst; the command timeout bounds them.
    maxRetriesPerRequest: null,
    connectTimeout: 5000,
    connectionName: 'switchyard',
    ...(flags.redisUsername !== undefined ? { username: flags.redisUsername } : {}),
    ...(password !== undefined ? { password } : {}),
  };

  const hasUrl = flags.redisUrl !== undefined && flags.redisUrl !== '';
  const hasSentinels = flags.redisSentinels !== undefined && flags.redisSentinels !== '';
  if (hasUrl === hasSentinels) {
    problems.push(
      problem(
        hasUrl ? 'redis-sentinels' : 'redis-url',
        hasUrl ? flags.redisSentinels : '',
        'mode',
        'give exactly one of --redis-url (standalone) and --redis-sentinels (Sentinel)',
      ),
    );
    return { ok: false, problems };
  }

  if (hasUrl) {
    const raw = flags.redisUrl!;
    const shown = redactUrl(raw);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      problems.push(
        problem(
          'redis-url',
          shown,
          'invalid-url',
          'must look like redis://host:6379/0 or rediss://host:6380',
        ),
      );
      return { ok: false, problems };
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      problems.push(
        problem('redis-url', shown, 'invalid-url', 'the scheme must be redis:// or rediss:// (TLS)'),
      );
    }
    if (url.password !== '') {
      problems.push(
        problem(
          'redis-url',
          shown,
          'password-in-url',
          `remove the password from the URL; put it in --redis-password-file or $${PASSWORD_ENV}`,
        ),
      );
    }
    if (url.search !== '' || url.hash !== '') {
      problems.push(
        problem('redis-url', shown, 'invalid-url', 'query parameters are not supported; use the flags'),
      );
    }
    let urlDb: number | undefined;
    const path = url.pathname.replace(/^\//, '');
    if (path !== '') {
      if (!/^\d+$/.test(path))
        problems.push(problem('redis-url', shown, 'invalid-db', 'the path must be a database number'));
      else urlDb = Number(path);
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === '')
      problems.push(problem('redis-url', shown, 'invalid-url', 'name a host, e.g. redis://redis:6379'));
    if (problems.length > 0) return { ok: false, problems };
    const tls = url.protocol === 'rediss:';
    const port = url.port === '' ? 6379 : Number(url.port);
    const username = url.username !== '' ? decodeURIComponent(url.username) : flags.redisUsername;
    const options: RedisOptions = {
      ...common,
      host,
      port,
      db: db ?? urlDb ?? 0,
      ...(username !== undefined ? { username } : {}),
      ...(tls ? { tls: ca !== undefined ? { ca, servername: host } : { servername: host } } : {}),
    };
    const shownHost = host.includes(':') ? `[${host}]` : host;
    return {
      ok: true,
      value: { options, keyPrefix: prefix, target: `${url.protocol}//${shownHost}:${port}/${options.db}` },
    };
  }

  const sentinels: { host: string; port: number }[] = [];
  for (const part of flags.redisSentinels!.split(',')) {
    if (part.trim() === '') continue;
    const hp = parseHostPort(part);
    if (hp) sentinels.push(hp);
    else
      problems.push(
        problem(
          'redis-sentinels',
          part,
          'invalid-sentinel',
          'each Sentinel must be host:port, e.g. redis-sentinel:26379',
        ),
      );
  }
  if (sentinels.length === 0 && problems.length === 0) {
    problems.push(
      problem('redis-sentinels', flags.redisSentinels, 'invalid-sentinel', 'list at least one host:port'),
    );
  }
  const name = flags.redisSentinelMaster;
  if (name === undefined || name === '') {
    problems.push(
      problem(
        'redis-sentinel-master',
        name,
        'missing-master',
        'name the master the Sentinels watch, e.g. mymaster',
      ),
    );
  }
  const sentinelPassword = readSecret(
    flags.redisSentinelPasswordFile,
    SENTINEL_PASSWORD_ENV,
    'redis-sentinel-password-file',
    io,
    problems,
  );
  if (problems.length > 0) return { ok: false, problems };
  const tls = flags.redisTls === true;
  const options: RedisOptions = {
    ...common,
    sentinels,
    name: name!,
    db: db ?? 0,
    sentinelRetryStrategy: reconnectDelayMs,
    ...(sentinelPassword !== undefined ? { sentinelPassword } : {}),
    ...(tls
      ? {
          tls: ca !== undefined ? { ca } : {},
          enableTLSForSentinelMode: true,
          sentinelTLS: ca !== undefined ? { ca } : {},
        }
      : {}),
  };
  const list = sentinels.map((s) => (s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`));
  return {
    ok: true,
    value: {
      options,
      keyPrefix: prefix,
      target: `sentinel master ${name} via ${list.join(',')}${tls ? ' (TLS)' : ''}`,
    },
  };
}
