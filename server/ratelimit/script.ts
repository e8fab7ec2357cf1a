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
 * Token window, check half: may this key spend more tokens now? Read-only but for pruning.
 * Entries are sorted-set members "<nonce>:<tokens>" scored by time; a companion counter holds
 * their sum so a check is O(entries leaving the window), not O(window).
 */
export const TOKEN_CHECK_LUA = `
-- KEYS[1]  sorted set of spends: member = "<nonce>:<tokens>", score = time in ms
-- KEYS[2]  the sum of the tokens in KEYS[1]
-- ARGV[1]  window length in ms
-- ARGV[2]  limit: tokens per window
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
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
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
-- The counter can outlive its set only through expiry races: an empty set means nothing is spent.
if redis.call('ZCARD', KEYS[1]) == 0 or used < 0 then
  redis.call('DEL', KEYS[2])
  used = 0
end
local spends = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
if used < limit then
  -- Admitted. Reset: time until the oldest spend leaves the window.
  local reset = 0
  if spends[2] then reset = tonumber(spends[2]) + window - now end
  return {1, limit - used, reset}
end
-- Denied: walk the spends oldest first until enough would have left to go below the limit.
local gone = 0
for i = 1, #spends, 2 do
  gone = gone + tonumber(string.match(spends[i], ':(%d+)$'))
  if used - gone < limit then
    return {0, 0, tonumber(spends[i + 1]) + window - now}
  end
end
return {0, 0, window}
`;

/** Token window, record half: adds what an answer spent, after it was answered. */
export const TOKEN_RECORD_LUA = `
-- KEYS[1]  sorted set of spends, KEYS[2] their sum (as in the check script)
-- ARGV[1]  window length in ms
-- ARGV[2]  member "<nonce>:<tokens>"
-- ARGV[3]  tokens spent
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('INCRBY', KEYS[2], tonumber(ARGV[3]))
-- Both keys vanish once the newest spend has left the window.
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[1]))
return 1
`;

export const TOKEN_CHECK_SHA = createHash('sha1').update(TOKEN_CHECK_LUA).digest('hex');
export const TOKEN_RECORD_SHA = createHash('sha1').update(TOKEN_RECORD_LUA).digest('hex');
