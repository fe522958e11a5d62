//! Outage escrows: what this instance may spend of a budget while Redis is unreachable is a slice
//! reserved in Redis beforehand, so that the other instances never admit it meanwhile. Each
//! budget this instance spends from gets one escrow, asked for again after every health probe
//! (every 250 ms): sized from this instance's spend of the last minute, capped at `lease_pct`
//! of the budget and at an eighth of what the others leave free, and nothing once that is less
//! than one request (the budget nears its end) or while an admission squeezes the escrows.
//!
//! During an outage the instance admits against what it holds: its escrow less what it has
//! taken locally and not yet replayed into Redis. An escrow is asked again only once everything
//! taken from it has been replayed, so that Redis always counts it; an escrow not confirmed for
//! `USABLE` is not spent (Redis lets it expire after `HOLD`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::store::{BudgetItem, EscrowAsk};

/// How long Redis keeps an escrow that its holder stopped asking for (the holder died).
pub(super) const HOLD: Duration = Duration::from_secs(120);
/// How long after its last confirmation an escrow may be spent: well inside `HOLD`.
const USABLE: Duration = Duration::from_secs(100);
/// An escrow that would be asked for the same amount is asked again this often (for its expiry
/// and to learn of squeezes); one whose amount changed, after every probe.
const REASK: Duration = Duration::from_secs(1);
/// Spend is remembered in buckets of this length, over `BUCKETS` of them (one minute).
const BUCKET: Duration = Duration::from_secs(5);
const BUCKETS: usize = 12;

#[derive(Debug)]
struct Escrow {
    limit: i64,
    ttl_ms: u64,
    /// Spend admitted here per `BUCKET`, the newest at `newest`.
    recent: [i64; BUCKETS],
    newest: usize,
    newest_at: Instant,
    /// The largest single reservation seen: an escrow smaller than that is useless.
    unit: i64,
    /// What Redis holds for this instance, as last confirmed (0 while a request for more is out).
    held: i64,
    confirmed: Option<Instant>,
    /// Taken locally during an outage and not yet replayed into Redis.
    taken: i64,
    /// Redis may hold something for this instance (an ask for more than zero was not yet
    /// answered with zero).
    maybe_held: bool,
    /// What was asked for last.
    asked: i64,
}

impl Escrow {
    fn new(limit: i64, ttl_ms: u64) -> Self {
        Self {
            limit,
            ttl_ms,
            recent: [0; BUCKETS],
            newest: 0,
            newest_at: Instant::now(),
            unit: 0,
            held: 0,
            confirmed: None,
            taken: 0,
            maybe_held: false,
            asked: -1,
        }
    }

    /// Moves the buckets on to now, clearing the ones that passed.
    fn roll(&mut self) {
        let passed = (self.newest_at.elapsed().as_millis() / BUCKET.as_millis()) as usize;
        for _ in 0..passed.min(BUCKETS) {
            self.newest = (self.newest + 1) % BUCKETS;
            self.recent[self.newest] = 0;
        }
        if passed > 0 {
            self.newest_at += BUCKET * passed as u32;
        }
    }

    fn left(&self) -> i64 {
        let fresh = self.confirmed.is_some_and(|at| at.elapsed() < USABLE);
        if fresh {
            self.held - self.taken
        } else {
            0
        }
    }
}

/// This instance's escrows, by budget key.
pub(super) struct Escrows {
    holder: String,
    map: Mutex<HashMap<String, Escrow>>,
}

impl Escrows {
    pub(super) fn new() -> Self {
        Self { holder: format!("escrow:{}", crate::record::new_request_id()), map: Mutex::new(HashMap::new()) }
    }

    /// An admission through Redis reserved these: its spend sizes the escrows.
    pub(super) fn spent(&self, budgets: &[BudgetItem]) {
        let mut map = self.map.lock().expect("escrow lock");
        for b in budgets {
            // On the request path: no key copied once the budget is known.
            let e = match map.get_mut(&b.key) {
                Some(e) => e,
                None => map.entry(b.key.clone()).or_insert_with(|| Escrow::new(b.limit, b.ttl_ms)),
            };
            e.roll();
            e.recent[e.newest] += b.amount;
            e.unit = e.unit.max(b.amount);
            e.limit = b.limit;
            e.ttl_ms = b.ttl_ms;
        }
    }

    /// Takes `budgets` from the escrows during an outage, all or nothing.
    pub(super) fn take(&self, budgets: &[BudgetItem]) -> Option<Vec<(String, i64)>> {
        let mut map = self.map.lock().expect("escrow lock");
        let mut need: HashMap<&str, i64> = HashMap::new();
        for b in budgets {
            *need.entry(&b.key).or_default() += b.amount;
        }
        if need.iter().any(|(key, amount)| map.get(*key).is_none_or(|e| e.left() < *amount)) {
            return None;
        }
        for b in budgets {
            if let Some(e) = map.get_mut(&b.key) {
                e.taken += b.amount;
            }
        }
        Some(budgets.iter().map(|b| (b.key.clone(), b.amount)).collect())
    }

    /// Gives back what a local admission took and did not spend, or what Redis now counts
    /// (replayed spend).
    pub(super) fn give_back(&self, key: &str, amount: i64) {
        if let Some(e) = self.map.lock().expect("escrow lock").get_mut(key) {
            e.taken = (e.taken - amount).max(0);
        }
    }

    /// Redis restarted without its data: nothing is held there any more.
    pub(super) fn forget(&self) {
        self.map.lock().expect("escrow lock").clear();
    }

    /// The escrows to ask for now, each marked as holding nothing until Redis answers (an answer
    /// that is lost must not leave this instance believing it holds more than Redis does). Those
    /// with local spend not yet replayed are left as they are; idle ones are asked down to zero
    /// once and then dropped.
    pub(super) fn asks(&self, pct: f64) -> Vec<EscrowAsk> {
        let mut map = self.map.lock().expect("escrow lock");
        map.retain(|_, e| {
            e.roll();
            e.taken > 0 || e.maybe_held || e.recent.iter().any(|r| *r > 0)
        });
        map.iter_mut()
            .filter(|(_, e)| e.taken == 0)
            .filter_map(|(key, e)| {
                let cap = (e.limit as f64 * pct / 100.0) as i64;
                let want = e.recent.iter().sum::<i64>().min(cap);
                // Every ask is a moment when Redis may hold less than this instance believes
                // (its answer lost): few of them while nothing changes.
                if want == e.asked && e.confirmed.is_some_and(|at| at.elapsed() < REASK) {
                    return None;
                }
                e.held = 0;
                e.asked = want;
                e.maybe_held |= want > 0;
                Some(EscrowAsk {
                    key: key.clone(),
                    holder: self.holder.clone(),
                    limit: e.limit,
                    want,
                    unit: e.unit.max(1),
                    hold_ms: HOLD.as_millis() as u64,
                    ttl_ms: e.ttl_ms,
                })
            })
            .collect()
    }

    /// Redis holds `held` for `key` since at least `asked`.
    pub(super) fn held(&self, key: &str, held: i64, asked: Instant) {
        if let Some(e) = self.map.lock().expect("escrow lock").get_mut(key) {
            e.held = held;
            e.confirmed = Some(asked);
            e.maybe_held = held > 0;
        }
    }

    /// An escrow dropped by a squeeze: nothing held any more.
    pub(super) fn dropped(&self, key: &str) {
        if let Some(e) = self.map.lock().expect("escrow lock").get_mut(key) {
            if e.taken == 0 {
                e.held = 0;
            }
        }
    }

    /// The squeeze ask for `item`: drop this instance's escrow, would `item` fit without any?
    /// None while local outage spend not yet replayed needs the escrow to stay counted.
    pub(super) fn squeeze_ask(&self, item: &BudgetItem) -> Option<EscrowAsk> {
        if self.map.lock().expect("escrow lock").get(&item.key).is_some_and(|e| e.taken > 0) {
            return None;
        }
        Some(EscrowAsk {
            key: item.key.clone(),
            holder: self.holder.clone(),
            limit: item.limit,
            want: item.amount,
            unit: 1,
            hold_ms: HOLD.as_millis() as u64,
            ttl_ms: item.ttl_ms,
        })
    }

    /// Whether this instance has local spend that Redis has not counted yet (for tests and logs).
    #[cfg(test)]
    fn taken(&self, key: &str) -> i64 {
        self.map.lock().expect("escrow lock").get(key).map_or(0, |e| e.taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(amount: i64) -> BudgetItem {
        BudgetItem { key: "b".into(), limit: 1_000, amount, ttl_ms: 60_000 }
    }

    #[tokio::test(start_paused = true)]
    async fn an_escrow_is_sized_from_the_last_minute_and_capped_by_the_lease() {
        let escrows = Escrows::new();
        for _ in 0..3 {
            escrows.spent(&[item(10)]);
        }
        let asks = escrows.asks(5.0);
        assert_eq!((asks[0].want, asks[0].unit), (30, 10));
        escrows.spent(&[item(40)]);
        assert_eq!(escrows.asks(5.0)[0].want, 50, "5% of 1,000");
        escrows.held("b", 50, Instant::now());
        assert!(escrows.asks(5.0).is_empty(), "the same amount is not asked again at once");
        tokio::time::advance(REASK).await;
        assert_eq!(escrows.asks(5.0)[0].want, 50, "but within a second");
        escrows.held("b", 50, Instant::now());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(escrows.asks(5.0)[0].want, 0, "a minute later nothing was spent: asked down to zero");
        escrows.held("b", 0, Instant::now());
        assert!(escrows.asks(5.0).is_empty(), "then forgotten");
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_spends_only_what_redis_confirmed_and_nothing_while_asking() {
        let escrows = Escrows::new();
        escrows.spent(&[item(10)]);
        assert!(escrows.take(&[item(10)]).is_none(), "nothing held yet");
        let asks = escrows.asks(5.0);
        escrows.held(&asks[0].key, 20, Instant::now());
        assert!(escrows.take(&[item(10)]).is_some());
        assert!(escrows.take(&[item(10), item(10)]).is_none(), "all or nothing");
        assert!(escrows.take(&[item(10)]).is_some());
        assert!(escrows.take(&[item(1)]).is_none(), "the escrow is spent");
        assert!(escrows.asks(5.0).is_empty(), "not asked again before the local spend is replayed");
        escrows.give_back("b", 20);
        assert_eq!(escrows.taken("b"), 0);
        tokio::time::advance(REASK).await;
        assert_eq!(escrows.asks(5.0).len(), 1);
        assert!(escrows.take(&[item(1)]).is_none(), "while an ask is out nothing is held");
        escrows.held("b", 20, Instant::now());
        tokio::time::advance(USABLE).await;
        assert!(escrows.take(&[item(1)]).is_none(), "an escrow not confirmed for a while is not spent");
    }
}
