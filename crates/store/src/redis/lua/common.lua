-- Helpers prepended to every counters script (see redis.rs for the key layout).
-- Lua numbers are doubles: integers are exact below 2^53, which bounds budgets (about 9e15
-- units) and burst * period_ms. Every computed number is sent to Redis through int(), because
-- Redis would otherwise format a large double in exponent notation.

local function int(x)
  return string.format('%d', x)
end

-- Scripts read TIME and then write: Redis before 5 needs effects replication turned on for that.
if redis.replicate_commands then redis.replicate_commands() end

-- Redis server time in ms, so that instances with skewed clocks agree.
local function server_now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- GCRA in ticks of 1/limit ms (one emission interval = period ticks), as in gcra.rs.
-- The TAT is stored as '<ms>:<frac ticks>'. Returns how many ticks it is ahead of now (>= 0).
local function tat_ahead(key, now, limit)
  local value = redis.call('GET', key)
  if not value then return 0 end
  local ms, frac = string.match(value, '^(%-?%d+):(%d+)$')
  if not ms then return 0 end
  local ahead = (tonumber(ms) - now) * limit + math.min(tonumber(frac), limit - 1)
  if ahead < 0 then return 0 end
  return ahead
end

-- Stores the TAT `ahead` ticks past now; it expires when it no longer holds anything back.
local function write_tat(key, now, limit, ahead)
  if ahead <= 0 then
    redis.call('DEL', key)
    return
  end
  local ms = math.floor(ahead / limit)
  local frac = ahead - ms * limit
  redis.call('SET', key, int(now + ms) .. ':' .. int(frac), 'PX', int(ms + 1))
end

local function ceil_div(a, b)
  return math.floor((a + b - 1) / b)
end

-- Units that could be taken now and ms until the TAT is back to now.
local function rate_state(ahead, limit, period, burst)
  local room = burst * period - ahead
  if room < 0 then room = 0 end
  return { math.floor(room / period), ceil_div(ahead, limit) }
end

-- Budget reservations: ZSET lease -> expiry ms, HASH lease -> amount, and in the same HASH the
-- running sum of live amounts under SUM (lease ids are UUIDs and never collide with it), so that
-- an admission costs O(1) however many requests are in flight.
local SUM = '_sum'

-- Removes one reservation (if live), keeping the running sum.
local function drop_reservation(amounts, lease)
  local amount = redis.call('HGET', amounts, lease)
  if amount then
    redis.call('HINCRBY', amounts, SUM, int(-tonumber(amount)))
    redis.call('HDEL', amounts, lease)
  end
end

-- Drops the expired reservations.
local function drop_expired(reservations, amounts, now)
  local gone = redis.call('ZRANGEBYSCORE', reservations, '-inf', int(now))
  for _, lease in ipairs(gone) do
    drop_reservation(amounts, lease)
  end
  if #gone > 0 then
    redis.call('ZREMRANGEBYSCORE', reservations, '-inf', int(now))
  end
end

local function reserve(amounts, lease, amount)
  redis.call('HINCRBY', amounts, lease, amount)
  redis.call('HINCRBY', amounts, SUM, amount)
end

-- Settled total + live reservations, or nil when the total is unseeded.
local function budget_used(total, reservations, amounts, now)
  local settled = redis.call('GET', total)
  if not settled then return nil end
  drop_expired(reservations, amounts, now)
  return tonumber(settled) + tonumber(redis.call('HGET', amounts, SUM) or '0')
end

-- Extends a key's TTL to at least ttl_ms.
local function keep_for(key, ttl_ms)
  if redis.call('PTTL', key) < ttl_ms then
    redis.call('PEXPIRE', key, int(ttl_ms))
  end
end

