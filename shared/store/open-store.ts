/**
 * Opening the Redis store at a binary's start: flags validated, the server asked once, and a clear
 * one-line error (exit 1) when it does not answer, instead of a process that hangs reconnecting.
 */
import { UserError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type RedisFlags, redactUrl, redisConnectionFrom } from './redis-options.ts';
import { RedisStore } from './redis-store.ts';

/** How long the first contact with Redis may take before the binary gives up. */
export const FIRST_CONTACT_MS = 5000;

/** How a binary opens its store. */
export interface OpenStoreOptions {
  /** How long the first contact with Redis may take; `FIRST_CONTACT_MS` by default. */
  readonly firstContactMs?: number;
  /** No offline queue and no resend after a reconnect (`RedisStoreOptions.noReplay`): the controller. */
  readonly noReplay?: boolean;
}

/** Connect to Redis as the flags say and prove it answers. */
export async function openRedisStore(
  flags: RedisFlags,
  logger: Logger,
  opts: OpenStoreOptions = {},
): Promise<RedisStore> {
  const firstContactMs = opts.firstContactMs ?? FIRST_CONTACT_MS;
  const conn = redisConnectionFrom(flags);
  if (!conn.ok) throw new UserError(conn.problems);
  const store = new RedisStore(conn.value, { logger, ...(opts.noReplay ? { noReplay: true } : {}) });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      // Without an offline queue a command sent before the connection is ready fails at once.
      store.whenReady().then(() => store.listSpeakers()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${firstContactMs} ms`)), firstContactMs);
      }),
    ]);
  } catch (err) {
    await store.close().catch(() => {});
    const why = redactUrl(err instanceof Error ? err.message : String(err));
    throw new UserError(
      [
        {
          code: 'store.unreachable',
          object: `Redis ${conn.value.target}`,
          field: flags.redisSentinels ? '--redis-sentinels' : '--redis-url',
          value: conn.value.target,
          message: `Redis does not answer (${why}); start it, or point --redis-url at a running Redis`,
        },
      ],
      1,
    );
  } finally {
    if (timer) clearTimeout(timer);
  }
  return store;
}
