//! Counters that must be shared and fast: rate limits (GCRA), concurrency slots (leases) and
//! budget reservations. One atomic `admit` call checks and takes everything a request needs,
//! all or nothing, and one `settle` call gives back or tops up what was taken. In memory for one
//! instance; on Redis (one Lua script per call, so one round trip) for many.
//!
//! Budget accounting per window key `K`: a settled total (integer units: nano-dollars or tokens)
//! plus live reservations, each with an expiry. Admission requires
//! `settled + live reservations + amount <= limit`. A reservation that is never settled (its
//! instance died) expires, so it cannot become phantom spend. A settled total that does not exist
//! (new window, or a Redis that restarted empty) is reported as `Unseeded` rather than taken as 0:
//! the caller seeds it from the durable request log with `seed` and asks again.
//!
//! Items are checked in order (rates, then slots, then budgets) and the first that fails is the
//! verdict. A key may appear twice in one call; the second item sees what the first would take.
//! A `lease_id` names one admission: reuse across admissions is not supported.

use serde::{Deserialize, Serialize};

use super::StoreError;

/// How long a settle without a reservation (an outage admission, replayed) is remembered, so
/// that a repeated settle does not add its units twice. Settles of reservations need no memory:
/// removing the reservation is what makes them count once.
pub const SETTLE_MEMORY_MS: u64 = 60_000;
/// GCRA: `limit` units per `period_ms`, up to `burst` units at once (`burst >= 1`).
/// `cost` units are taken on admission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateItem {
    pub key: String,
    pub limit: u64,
    pub period_ms: u64,
    pub burst: u64,
    pub cost: u64,
}

/// At most `max` live leases under `key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotItem {
    pub key: String,
    pub max: u64,
}

/// Reserve `amount` under window key `key` whose cap is `limit`. `ttl_ms` is how long the key
/// lives (to the end of its window plus a day), refreshed on every write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetItem {
    pub key: String,
    pub limit: i64,
    pub amount: i64,
    pub ttl_ms: u64,
}

/// One request's admission. `lease_id` names its slot leases and budget reservations;
/// they expire after `lease_ms` unless settled first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Admit {
    pub lease_id: String,
    pub lease_ms: u64,
    /// The caller's clock, used by `MemoryCounters`; `RedisCounters` uses Redis server time so
    /// that instances with skewed clocks agree.
    pub now_ms: i64,
    pub rates: Vec<RateItem>,
    pub slots: Vec<SlotItem>,
    pub budgets: Vec<BudgetItem>,
}

/// A rate limit's state after a decision, for `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateState {
    /// Units that could still be taken now.
    pub remaining: u64,
    /// Milliseconds until the limit is fully replenished.
    pub reset_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Everything was taken. `budgets[i]` is settled + reserved for item i after this reservation.
    Admitted { rates: Vec<RateState>, budgets: Vec<i64> },
    /// Nothing was taken: rate item `index` is exhausted until `retry_after_ms` from now. When
    /// its `cost` exceeds its `burst` it can never pass (`retry_after_ms` is then the time to
    /// earn the excess); callers check that and say the request is too large.
    RateLimited { index: usize, retry_after_ms: u64, state: RateState },
    /// Nothing was taken: slot item `index` has `max` live leases.
    Busy { index: usize },
    /// Nothing was taken: budget item `index` would exceed its limit; `used` is settled + reserved.
    OverBudget { index: usize, used: i64 },
    /// Nothing was taken: budget item `index` has no settled total yet; `seed` it and ask again.
    Unseeded { index: usize },
}

/// A rate item's correction after the fact: `delta` more units (negative: give back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateAdjust {
    pub key: String,
    pub limit: u64,
    pub period_ms: u64,
    pub burst: u64,
    pub delta: i64,
}

/// Replace the reservation of `lease_id` under `key` with `actual` settled units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetSettle {
    pub key: String,
    pub actual: i64,
    pub ttl_ms: u64,
    /// The admission reserved under this lease in this store: the settle applies only while the
    /// reservation is there (once, and never for one that expired). False for spend admitted
    /// elsewhere (during an outage) and replayed here: it is added once per lease and key.
    #[serde(default)]
    pub reserved: bool,
}

/// `holder`'s outage allowance under budget key `key`: a reservation that every admission counts,
/// sized by the store to at most `want` and at most an eighth of what the others leave free, and
/// to nothing when that is below `unit` (one request) or while someone squeezes the escrows.
/// It lives `hold_ms` unless asked again; `ttl_ms` as in `BudgetItem`.
#[derive(Debug, Clone, PartialEq)]
pub struct EscrowAsk {
    pub key: String,
    pub holder: String,
    pub limit: i64,
    pub want: i64,
    pub unit: i64,
    pub hold_ms: u64,
    pub ttl_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settle {
    pub lease_id: String,
    /// The caller's clock, used by `MemoryCounters`; `RedisCounters` uses Redis server time so
    /// that instances with skewed clocks agree.
    pub now_ms: i64,
    pub rates: Vec<RateAdjust>,
    /// Slot keys whose lease `lease_id` is released.
    pub slots: Vec<String>,
    pub budgets: Vec<BudgetSettle>,
}

#[async_trait::async_trait]
pub trait CounterStore: Send + Sync + 'static {
    /// Checks every item and, only if all pass, takes them all, atomically.
    async fn admit(&self, admit: &Admit) -> Result<Verdict, StoreError>;
    /// Settles budgets (removing the reservations of `lease_id`, adding the actual units; a
    /// settle whose reservation is gone still adds `actual`, to a seeded total only), releases
    /// slots and applies rate corrections. Idempotent per (lease_id, key) for budgets.
    async fn settle(&self, settle: &Settle) -> Result<(), StoreError>;
    /// Sets a budget key's settled total if it has none (SET NX); returns the total it now has.
    async fn seed(&self, key: &str, value: i64, ttl_ms: u64) -> Result<i64, StoreError>;
    /// Settled + live reserved units of a budget key, `None` when unseeded. `now_ms` as in `Admit`.
    async fn budget_used(&self, key: &str, now_ms: i64) -> Result<Option<i64>, StoreError>;
    /// Marks `key` once: true for the first caller (per `ttl_ms`), false after. For alerts that
    /// must fire once per window across instances.
    async fn once(&self, key: &str, ttl_ms: u64) -> Result<bool, StoreError>;
    /// Sets `ask.holder`'s escrow under `ask.key` (see `EscrowAsk`); returns what it now holds,
    /// `None` when the total is unseeded or the store keeps no escrows (one instance needs none).
    async fn escrow(&self, _ask: &EscrowAsk) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }
    /// Drops `ask.holder`'s escrow and asks every holder to drop theirs (for about two seconds);
    /// true when `ask.want` more units would fit under `ask.limit` without any escrow.
    async fn squeeze(&self, _ask: &EscrowAsk) -> Result<bool, StoreError> {
        Ok(false)
    }
}

impl Admit {
    /// Rejects items the counters cannot represent (a zero limit would divide by zero, a zero
    /// TTL would delete the key it is meant to keep). Every implementation calls it first, so
    /// that all of them refuse the same input.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.lease_ms == 0 {
            return Err(invalid("admit", "lease_ms must be at least 1"));
        }
        for r in &self.rates {
            check_rate(&r.key, r.limit, r.period_ms, r.burst)?;
        }
        for b in &self.budgets {
            if b.amount < 0 {
                return Err(invalid(&b.key, "a budget reservation cannot be negative"));
            }
            check_ttl(&b.key, b.ttl_ms)?;
        }
        Ok(())
    }
}

impl Settle {
    /// As `Admit::validate`, for a settle.
    pub fn validate(&self) -> Result<(), StoreError> {
        for r in &self.rates {
            check_rate(&r.key, r.limit, r.period_ms, r.burst)?;
        }
        for b in &self.budgets {
            check_ttl(&b.key, b.ttl_ms)?;
        }
        Ok(())
    }
}

fn check_rate(key: &str, limit: u64, period_ms: u64, burst: u64) -> Result<(), StoreError> {
    if limit == 0 || period_ms == 0 || burst == 0 {
        return Err(invalid(key, "rate limit, period_ms and burst must each be at least 1"));
    }
    Ok(())
}

/// For the calls that take a bare TTL (`seed`, `once`).
pub fn check_ttl(key: &str, ttl_ms: u64) -> Result<(), StoreError> {
    if ttl_ms == 0 {
        return Err(invalid(key, "ttl_ms must be at least 1"));
    }
    Ok(())
}

fn invalid(what: &str, why: &str) -> StoreError {
    StoreError::Other(format!("counters: {what}: {why}"))
}
