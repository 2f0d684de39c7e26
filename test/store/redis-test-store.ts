/** Opening `RedisStore` clients on a test server, each test under its own key prefix. */
import { Redis } from 'ioredis';
import type { Logger } from '../../shared/log.ts';
import { redisConnectionFrom } from '../../shared/store/redis-options.ts';
import { RedisStore } from '../../shared/store/redis-store.ts';
import type { TestRedis } from '../harness/redis.ts';

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
