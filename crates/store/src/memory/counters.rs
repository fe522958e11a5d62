//! `CounterStore` for a single instance: every counter in one map behind one lock, so an
//! admission is checked and taken in one critical section (no await inside it).
//!
//! Time comes from the caller's `now_ms` (so tests can pick it), except `seed` and `once`, whose
//! signatures carry none and use the wall clock. Expired entries are ignored on read and swept
//! from the maps every `SWEEP_EVERY_MS` of caller time, so memory stays bounded by live state.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use switchyard_core::store::{check_ttl, Admit, CounterStore, RateState, Settle, StoreError, Verdict, SETTLE_MEMORY_MS};

use super::gcra::{Gcra, Tat};
use switchyard_core::time::now_ms;

const SWEEP_EVERY_MS: i64 = 10_000;

#[derive(Default)]
pub struct MemoryCounters {
    state: Mutex<State>,
}

impl MemoryCounters {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while locked leaves counters that are still consistent per key: keep going.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Default)]
struct State {
    rates: HashMap<String, Tat>,
    /// Slot key → lease id → expiry (ms).
    slots: HashMap<String, HashMap<String, i64>>,
    /// Present only once seeded.
    budgets: HashMap<String, Budget>,
    /// (budget key, lease id) → when the settle may be forgotten.
    settled: HashMap<(String, String), i64>,
    /// `once` key → expiry (wall-clock ms).
    once: HashMap<String, i64>,
    next_sweep_ms: i64,
}

struct Budget {
    settled: i64,
    /// Lease id → (amount, expiry ms).
    reservations: HashMap<String, (i64, i64)>,
    expires_at: i64,
}

impl Budget {
    fn used(&mut self, now: i64) -> i64 {
        self.reservations.retain(|_, &mut (_, expiry)| expiry > now);
        self.settled + self.reservations.values().map(|&(amount, _)| amount).sum::<i64>()
    }
}

impl State {
    /// The budget under `key` if it is seeded and has not expired.
    fn budget(&mut self, key: &str, now: i64) -> Option<&mut Budget> {
        if self.budgets.get(key).is_some_and(|b| b.expires_at <= now) {
            self.budgets.remove(key);
        }
        self.budgets.get_mut(key)
    }

    fn live_slots(&mut self, key: &str, now: i64) -> usize {
        let Some(leases) = self.slots.get_mut(key) else { return 0 };
        leases.retain(|_, &mut expiry| expiry > now);
        leases.len()
    }

    fn admit(&mut self, a: &Admit) -> Verdict {
        let now = a.now_ms;
        // Check everything against what earlier items of this call would take, then apply.
        let mut tats: HashMap<&str, i128> = HashMap::new();
        for (index, item) in a.rates.iter().enumerate() {
            let gcra = Gcra::from(item);
            let ahead = tats.get(item.key.as_str()).copied().unwrap_or_else(|| gcra.ahead(self.rates.get(&item.key).copied(), now));
            match gcra.take(ahead, item.cost) {
                Ok(next) => tats.insert(&item.key, next),
                Err(retry_after_ms) => return Verdict::RateLimited { index, retry_after_ms, state: gcra.state(ahead) },
            };
        }
        let mut slots: HashMap<&str, usize> = HashMap::new();
        for (index, item) in a.slots.iter().enumerate() {
            let live = slots.get(item.key.as_str()).copied().unwrap_or_else(|| self.live_slots(&item.key, now));
            if live as u64 >= item.max {
                return Verdict::Busy { index };
            }
            slots.insert(&item.key, live + 1);
        }
        let mut used: HashMap<&str, i64> = HashMap::new();
        for (index, item) in a.budgets.iter().enumerate() {
            let current = match used.get(item.key.as_str()) {
                Some(&u) => u,
                None => match self.budget(&item.key, now) {
                    Some(budget) => budget.used(now),
                    None => return Verdict::Unseeded { index },
                },
            };
            if current.saturating_add(item.amount) > item.limit {
                return Verdict::OverBudget { index, used: current };
            }
            used.insert(&item.key, current + item.amount);
        }

        let expiry = now.saturating_add(a.lease_ms as i64);
        let rates: Vec<RateState> = a
            .rates
            .iter()
            .map(|item| {
                let (gcra, ahead) = (Gcra::from(item), tats[item.key.as_str()]);
                self.rates.insert(item.key.clone(), gcra.tat(now, ahead));
                gcra.state(ahead)
            })
            .collect();
        for item in &a.slots {
            self.slots.entry(item.key.clone()).or_default().insert(a.lease_id.clone(), expiry);
        }
        let budgets = a
            .budgets
            .iter()
            .map(|item| {
                if let Some(budget) = self.budgets.get_mut(&item.key) {
                    let reservation = budget.reservations.entry(a.lease_id.clone()).or_insert((0, expiry));
                    reservation.0 += item.amount;
                    budget.expires_at = now.saturating_add(item.ttl_ms as i64);
                }
                used[item.key.as_str()]
            })
            .collect();
        Verdict::Admitted { rates, budgets }
    }

    fn settle(&mut self, s: &Settle) {
        let now = s.now_ms;
        for item in &s.budgets {
            if !item.reserved {
                let marker = (item.key.clone(), s.lease_id.clone());
                if self.settled.get(&marker).is_some_and(|&until| until > now) {
                    continue;
                }
                self.settled.insert(marker, now.saturating_add(SETTLE_MEMORY_MS as i64));
            }
            let Some(budget) = self.budget(&item.key, now) else { continue };
            if budget.reservations.remove(&s.lease_id).is_none() && item.reserved {
                continue; // settled before, or expired
            }
            budget.settled += item.actual;
            budget.expires_at = now.saturating_add(item.ttl_ms as i64);
        }
        for key in &s.slots {
            if let Some(leases) = self.slots.get_mut(key) {
                leases.remove(&s.lease_id);
            }
        }
        for item in &s.rates {
            let gcra = Gcra::from(item);
            let ahead = gcra.adjust(gcra.ahead(self.rates.get(&item.key).copied(), now), item.delta);
            self.rates.insert(item.key.clone(), gcra.tat(now, ahead));
        }
    }

    /// Drops everything that has expired by `now` (caller time; `once` uses the wall clock).
    fn sweep(&mut self, now: i64) {
        if now < self.next_sweep_ms {
            return;
        }
        self.next_sweep_ms = now.saturating_add(SWEEP_EVERY_MS);
        self.rates.retain(|_, tat| tat.ms >= now);
        self.slots.retain(|_, leases| {
            leases.retain(|_, &mut expiry| expiry > now);
            !leases.is_empty()
        });
        self.budgets.retain(|_, budget| {
            budget.reservations.retain(|_, &mut (_, expiry)| expiry > now);
            budget.expires_at > now
        });
        self.settled.retain(|_, &mut until| until > now);
        let wall = now_ms();
        self.once.retain(|_, &mut until| until > wall);
    }
}

#[async_trait::async_trait]
impl CounterStore for MemoryCounters {
    async fn admit(&self, admit: &Admit) -> Result<Verdict, StoreError> {
        admit.validate()?;
        let mut state = self.lock();
        state.sweep(admit.now_ms);
        Ok(state.admit(admit))
    }

    async fn settle(&self, settle: &Settle) -> Result<(), StoreError> {
        settle.validate()?;
        let mut state = self.lock();
        state.sweep(settle.now_ms);
        state.settle(settle);
        Ok(())
    }

    async fn seed(&self, key: &str, value: i64, ttl_ms: u64) -> Result<i64, StoreError> {
        check_ttl(key, ttl_ms)?;
        let now = now_ms();
        let mut state = self.lock();
        if let Some(budget) = state.budget(key, now) {
            return Ok(budget.settled);
        }
        let expires_at = now.saturating_add(ttl_ms as i64);
        state.budgets.insert(key.to_string(), Budget { settled: value, reservations: HashMap::new(), expires_at });
        Ok(value)
    }

    async fn budget_used(&self, key: &str, now_ms: i64) -> Result<Option<i64>, StoreError> {
        Ok(self.lock().budget(key, now_ms).map(|budget| budget.used(now_ms)))
    }

    async fn once(&self, key: &str, ttl_ms: u64) -> Result<bool, StoreError> {
        check_ttl(key, ttl_ms)?;
        let now = now_ms();
        let mut state = self.lock();
        if state.once.get(key).is_some_and(|&until| until > now) {
            return Ok(false);
        }
        state.once.insert(key.to_string(), now.saturating_add(ttl_ms as i64));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::store::{BudgetItem, BudgetSettle, RateItem, SlotItem};

    fn admit(now_ms: i64, lease: &str) -> Admit {
        Admit { lease_id: lease.into(), lease_ms: 1_000, now_ms, ..Admit::default() }
    }

    #[test]
    fn sweep_forgets_expired_entries() {
        let mut state = State::default();
        let mut a = admit(0, "l1");
        a.rates.push(RateItem { key: "r".into(), limit: 10, period_ms: 1_000, burst: 3, cost: 1 });
        a.slots.push(SlotItem { key: "s".into(), max: 1 });
        state.budgets.insert("b".into(), Budget { settled: 0, reservations: HashMap::new(), expires_at: 5_000 });
        a.budgets.push(BudgetItem { key: "b".into(), limit: 10, amount: 1, ttl_ms: 5_000 });
        assert!(matches!(state.admit(&a), Verdict::Admitted { .. }));
        state.settle(&Settle {
            lease_id: "l1".into(),
            now_ms: 10,
            budgets: vec![BudgetSettle { key: "b".into(), actual: 1, ttl_ms: 5_000, reserved: false }],
            ..Settle::default()
        });
        state.sweep(0);
        assert_eq!((state.rates.len(), state.slots.len(), state.budgets.len(), state.settled.len()), (1, 1, 1, 1));
        state.sweep(70_000);
        assert_eq!((state.rates.len(), state.slots.len(), state.budgets.len(), state.settled.len()), (0, 0, 0, 0));
    }

    #[test]
    fn same_key_twice_in_one_call_sees_the_first_item() {
        let mut state = State::default();
        state.budgets.insert("b".into(), Budget { settled: 0, reservations: HashMap::new(), expires_at: i64::MAX });
        let mut a = admit(0, "l1");
        let item = BudgetItem { key: "b".into(), limit: 10, amount: 6, ttl_ms: 5_000 };
        a.budgets = vec![item.clone(), item];
        assert_eq!(state.admit(&a), Verdict::OverBudget { index: 1, used: 6 });
        assert_eq!(state.budget("b", 0).map(|b| b.used(0)), Some(0), "nothing taken");
    }
}
