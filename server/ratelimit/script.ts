import { createHash } from 'node:crypto';

/**
 * The sliding window in Redis: one list per key holding its admission times in ms, oldest first,
 * so after dropping the times that left the window its length is the exact number of requests
 * admitted in the last window. Runs atomically (a Lua script), on Redis's own clock so every
 * replica agrees on "now". A list, not a sorted set: times arrive in order, so pruning only ever
 * pops from the head (each time once), and a time costs a few bytes instead of a member string.
 * Should Redis's clock step back, a time lands out of order and stays until the times before it
 * leave: the window then counts too much for a moment, never too little.
 *
 * One run decides a batch of checks (every check this replica queued in one turn of its event
 * loop), in order: a key checked twice in a batch sees its first admission. Same guarantee as one
 * run per check, at one round trip and one socket write per batch instead of per request.
 */
export const SLIDING_WINDOW_LUA = `
-- KEYS[i]      check i's list of admission times in ms, oldest first
-- ARGV[2i-1]   check i's window length in ms
-- ARGV[2i]     check i's limit: requests admitted per window
-- Returns three numbers per check: admitted (1 or 0), remaining, ms until a slot frees.
-- Redis's clock, not the caller's: replicas with skewed clocks still share one window.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i - 1])
  local limit = tonumber(ARGV[2 * i])
  -- Forget requests that have left the window: those at or before now - window.
  local oldest = tonumber(redis.call('LINDEX', key, 0))
  while oldest and oldest <= now - window do
    redis.call('LPOP', key)
    oldest = tonumber(redis.call('LINDEX', key, 0))
  end
  local count = redis.call('LLEN', key)
  local admitted = 0
  if count < limit then
    -- Admit and record this request; a rejected one is never recorded, so it does not count.
    redis.call('RPUSH', key, now)
    -- The list empties itself once its newest request has left the window (idle keys cost
    -- nothing); a denial adds nothing, so the expiry set by the last admission still holds.
    redis.call('PEXPIRE', key, window)
    count = count + 1
    admitted = 1
    oldest = oldest or now
  end
  -- Time until the oldest request leaves the window, i.e. until a slot frees.
  local reset = 0
  if oldest then reset = oldest + window - now end
  out[3 * i - 2] = admitted
  out[3 * i - 1] = limit - count
  out[3 * i] = reset
end
return out
`;

export const SLIDING_WINDOW_SHA = createHash('sha1').update(SLIDING_WINDOW_LUA).digest('hex');

/** A look at a request window that changes nothing (`GET /auth/key`): a key asking about itself uses no slot. */
export const REQUEST_PEEK_LUA = `
-- KEYS[1]  a request window (see SLIDING_WINDOW_LUA): admission times in ms, oldest first
-- ARGV[1]  window length in ms
-- Returns {requests admitted in the window, ms until the oldest of them leaves it (0: none)}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local count = 0
local oldest = nil
-- At most limit entries: the admission script admits no more per window.
for _, v in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local at = tonumber(v)
  if at > now - window then
    count = count + 1
    if not oldest then oldest = at end
  end
end
local reset = 0
if oldest then reset = oldest + window - now end
return {count, reset}
`;

export const REQUEST_PEEK_SHA = createHash('sha1').update(REQUEST_PEEK_LUA).digest('hex');

/**
 * Token window, admission half: spent plus reserved plus this request's budget must stay within
 * the limit (or nothing is spent or reserved at all); if so the budget is reserved. Spends are
 * sorted-set members "<nonce>:<tokens>" scored by time, with a companion counter holding their sum
 * so pruning is O(spends leaving the window). Reservations are members "<nonce>:<tokens>" of a
 * third set scored by their expiry, so a replica that died before settling blocks nobody for long.
 */
export const TOKEN_RESERVE_LUA = `
-- KEYS[1]  sorted set of spends: member = "<nonce>:<tokens>", score = time in ms
-- KEYS[2]  the sum of the tokens in KEYS[1]
-- KEYS[3]  sorted set of reservations: member = "<nonce>:<tokens>", score = expiry in ms
-- ARGV[1]  window length in ms
-- ARGV[2]  limit: tokens per window
-- ARGV[3]  tokens to reserve (0: admit or refuse, reserve nothing)
-- ARGV[4]  the reservation's member
-- ARGV[5]  how long a reservation may stay unsettled, in ms
-- ARGV[6]  Retry-After (ms) when other requests' reservations alone fill the limit
-- Returns {admitted, remaining, ms until enough frees}.
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
-- Redis's clock, not the caller's: replicas with skewed clocks still share one window.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Subtract the spends leaving the window from the sum, then forget them.
local leaving = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
local freed = 0
for _, member in ipairs(leaving) do
  freed = freed + tonumber(string.match(member, ':(%d+)$'))
end
if freed > 0 then
  redis.call('DECRBY', KEYS[2], freed)
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
end
local spent = tonumber(redis.call('GET', KEYS[2]) or '0')
-- The counter can outlive its set only through expiry races: an empty set means nothing is spent.
if redis.call('ZCARD', KEYS[1]) == 0 or spent < 0 then
  redis.call('DEL', KEYS[2])
  spent = 0
end
-- Reservations past their expiry were never settled (their replica died): forget them.
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local held = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  held = held + tonumber(string.match(member, ':(%d+)$'))
end
local used = spent + held
local spends = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
if used + want <= limit or used == 0 then
  if want > 0 then
    redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[4])
    redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[5]))
  end
  -- Reset: time until the oldest spend leaves the window.
  local reset = 0
  if spends[2] then reset = tonumber(spends[2]) + window - now end
  return {1, math.max(0, limit - used - want), reset}
end
-- Refused. Spends must fall to this for the request to fit beside the reservations.
local target = limit - held - want
if target < 0 then return {0, math.max(0, limit - used), tonumber(ARGV[6])} end
-- Walk the spends oldest first until enough would have left.
local gone = 0
for i = 1, #spends, 2 do
  gone = gone + tonumber(string.match(spends[i], ':(%d+)$'))
  if spent - gone <= target then
    return {0, math.max(0, limit - used), tonumber(spends[i + 1]) + window - now}
  end
end
return {0, math.max(0, limit - used), window}
`;

/** Token window, settling half: drops a reservation and adds what the answer spent, now. */
export const TOKEN_SETTLE_LUA = `
-- KEYS[1]  sorted set of spends, KEYS[2] their sum, KEYS[3] reservations (as in the reserve script)
-- ARGV[1]  window length in ms
-- ARGV[2]  the reservation's member ('' when nothing was reserved)
-- ARGV[3]  the spend's member "<nonce>:<tokens>"
-- ARGV[4]  tokens spent (0: only drop the reservation)
if ARGV[2] ~= '' then redis.call('ZREM', KEYS[3], ARGV[2]) end
local spent = tonumber(ARGV[4])
if spent > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('INCRBY', KEYS[2], spent)
  -- Both vanish once the newest spend has left the window.
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[1]))
end
return 1
`;

export const TOKEN_RESERVE_SHA = createHash('sha1').update(TOKEN_RESERVE_LUA).digest('hex');
export const TOKEN_SETTLE_SHA = createHash('sha1').update(TOKEN_SETTLE_LUA).digest('hex');
