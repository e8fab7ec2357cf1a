import { createHash } from 'node:crypto';

/**
 * The sliding window in Redis: one sorted set per key, scored by admission time in ms, so
 * ZCARD after pruning is the exact number of requests admitted in the last window. Runs
 * atomically (a Lua script), on Redis's own clock so every replica agrees on "now".
 */
export const SLIDING_WINDOW_LUA = `
-- KEYS[1]  sorted set of the key's admitted requests: member = unique id, score = time in ms
-- ARGV[1]  window length in ms
-- ARGV[2]  limit: requests admitted per window
-- ARGV[3]  unique member id for this request (caller's random nonce)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
-- Redis's clock, not the caller's: replicas with skewed clocks still share one window.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Forget requests that have left the window: those at or before now - window.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local admitted = 0
if count < limit then
  -- Admit and record this request; a rejected one is never recorded, so it does not count.
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  count = count + 1
  admitted = 1
end
-- The set empties itself once the newest request has left the window (idle keys cost nothing).
redis.call('PEXPIRE', KEYS[1], window)
-- Time until the oldest request leaves the window, i.e. until a slot frees.
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = 0
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
return {admitted, limit - count, reset}
`;

/** SHA-1 of the script, as EVALSHA names it; pinned by a test so a change is deliberate. */
export const SLIDING_WINDOW_SHA = createHash('sha1').update(SLIDING_WINDOW_LUA).digest('hex');
