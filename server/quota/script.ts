import { createHash } from 'node:crypto';

/**
 * A client's quota count for one period in Redis: one hash per (client, period), changed only by
 * this script, so admission (check and reserve) is atomic across every replica. The gateway names
 * the period (its calendar in the sheet's time zone); the hash expires after the period ends.
 */
export const QUOTA_LUA = `
-- KEYS[1]  hash of the count: spent (tokens answered), reserved (tokens held by requests in
--          flight), requests (admitted), seeded (1 once the Usage record was merged in)
-- ARGV[1]  'admit' or 'settle'
-- ARGV[2]  ms the hash lives on: until some time after the period ends (relative, so a skew
--          between the gateway's clock and Redis's does not matter)
-- admit:  ARGV[3] token quota (0: none), ARGV[4] request quota (0: none), ARGV[5] tokens to
--         reserve, ARGV[6] tokens on record, ARGV[7] requests on record (-1: the record could
--         not be read). Returns {admitted, 0 | 1 tokens exceeded | 2 requests exceeded, spent,
--         reserved, requests}, the counts after admission.
-- settle: ARGV[3] tokens reserved at admission, ARGV[4] tokens the answer spent, ARGV[5] 1 when
--         the request reached the upstream (else its request is given back). Returns 1, or 0
--         when the count is gone (the period ended, or Redis lost it).
local key = KEYS[1]
local op = ARGV[1]
local ttl = tonumber(ARGV[2])
if op == 'settle' then
  if redis.call('EXISTS', key) == 0 then return 0 end
  local reserved = redis.call('HINCRBY', key, 'reserved', -tonumber(ARGV[3]))
  if reserved < 0 then redis.call('HSET', key, 'reserved', 0) end
  redis.call('HINCRBY', key, 'spent', tonumber(ARGV[4]))
  if ARGV[5] ~= '1' then
    if redis.call('HINCRBY', key, 'requests', -1) < 0 then redis.call('HSET', key, 'requests', 0) end
  end
  return 1
end
local tokenQuota = tonumber(ARGV[3])
local requestQuota = tonumber(ARGV[4])
local reserve = tonumber(ARGV[5])
local seedTokens = tonumber(ARGV[6])
local seedRequests = tonumber(ARGV[7])
-- Seeding: a count no replica seeded yet (SET NX semantics: a missing hash has not been) is raised
-- to the Usage record, never lowered: a restart or a new replica never starts from zero.
if seedRequests >= 0 and redis.call('HGET', key, 'seeded') ~= '1' then
  local spent = tonumber(redis.call('HGET', key, 'spent') or '0')
  local requests = tonumber(redis.call('HGET', key, 'requests') or '0')
  redis.call('HSET', key, 'spent', math.max(spent, seedTokens), 'requests', math.max(requests, seedRequests), 'seeded', 1)
end
local h = redis.call('HMGET', key, 'spent', 'reserved', 'requests')
local spent = tonumber(h[1] or '0')
local reserved = tonumber(h[2] or '0')
local requests = tonumber(h[3] or '0')
-- Admitted while reserved + spent stays within the quota (the reservation is capped at the
-- quota, so a period with nothing reserved or spent admits one request); a denial reserves nothing.
local over = 0
if tokenQuota > 0 and spent + reserved + reserve > tokenQuota then over = 1
elseif requestQuota > 0 and requests + 1 > requestQuota then over = 2 end
if over == 0 then
  redis.call('HINCRBY', key, 'reserved', reserve)
  redis.call('HINCRBY', key, 'requests', 1)
end
-- After the writes: the hash exists now (also after a denial that seeded it).
if redis.call('EXISTS', key) == 1 then redis.call('PEXPIRE', key, ttl) end
if over > 0 then return {0, over, spent, reserved, requests} end
return {1, 0, spent, reserved + reserve, requests + 1}
`;

export const QUOTA_SHA = createHash('sha1').update(QUOTA_LUA).digest('hex');
