-- CounterStore::settle: settles budgets once per (lease, key), releases slots, corrects rates.
-- KEYS: rate keys, slot keys, then per budget: total, reservations, amounts, settled marker.
-- ARGV: lease_id, remember_ms, n_rates, n_slots, n_budgets,
--       per rate: limit, period_ms, burst, delta; per budget: actual, ttl_ms, reserved (0|1).

local now = server_now_ms()
local lease, remember_ms = ARGV[1], tonumber(ARGV[2])
local n_rates, n_slots, n_budgets = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local a = 6
for i = 1, n_rates do
  local limit, period, delta = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 3])
  a = a + 4
  local ahead = tat_ahead(KEYS[i], now, limit) + delta * period
  write_tat(KEYS[i], now, limit, ahead)
end
for j = 1, n_slots do
  redis.call('ZREM', KEYS[n_rates + j], lease)
end
for k = 1, n_budgets do
  local base = n_rates + n_slots + (k - 1) * 4
  local total, reservations, amounts, marker = KEYS[base + 1], KEYS[base + 2], KEYS[base + 3], KEYS[base + 4]
  local actual, ttl, reserved = ARGV[a], ARGV[a + 1], ARGV[a + 2] == '1'
  a = a + 3
  -- A settle of a reservation counts while the reservation is there: removing it is what makes
  -- it count once (no marker, so nothing is left behind per request). Spend admitted elsewhere
  -- (an outage, replayed) has no reservation here and is counted once per lease by a short marker.
  local apply
  if reserved then
    apply = redis.call('HEXISTS', amounts, lease) == 1
  else
    apply = redis.call('SET', marker, '1', 'NX', 'PX', int(remember_ms)) ~= false
  end
  if apply then
    drop_reservation(amounts, lease)
    redis.call('ZREM', reservations, lease)
    -- An unseeded total stays unseeded: the durable log seeds it, this settle included.
    if redis.call('EXISTS', total) == 1 then
      redis.call('INCRBY', total, actual)
      redis.call('PEXPIRE', total, ttl)
    end
  end
end
return 0
