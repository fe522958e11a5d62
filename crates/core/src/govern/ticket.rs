//! A `Ticket` is what an admitted request holds until it ends. Settling it (exactly once — on
//! drop at the latest) replaces the budget reservations with the real cost, corrects the
//! tokens-per-minute estimate with the real usage and frees the concurrency slots. Settling
//! never blocks the response: it runs as its own background task (which shutdown waits for), and
//! when the shared store is down it is queued and replayed once the store is back.

use std::sync::Arc;
use std::time::Duration;

use crate::store::{Admit, BudgetSettle, RateAdjust, Settle, StoreError};

use super::governor::Governor;
use super::items::{Meta, Rate};
use super::names::Unit;

const SETTLE_TIMEOUT: Duration = Duration::from_secs(2);

/// Which counters took the admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Where {
    Primary,
    /// This instance's counters and outage allowances, during a shared-store outage.
    Local,
}

/// What an admission took, to be given back or corrected.
#[derive(Debug, Clone, Default)]
pub(super) struct Taken {
    tpm: Vec<(RateAdjust, u64)>,
    slots: Vec<String>,
    budgets: Vec<(String, Unit, i64, u64)>,
}

impl Taken {
    pub(super) fn from_admit(admit: &Admit, meta: &Meta) -> Self {
        let tpm = admit
            .rates
            .iter()
            .zip(&meta.rates)
            .filter(|(_, (_, _, rate))| *rate == Rate::Tokens)
            .map(|(r, _)| (RateAdjust { key: r.key.clone(), limit: r.limit, period_ms: r.period_ms, burst: r.burst, delta: 0 }, r.cost))
            .collect();
        let slots = admit.slots.iter().map(|s| s.key.clone()).collect();
        let budgets = admit.budgets.iter().zip(&meta.budgets).map(|(b, m)| (b.key.clone(), m.unit, b.amount, b.ttl_ms)).collect();
        Self { tpm, slots, budgets }
    }

    fn is_empty(&self) -> bool {
        self.tpm.is_empty() && self.slots.is_empty() && self.budgets.is_empty()
    }
}

pub struct Ticket {
    inner: Option<(Arc<Governor>, String, Where, Taken)>,
}

impl Ticket {
    pub(super) fn new(governor: Arc<Governor>, lease_id: String, on: Where, taken: Taken) -> Self {
        if taken.is_empty() {
            return Self::free();
        }
        Self { inner: Some((governor, lease_id, on, taken)) }
    }

    /// Nothing was taken (no limits or budgets apply).
    pub fn free() -> Self {
        Self { inner: None }
    }

    /// Settles with what the request really used: `tokens` (input + output) and `cost_usd`.
    /// Unknown values settle at what was reserved.
    pub fn settle(mut self, tokens: Option<u64>, cost_usd: Option<f64>) {
        self.settle_now(tokens, cost_usd);
    }

    fn settle_now(&mut self, tokens: Option<u64>, cost_usd: Option<f64>) {
        let Some((gov, lease_id, on, taken)) = self.inner.take() else { return };
        let now_ms = crate::time::now_ms();
        let rates = taken
            .tpm
            .iter()
            .map(|(adjust, reserved)| RateAdjust { delta: tokens.map_or(0, |t| t as i64 - *reserved as i64), ..adjust.clone() })
            .filter(|a| a.delta != 0)
            .collect();
        let budgets: Vec<BudgetSettle> = taken
            .budgets
            .iter()
            .map(|(key, unit, reserved, ttl_ms)| {
                let actual = match unit {
                    Unit::NanoUsd => cost_usd.map_or(*reserved, super::items::to_nanos),
                    Unit::Tokens => tokens.map_or(*reserved, |t| t as i64),
                    // An admitted request counts once, however it ended.
                    Unit::Requests => *reserved,
                };
                // Admitted by the counters of record: settle that reservation. Admitted locally
                // (an outage): replayed later as spend without one.
                BudgetSettle { key: key.clone(), actual, ttl_ms: *ttl_ms, reserved: on == Where::Primary }
            })
            .collect();
        let settle = Settle { lease_id, now_ms, rates, slots: taken.slots.clone(), budgets };
        // Tracked: graceful shutdown waits for it, or the spend would never reach the counters.
        crate::tasks::spawn_background("settle", run(gov, on, settle, taken));
    }
}

async fn run(gov: Arc<Governor>, on: Where, settle: Settle, taken: Taken) {
    match (on, gov.health()) {
        (Where::Primary, None) => {
            if let Err(e) = gov.primary().settle(&settle).await {
                tracing::error!(error = %e, "settling with the local counters failed");
            }
        }
        (Where::Primary, Some(health)) => match tokio::time::timeout(SETTLE_TIMEOUT, gov.primary().settle(&settle)).await {
            Ok(Ok(())) => health.answered(),
            // Slow is not down: replayed after the next probe (settling a reservation is
            // idempotent, so a settle that ran meanwhile counts once).
            Ok(Err(StoreError::TimedOut(_))) | Err(_) => health.queue(settle),
            Ok(Err(e)) => {
                health.failed("settle", &e.to_string());
                health.queue(settle);
            }
        },
        (Where::Local, health) => {
            let limits = Settle { budgets: Vec::new(), ..settle.clone() };
            if let Err(e) = gov.local().settle(&limits).await {
                tracing::error!(error = %e, "settling with the local counters failed");
            }
            // The unused part of the reservation goes back to the escrow; the spend stays taken
            // from it until it is replayed into the shared totals, when they are back.
            let unused: Vec<(String, i64)> = taken
                .budgets
                .iter()
                .zip(&settle.budgets)
                .map(|((key, _, reserved, _), s)| (key.clone(), (reserved - s.actual).max(0)))
                .collect();
            gov.return_allowance(&unused);
            for ((key, _, reserved, _), s) in taken.budgets.iter().zip(&settle.budgets) {
                gov.seen_adjust(key, s.actual - reserved);
            }
            if let Some(health) = health {
                if !settle.budgets.is_empty() {
                    health.queue(Settle { rates: Vec::new(), slots: Vec::new(), ..settle });
                }
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.settle_now(None, None);
    }
}
