-- CounterStore::budget_used. KEYS: total, reservations, amounts. Returns the units or nil.
return budget_used(KEYS[1], KEYS[2], KEYS[3], server_now_ms())
