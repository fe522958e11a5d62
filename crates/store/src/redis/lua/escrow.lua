-- CounterStore::escrow and ::squeeze: one holder's outage allowance, kept as a reservation under
-- lease `holder` (so that every admission counts it) and listed in the escrows HASH (holder ->
-- amount) so that escrows can be told apart from the reservations of requests.
-- KEYS: total, reservations, amounts, escrows, squeeze marker.
-- ARGV: holder, mode ('grant' | 'squeeze'), limit, want, unit, hold_ms, ttl_ms.
-- grant: sets the holder's escrow to min(want, free / 8), or 0 when that is below unit or while
-- the squeeze marker is set; free = limit - what everyone else uses. Returns {granted, used}.
-- squeeze: drops the holder's escrow, sets the marker (every holder drops theirs when it next
-- asks) and returns {1, used} when want more would fit without any escrow, else {0, used}.
-- Both return {-1, 0} when the total is unseeded (nothing is held then).

local SQUEEZE_MS = 2000
local now = server_now_ms()
local total, reservations, amounts, escrows, marker = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local holder, mode = ARGV[1], ARGV[2]
local limit, want, unit = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local hold_ms, ttl = tonumber(ARGV[6]), ARGV[7]

local used = budget_used(total, reservations, amounts, now)
if not used then return { -1, 0 } end
local own = tonumber(redis.call('HGET', amounts, holder) or '0')

local function hold(amount)
  if amount == own then
    if amount > 0 then redis.call('ZADD', reservations, int(now + hold_ms), holder) end
    return
  end
  drop_reservation(amounts, holder)
  redis.call('ZREM', reservations, holder)
  redis.call('HDEL', escrows, holder)
  if amount > 0 then
    reserve(amounts, holder, int(amount))
    redis.call('ZADD', reservations, int(now + hold_ms), holder)
    redis.call('HSET', escrows, holder, int(amount))
    for _, key in ipairs({ total, reservations, amounts, escrows }) do
      redis.call('PEXPIRE', key, ttl)
    end
  end
  used = used - own + amount
  own = amount
end

if mode == 'squeeze' then
  hold(0)
  redis.call('SET', marker, '1', 'PX', SQUEEZE_MS)
  local held, list = 0, redis.call('HGETALL', escrows)
  for i = 1, #list, 2 do
    -- An escrow whose reservation expired (its holder stopped asking) holds nothing.
    if redis.call('ZSCORE', reservations, list[i]) then
      held = held + tonumber(list[i + 1])
    else
      redis.call('HDEL', escrows, list[i])
    end
  end
  if used - held + want <= limit then return { 1, used } end
  return { 0, used }
end

local grant = 0
if redis.call('EXISTS', marker) == 0 then
  grant = math.floor((limit - (used - own)) / 8)
  if grant > want then grant = want end
  if grant < unit then grant = 0 end
end
hold(grant)
return { grant, used }
