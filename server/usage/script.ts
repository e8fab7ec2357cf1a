import { createHash } from 'node:crypto';

/**
 * Usage shared through Redis: replicas add their counts into one hash per period, and the one
 * replica holding the flush lock moves closed periods into a pending flush record (with its
 * `flush_id`), appends it to the sheet, then clears it. Moving and clearing are atomic scripts, so
 * a holder that dies mid-append leaves the record whole for the next holder to resend with the
 * same `flush_id`: the sheet may get it twice, and readers count each (flush_id, key_id) once.
 *
 * Layout (prefix P, "cg:usage:v1:"): P.."periods" a sorted set of period starts (ms) with counts;
 * P.."period:"..start a hash of fields "r:", "l:", "p:", "c:" (requests, rate_limited,
 * prompt_tokens, completion_tokens) and "n:" (client_name) followed by the key id.
 * A single Redis, not a Cluster: the seal script names period hashes it finds in the sorted set.
 */
export const USAGE_PUSH_LUA = `
-- KEYS[1]  sorted set of period starts holding counts
-- KEYS[2]  this push's marker: a replica that retries a push it may have landed adds nothing
-- ARGV[1]  marker lifetime in ms (longer than any retry of the same push)
-- ARGV[2]  prefix of the period hashes
-- ARGV[3..] groups of 7: period_start, key_id, client_name, requests, rate_limited, prompt, completion
-- Returns 1 when added, 0 when this push was already added.
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', tonumber(ARGV[1])) then return 0 end
for i = 3, #ARGV, 7 do
  local period, key = ARGV[i], ARGV[i + 1]
  local hash = ARGV[2] .. period
  redis.call('HSET', hash, 'n:' .. key, ARGV[i + 2])
  redis.call('HINCRBY', hash, 'r:' .. key, tonumber(ARGV[i + 3]))
  redis.call('HINCRBY', hash, 'l:' .. key, tonumber(ARGV[i + 4]))
  redis.call('HINCRBY', hash, 'p:' .. key, tonumber(ARGV[i + 5]))
  redis.call('HINCRBY', hash, 'c:' .. key, tonumber(ARGV[i + 6]))
  redis.call('ZADD', KEYS[1], tonumber(period), period)
end
return 1
`;

export const USAGE_SEAL_LUA = `
-- KEYS[1]  the flush lock (value: its holder's id)
-- KEYS[2]  the pending flush record: a hash with flush_id, sealed_at, instance, data
-- KEYS[3]  sorted set of period starts holding counts
-- ARGV[1]  caller's holder id
-- ARGV[2]  flush_id for a new record
-- ARGV[3]  seal periods starting before this (ms); "inf" seals all
-- ARGV[4]  sealed_at (ISO), ARGV[5] instance, ARGV[6] prefix of the period hashes
-- Returns {status, flush_id, sealed_at, instance, data}; status: not_holder, pending, sealed, empty.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'not_holder'} end
-- A record left by a holder that failed or died is resent as it is, before anything new.
if redis.call('EXISTS', KEYS[2]) == 1 then
  local r = redis.call('HMGET', KEYS[2], 'flush_id', 'sealed_at', 'instance', 'data')
  return {'pending', r[1], r[2], r[3], r[4]}
end
local bound = '(' .. ARGV[3]
if ARGV[3] == 'inf' then bound = '+inf' end
local periods = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', bound)
if #periods == 0 then return {'empty'} end
-- data: a flat list, period start then the period hash's fields and values, per period.
local data = {}
for _, period in ipairs(periods) do
  local hash = ARGV[6] .. period
  table.insert(data, {period, redis.call('HGETALL', hash)})
  redis.call('DEL', hash)
  redis.call('ZREM', KEYS[3], period)
end
local encoded = cjson.encode(data)
redis.call('HSET', KEYS[2], 'flush_id', ARGV[2], 'sealed_at', ARGV[4], 'instance', ARGV[5], 'data', encoded)
return {'sealed', ARGV[2], ARGV[4], ARGV[5], encoded}
`;

export const USAGE_CLEAR_LUA = `
-- KEYS[1]  the pending flush record
-- ARGV[1]  the flush_id just written: only that record is cleared (never a newer one)
-- Returns 1 when cleared.
if redis.call('HGET', KEYS[1], 'flush_id') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

export const USAGE_LOCK_LUA = `
-- KEYS[1]  the flush lock
-- ARGV[1]  caller's holder id, ARGV[2] lease in ms
-- Takes the lock when free, renews it when the caller holds it. Returns 1 when the caller holds it.
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0
`;

export const USAGE_UNLOCK_LUA = `
-- KEYS[1]  the flush lock; ARGV[1] caller's holder id. Frees it only when the caller holds it.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const sha = (lua: string): string => createHash('sha1').update(lua).digest('hex');
export const USAGE_PUSH_SHA = sha(USAGE_PUSH_LUA);
export const USAGE_SEAL_SHA = sha(USAGE_SEAL_LUA);
export const USAGE_CLEAR_SHA = sha(USAGE_CLEAR_LUA);
export const USAGE_LOCK_SHA = sha(USAGE_LOCK_LUA);
export const USAGE_UNLOCK_SHA = sha(USAGE_UNLOCK_LUA);
