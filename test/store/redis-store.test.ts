import { Redis } from 'ioredis';
import { redisConnectionFrom } from '../../shared/store/redis-options.ts';
import { RedisStore } from '../../shared/store/redis-store.ts';
import type { Store } from '../../shared/store/store.ts';
import { storeKeys } from '../../shared/store/store-keys.ts';
import { startRedis, type TestRedis } from '../harness/redis.ts';
import { continuityContract } from './continuity-contract.ts';
import { type StoreFixture, type StoreNamespace, storeContract } from './store-contract.ts';
import { termContract } from './term-contract.ts';

let redis: TestRedis | undefined;
let raw: Redis | undefined;
let n = 0;

/** A store client on the test server under `prefix`. */
function openStore(server: TestRedis, prefix: string): RedisStore {
  const conn = redisConnectionFrom(
    { redisUrl: server.url, redisKeyPrefix: prefix },
    { env: {}, readFile: () => '' },
  );
  if (!conn.ok) throw new Error(JSON.stringify(conn.problems));
  return new RedisStore(conn.value);
}

const fixture: StoreFixture = {
  name: 'redis',
  setup: async () => {
    redis = await startRedis();
    raw = new Redis({ host: redis.host, port: redis.port });
  },
  teardown: async () => {
    raw?.disconnect();
    await redis?.stop();
  },
  namespace: async (): Promise<StoreNamespace> => {
    const server = redis!;
    const prefix = `t${++n}:`;
    const keys = storeKeys(prefix);
    const clients: Store[] = [];
    return {
      client() {
        const s = openStore(server, prefix);
        clients.push(s);
        return s;
      },
      writeRawListener: async (key, text) => {
        await raw!.hset(keys.table, key, text);
      },
      deleteLeaseKey: async (vip) => {
        await raw!.del(keys.lease(vip));
      },
      leaseKeyExists: async (vip) => (await raw!.exists(keys.lease(vip))) === 1,
      bumpVersion: async (by) => {
        await raw!.incrby(keys.tableVersion, by);
      },
      announceRaw: async (text) => {
        await raw!.publish(keys.tableChannel, text);
      },
      head: async () => ({
        generation: (await raw!.get(keys.tableGeneration)) ?? '',
        version: Number(await raw!.get(keys.tableVersion)),
        term: Number((await raw!.get(keys.tableTerm)) ?? 0),
      }),
      closeAll: async () => {
        await Promise.all(clients.map((c) => c.close()));
      },
    };
  },
};

storeContract(fixture);
continuityContract(fixture);
termContract(fixture);
