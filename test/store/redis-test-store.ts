/** Opening `RedisStore` clients on a test server, each test under its own key prefix. */

import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import type { Logger } from '../../shared/log.ts';
import { redisConnectionFrom } from '../../shared/store/redis-options.ts';
import { RedisStore } from '../../shared/store/redis-store.ts';
import { startRedis, type TestRedis } from '../harness/redis.ts';

let counter = 0;

/** A key prefix no other test in this process uses. */
export function uniquePrefix(): string {
  return `t${process.pid}-${++counter}:`;
}

/** A store client on `server` under `prefix`, through the real option factory. */
export function openRedisStore(server: TestRedis, prefix: string, logger?: Logger): RedisStore {
  const conn = redisConnectionFrom(
    { redisUrl: server.url, redisKeyPrefix: prefix },
    { env: {}, readFile: () => '' },
  );
  if (!conn.ok) throw new Error(JSON.stringify(conn.problems));
  return new RedisStore(conn.value, logger ? { logger } : {});
}

/** A plain ioredis client for writing behind the store's back. */
export function rawClient(server: TestRedis): Redis {
  return new Redis({ host: server.host, port: server.port, retryStrategy: () => 50 });
}

/** A suite's Redis: the server, a raw client, and store clients closed with it. */
export interface RedisRig {
  readonly redis: TestRedis;
  readonly raw: Redis;
  /** A store client under `prefix`, closed after the suite. */
  open(prefix: string): RedisStore;
}

/**
 * Start a real redis-server before the calling suite and stop it after, with a raw client and
 * tracked store clients. Call it in a `describe` body; the fields are set once `before` has run.
 */
export function useRedisRig(): RedisRig {
  const stores: RedisStore[] = [];
  let redis: TestRedis | undefined;
  let raw: Redis | undefined;
  before(async () => {
    redis = await startRedis();
    raw = rawClient(redis);
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    raw?.disconnect();
    await redis?.stop();
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the Redis rig is used before its suite started');
    return v;
  };
  return {
    get redis() {
      return started(redis);
    },
    get raw() {
      return started(raw);
    },
    open(prefix) {
      const s = openRedisStore(started(redis), prefix);
      stores.push(s);
      return s;
    },
  };
}
