-- CounterStore::admit: checks every item, then takes them all; nothing is taken on a refusal.
-- KEYS: rate keys, slot keys, then per budget: total, reservations, amounts.
-- ARGV: lease_id, lease_ms, n_rates, n_slots, n_budgets,
--       per rate: limit, period_ms, burst, cost; per slot: max; per budget: limit, amount, ttl_ms.
-- Returns {0, {remaining, reset_ms, ...}, {used, ...}} admitted | {1, index, retry_after_ms,
-- remaining, reset_ms} rate limited | {2, index} busy | {3, index, used} over budget |
-- {4, index} unseeded. Indexes are 0-based within their kind.

local now = server_now_ms()
local lease, lease_ms = ARGV[1], tonumber(ARGV[2])
local n_rates, n_slots, n_budgets = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local expiry = now + lease_ms

-- Check, keeping per key what earlier items of this call would take.
local rates, tats = {}, {}
local a = 6
for i = 1, n_rates do
  local key = KEYS[i]
  local r = { key = key, limit = tonumber(ARGV[a]), period = tonumber(ARGV[a + 1]),
              burst = tonumber(ARGV[a + 2]), cost = tonumber(ARGV[a + 3]) }
  a = a + 4
  local ahead = tats[key] or tat_ahead(key, now, r.limit)
  local need = ahead + r.cost * r.period
  local tolerance = r.burst * r.period
  if need > tolerance then
    local state = rate_state(ahead, r.limit, r.period, r.burst)
    return { 1, i - 1, ceil_div(need - tolerance, r.limit), state[1], state[2] }
  end
  tats[key] = need
  rates[i] = r
end

local slots = {}
for j = 1, n_slots do
  local key = KEYS[n_rates + j]
  local max = tonumber(ARGV[a])
  a = a + 1
  local live = slots[key]
  if not live then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now))
    live = redis.call('ZCARD', key)
  end
  if live >= max then return { 2, j - 1 } end
  slots[key] = live + 1
end

local budgets, used = {}, {}
for k = 1, n_budgets do
  local base = n_rates + n_slots + (k - 1) * 3
  local b = { total = KEYS[base + 1], reservations = KEYS[base + 2], amounts = KEYS[base + 3],
              limit = tonumber(ARGV[a]), amount = ARGV[a + 1], ttl = ARGV[a + 2] }
  a = a + 3
  local current = used[b.total]
  if not current then
    current = budget_used(b.total, b.reservations, b.amounts, now)
    if not current then return { 4, k - 1 } end
  end
  if current + tonumber(b.amount) > b.limit then return { 3, k - 1, current } end
  used[b.total] = current + tonumber(b.amount)
  budgets[k] = b
end

-- Apply.
local states = {}
for i = 1, n_rates do
  local r = rates[i]
  write_tat(r.key, now, r.limit, tats[r.key])
  local state = rate_state(tats[r.key], r.limit, r.period, r.burst)
  states[#states + 1] = state[1]
  states[#states + 1] = state[2]
end
for j = 1, n_slots do
  local key = KEYS[n_rates + j]
  redis.call('ZADD', key, int(expiry), lease)
  keep_for(key, lease_ms)
end
local totals = {}
for k = 1, n_budgets do
  local b = budgets[k]
  reserve(b.amounts, lease, b.amount)
  redis.call('ZADD', b.reservations, int(expiry), lease)
  for _, key in ipairs({ b.total, b.reservations, b.amounts }) do
    redis.call('PEXPIRE', key, b.ttl)
  end
  totals[k] = used[b.total]
end
return { 0, states, totals }
