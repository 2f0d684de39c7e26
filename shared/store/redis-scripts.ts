/**
 * The Lua scripts that make the Redis store's multi-key changes atomic: committing a table (full or
 * delta) together with its version bump and announcement, and the VIP lease operations
 * (acquire if free, compare-and-extend, compare-and-delete) with their persistent epoch.
 * docs/store.md describes the keys they touch.
 */

import type { Redis } from 'ioredis';

/** A script and how many of its arguments are keys. */
export interface RedisScript {
  readonly numberOfKeys: number;
  readonly lua: string;
}

/**
 * Commit a full table: the staging hash becomes the table, the version is bumped and a full
 * announcement published. A missing version key means the store has no history (new or wiped), so a
 * new generation starts.
 * KEYS: staging, table, version, generation. ARGV: expected listener count, new generation, channel.
 * Returns {generation, version}.
 */
export const COMMIT_FULL_TABLE: RedisScript = {
  numberOfKeys: 4,
  lua: `
local n = redis.call('HLEN', KEYS[1])
if n ~= tonumber(ARGV[1]) then
  return redis.error_reply('SWITCHYARD staging table has ' .. n .. ' listeners, expected ' .. ARGV[1])
end
local gen = redis.call('GET', KEYS[4])
if (not gen) or redis.call('EXISTS', KEYS[3]) == 0 then
  gen = ARGV[2]
  redis.call('SET', KEYS[4], gen)
end
if n == 0 then
  redis.call('DEL', KEYS[2])
else
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('PERSIST', KEYS[2])
end
local v = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[3], '{"generation":"' .. gen .. '","version":' .. v .. ',"full":true}')
return {gen, v}
`,
};

/**
 * Apply a delta only if the table is still at the expected generation and version.
 * KEYS: table, version, generation. ARGV: expected generation, expected version, channel,
 * announcement, number of changed fields, then field/value pairs, then removed fields.
 * Returns 1 when applied, 0 when the base moved.
 */
export const COMMIT_DELTA_TABLE: RedisScript = {
  numberOfKeys: 3,
  lua: `
if redis.call('GET', KEYS[3]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return 0
end
local i = 6
for _ = 1, tonumber(ARGV[5]) do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
  i = i + 1
end
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`,
};

/**
 * Take a VIP lease if it is free (absent or expired: Redis dropped the key at its TTL). The epoch
 * counter lives in its own key without TTL so it survives expiry; every grant increments it, kept
 * above the caller's `minEpoch`. Presenting the current token again only extends (an idempotent retry).
 * KEYS: lease, epoch. ARGV: node, token, ttl ms, min epoch, wall-clock ms (informational).
 * Returns {1, epoch} granted, or {0, holder, epoch, remaining ms}.
 */
export const ACQUIRE_LEASE: RedisScript = {
  numberOfKeys: 2,
  lua: `
local holder = redis.call('HGET', KEYS[1], 'node')
if holder then
  local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch')) or 0
  if redis.call('HGET', KEYS[1], 'token') == ARGV[2] then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return {1, epoch}
  end
  return {0, holder, epoch, redis.call('PTTL', KEYS[1])}
end
local epoch = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[4]) or 0
if epoch <= floor then
  epoch = floor + 1
  redis.call('SET', KEYS[2], epoch)
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'token', ARGV[2], 'epoch', epoch, 'since', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, epoch}
`,
};

/**
 * Extend a lease only if the token still holds it.
 * KEYS: lease. ARGV: token, ttl ms. Returns {1, epoch} or {0, holder or false}.
 */
export const RENEW_LEASE: RedisScript = {
  numberOfKeys: 1,
  lua: `
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, tonumber(redis.call('HGET', KEYS[1], 'epoch')) or 0}
end
return {0, redis.call('HGET', KEYS[1], 'node')}
`,
};

/**
 * Delete a lease only if the token still holds it.
 * KEYS: lease. ARGV: token. Returns 1 when deleted.
 */
export const RELEASE_LEASE: RedisScript = {
  numberOfKeys: 1,
  lua: `
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`,
};

const SCRIPTS = {
  syCommitFullTable: COMMIT_FULL_TABLE,
  syCommitDeltaTable: COMMIT_DELTA_TABLE,
  syAcquireLease: ACQUIRE_LEASE,
  syRenewLease: RENEW_LEASE,
  syReleaseLease: RELEASE_LEASE,
} satisfies Record<string, RedisScript>;

/** Name of a script registered by `defineScripts`. */
export type ScriptName = keyof typeof SCRIPTS;

/** Runs a registered script: keys first, then arguments, as the script's comment lists them. */
export type ScriptRunner = (name: ScriptName, args: readonly (string | number)[]) => Promise<unknown>;

/** Register every script on `client` (EVALSHA, falling back to EVAL once) and return their runner. */
export function defineScripts(client: Redis): ScriptRunner {
  for (const [name, script] of Object.entries(SCRIPTS)) client.defineCommand(name, script);
  // defineCommand adds methods ioredis cannot type; the names are the keys of SCRIPTS.
  const methods = client as unknown as Record<ScriptName, (...a: (string | number)[]) => Promise<unknown>>;
  return (name, args) => methods[name].apply(client, [...args]);
}
