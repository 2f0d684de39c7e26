/**
 * The Lua scripts that make the Redis store's multi-key changes atomic: committing a table (full or
 * delta) together with its version bump and announcement, fenced by the controller's term (as are
 * the node-state and pool-status writes), the VIP lease operations
 * (acquire if free, compare-and-extend, compare-and-delete) with their persistent epoch and guard
 * copy, and reading the store's incarnation.
 * docs/store.md describes the keys they touch.
 */

import type { Redis } from 'ioredis';
import { StaleTermError } from './store.ts';

/** A script and how many of its arguments are keys. */
export interface RedisScript {
  readonly numberOfKeys: number;
  readonly lua: string;
}

/** The first words of the error reply of a write refused for its term; then the term and the store's. */
export const STALE_TERM_REPLY = 'SWITCHYARD stale-term';

/**
 * Shared head of the controller's write scripts: `refuseStale` answers the stale-term error reply
 * when the caller's term is below the highest one the store accepted (nil otherwise), and is checked
 * before anything is written; `raiseTerm` records a higher term, after every other check passed.
 */
const TERM_PRELUDE = `
local function refuseStale(key, term)
  local stored = tonumber(redis.call('GET', key)) or 0
  if term < stored then
    return redis.error_reply('${STALE_TERM_REPLY} ' .. term .. ' ' .. stored)
  end
  return nil
end
local function raiseTerm(key, term)
  if term > (tonumber(redis.call('GET', key)) or 0) then
    redis.call('SET', key, term)
  end
end
`;

/**
 * Commit a full table: the staging hash becomes the table, the version is bumped and a full
 * announcement published, all only if the writer's term is not below the store's. A missing version
 * key means the store has no history (new or wiped), so a new generation starts. Within the
 * generation the writer last wrote, the version is kept at or above `min version`, so a store that
 * went back in time (a failover to a lagging replica, an old snapshot) does not hand out versions a
 * speaker already holds.
 * KEYS: staging, table, version, generation, table term, controller term.
 * ARGV: expected listener count, new generation, channel, term, min version, generation of min version.
 * Returns {generation, version}, or the stale-term error.
 */
export const COMMIT_FULL_TABLE: RedisScript = {
  numberOfKeys: 6,
  lua: `${TERM_PRELUDE}
local term = tonumber(ARGV[4]) or 0
local refused = refuseStale(KEYS[6], term)
if refused then
  return refused
end
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
local floor = tonumber(ARGV[5]) or 0
if gen == ARGV[6] and v < floor then
  v = floor
  redis.call('SET', KEYS[3], v)
end
redis.call('SET', KEYS[5], term)
raiseTerm(KEYS[6], term)
redis.call('PUBLISH', ARGV[3], '{"generation":"' .. gen .. '","version":' .. v .. ',"term":' .. term .. ',"full":true}')
return {gen, v}
`,
};

/**
 * Apply a delta only if the writer's term is not below the store's and the table is still at the
 * expected generation and version.
 * KEYS: table, version, generation, table term, controller term. ARGV: expected generation, expected
 * version, channel, announcement, number of changed fields, term, then field/value pairs, then
 * removed fields.
 * Returns 1 when applied, 0 when the base moved, or the stale-term error.
 */
export const COMMIT_DELTA_TABLE: RedisScript = {
  numberOfKeys: 5,
  lua: `${TERM_PRELUDE}
local term = tonumber(ARGV[6]) or 0
local refused = refuseStale(KEYS[5], term)
if refused then
  return refused
end
if redis.call('GET', KEYS[3]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return 0
end
local i = 7
for _ = 1, tonumber(ARGV[5]) do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
  i = i + 1
end
redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[4], term)
raiseTerm(KEYS[5], term)
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`,
};

/**
 * Replace one value the controller owns (node states, pool statuses) only if the writer's term is
 * not below the store's. KEYS: target, controller term. ARGV: value, term.
 * Returns 1, or the stale-term error.
 */
export const WRITE_FENCED: RedisScript = {
  numberOfKeys: 2,
  lua: `${TERM_PRELUDE}
local term = tonumber(ARGV[2]) or 0
local refused = refuseStale(KEYS[2], term)
if refused then
  return refused
end
redis.call('SET', KEYS[1], ARGV[1])
raiseTerm(KEYS[2], term)
return 1
`,
};

/**
 * Shared head of the lease scripts: `now` is Redis' own clock in ms (TIME; scripts replicate their
 * effects, so the call is allowed before writes), and `hold` writes a lease and its guard with one
 * expiry. The lease key ends at `until`; the guard keeps `until` and lives one TTL longer, so it is
 * the `until` field, never the guard key's own expiry, that ends its protection.
 */
const LEASE_PRELUDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function hold(lease, guard, node, token, epoch, since, ttl)
  local expires = now + ttl
  redis.call('HSET', lease, 'node', node, 'token', token, 'epoch', epoch, 'since', since)
  redis.call('PEXPIREAT', lease, expires)
  redis.call('HSET', guard, 'node', node, 'token', token, 'epoch', epoch, 'since', since, 'until', expires)
  redis.call('PEXPIREAT', guard, expires + ttl)
end
`;

/**
 * `incarnation(marker, fresh)` answers the store's incarnation, `<run_id>/<marker>`, creating the
 * marker key with the random `fresh` when it is missing. Both parts come from the same server at
 * the same moment.
 */
const INCARNATION_PRELUDE = `
local function incarnation(marker, fresh)
  redis.call('SET', marker, fresh, 'NX')
  local runId = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or ''
  return runId .. '/' .. redis.call('GET', marker)
end
`;

/**
 * Take a VIP lease if it is free. Free means no lease key (Redis dropped it at its TTL) and no guard
 * naming another token with an `until` still ahead: a lease key deleted under a live holder is
 * refused like a held one, and the holder's own token restores it from the guard. The epoch counter
 * lives in its own key without TTL so it survives expiry; every grant increments it, kept above the
 * caller's `minEpoch`. Presenting the current token again only extends (an idempotent retry). With
 * an expected incarnation, a store that is another incarnation (restarted, failed over, wiped since
 * the caller looked) writes nothing and answers its own.
 * KEYS: lease, epoch, guard, incarnation marker. ARGV: node, token, ttl ms, min epoch, wall-clock ms
 * (informational), expected incarnation or '', a new random marker (for a store that has none).
 * Returns {1, epoch} granted, {0, holder, epoch, remaining ms} held, or {2, incarnation}.
 */
export const ACQUIRE_LEASE: RedisScript = {
  numberOfKeys: 4,
  lua: `${LEASE_PRELUDE}${INCARNATION_PRELUDE}
if ARGV[6] ~= '' then
  local current = incarnation(KEYS[4], ARGV[7])
  if current ~= ARGV[6] then
    return {2, current}
  end
end
local ttl = math.floor(tonumber(ARGV[3]))
local l = redis.call('HMGET', KEYS[1], 'node', 'token', 'epoch', 'since')
if l[1] then
  local epoch = tonumber(l[3]) or 0
  if l[2] == ARGV[2] then
    hold(KEYS[1], KEYS[3], l[1], l[2], epoch, l[4] or ARGV[5], ttl)
    return {1, epoch}
  end
  return {0, l[1], epoch, redis.call('PTTL', KEYS[1])}
end
local g = redis.call('HMGET', KEYS[3], 'node', 'token', 'epoch', 'since', 'until')
local gUntil = tonumber(g[5]) or 0
if g[1] and g[2] and gUntil > now then
  local epoch = tonumber(g[3]) or 0
  if g[2] == ARGV[2] then
    hold(KEYS[1], KEYS[3], g[1], g[2], epoch, g[4] or ARGV[5], ttl)
    return {1, epoch}
  end
  return {0, g[1], epoch, gUntil - now}
end
local epoch = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[4]) or 0
if epoch <= floor then
  epoch = floor + 1
  redis.call('SET', KEYS[2], epoch)
end
redis.call('DEL', KEYS[1], KEYS[3])
hold(KEYS[1], KEYS[3], ARGV[1], ARGV[2], epoch, ARGV[5], ttl)
return {1, epoch}
`,
};

/**
 * Extend a lease only if the token still holds it: by its lease key, or, when that key is gone, by a
 * guard naming the token whose `until` is still ahead, in which case the lease key is written again.
 * KEYS: lease, guard. ARGV: token, ttl ms. Returns {1, epoch} or {0, holder or false}.
 */
export const RENEW_LEASE: RedisScript = {
  numberOfKeys: 2,
  lua: `${LEASE_PRELUDE}
local ttl = math.floor(tonumber(ARGV[2]))
local held = redis.call('HMGET', KEYS[1], 'node', 'token', 'epoch', 'since')
if not held[1] then
  held = redis.call('HMGET', KEYS[2], 'node', 'token', 'epoch', 'since', 'until')
  if not (held[1] and held[2] and (tonumber(held[5]) or 0) > now) then
    return {0, false}
  end
end
if held[2] ~= ARGV[1] then
  return {0, held[1]}
end
local epoch = tonumber(held[3]) or 0
hold(KEYS[1], KEYS[2], held[1], held[2], epoch, held[4] or '', ttl)
return {1, epoch}
`,
};

/**
 * Delete a lease and its guard only if the token still holds it (by the lease key or, when that is
 * gone, by a guard whose `until` is ahead). A guard left by this token is deleted in any case.
 * KEYS: lease, guard. ARGV: token. Returns 1 when a held lease was deleted.
 */
export const RELEASE_LEASE: RedisScript = {
  numberOfKeys: 2,
  lua: `${LEASE_PRELUDE}
local l = redis.call('HMGET', KEYS[1], 'node', 'token')
if l[1] then
  if l[2] ~= ARGV[1] then
    return 0
  end
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
local g = redis.call('HMGET', KEYS[2], 'token', 'until')
if g[1] ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
if (tonumber(g[2]) or 0) > now then
  return 1
end
return 0
`,
};

/**
 * Read the store's incarnation (see INCARNATION_PRELUDE).
 * KEYS: marker. ARGV: a new random marker. Returns `<run_id>/<marker>`.
 */
export const READ_INCARNATION: RedisScript = {
  numberOfKeys: 1,
  lua: `${INCARNATION_PRELUDE}
return incarnation(KEYS[1], ARGV[1])
`,
};

const SCRIPTS = {
  syCommitFullTable: COMMIT_FULL_TABLE,
  syCommitDeltaTable: COMMIT_DELTA_TABLE,
  syWriteFenced: WRITE_FENCED,
  syAcquireLease: ACQUIRE_LEASE,
  syRenewLease: RENEW_LEASE,
  syReleaseLease: RELEASE_LEASE,
  syReadIncarnation: READ_INCARNATION,
} satisfies Record<string, RedisScript>;

/** Name of a script registered by `defineScripts`. */
export type ScriptName = keyof typeof SCRIPTS;

/** Runs a registered script: keys first, then arguments, as the script's comment lists them. */
export type ScriptRunner = (name: ScriptName, args: readonly (string | number)[]) => Promise<unknown>;

/** The `StaleTermError` an error reply stands for, or the error itself when it is another one. */
export function refusalOf(err: unknown): unknown {
  const message = err instanceof Error ? err.message : '';
  if (!message.startsWith(`${STALE_TERM_REPLY} `)) return err;
  const [term, stored] = message.slice(STALE_TERM_REPLY.length + 1).split(' ');
  return new StaleTermError(Number(term), Number(stored));
}

/**
 * Register every script on `client` (EVALSHA, falling back to EVAL once) and return their runner,
 * which rejects with a `StaleTermError` when a script refused the caller's term.
 */
export function defineScripts(client: Redis): ScriptRunner {
  for (const [name, script] of Object.entries(SCRIPTS)) client.defineCommand(name, script);
  // defineCommand adds methods ioredis cannot type; the names are the keys of SCRIPTS.
  const methods = client as unknown as Record<ScriptName, (...a: (string | number)[]) => Promise<unknown>>;
  return (name, args) =>
    methods[name].apply(client, [...args]).catch((err: unknown) => {
      throw refusalOf(err);
    });
}
