//! Turning a request into counter items: which scopes apply, and for each its rate, slot and
//! budget items with what a refusal should say about them.

use crate::store::{Budget, BudgetItem, Limits, RateItem, Scope, SlotItem};

use super::names::{self, Unit, NANOS_PER_USD};

const MINUTE_MS: u64 = 60_000;

/// One scope that applies to a request, with its settings.
#[derive(Debug, Clone)]
pub struct Scoped {
    pub scope: Scope,
    pub name: String,
    /// The tenant whose counters these are, for scopes named by the request (customer,
    /// feature): customer `acme` of one team is not customer `acme` of another, so neither
    /// spends the other's budget nor learns its usage from a refusal. `None` for keys, teams
    /// (already a tenant) and models (the operator's protection of a provider's quota).
    pub within: Option<String>,
    pub limits: Limits,
    pub budget: Option<Budget>,
}

impl Scoped {
    /// The name its counters are kept under.
    pub fn counter_name(&self) -> std::borrow::Cow<'_, str> {
        match &self.within {
            Some(tenant) => format!("{tenant}/{}", self.name).into(),
            None => self.name.as_str().into(),
        }
    }
}

/// What a rate item limits, for headers and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    Requests,
    Tokens,
}

impl Rate {
    pub fn as_str(self) -> &'static str {
        match self {
            Rate::Requests => "requests",
            Rate::Tokens => "tokens",
        }
    }
}

/// Describes item `i` of each list in an `Admit`, in the same order.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub rates: Vec<(Scope, String, Rate)>,
    pub slots: Vec<(Scope, String)>,
    pub budgets: Vec<BudgetMeta>,
}

#[derive(Debug, Clone)]
pub struct BudgetMeta {
    pub scope: Scope,
    pub name: String,
    /// As in `Scoped`: whose spend counts, when the total is read back from the request log.
    pub within: Option<String>,
    pub unit: Unit,
    pub budget: Budget,
    pub limit: i64,
}

/// The worst case a request may cost, as reserved.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorstCase {
    pub tokens: u64,
    /// `None` when the model has no price and unpriced models count as free.
    pub usd: Option<f64>,
    /// Tokens reserved against tokens-per-minute limits (the input estimate, plus the output
    /// cap when the request set one).
    pub tpm_tokens: u64,
}

/// A token bucket (run as GCRA, which is the same thing kept as one timestamp): `capacity` units
/// at once, refilled at `limit` per minute. The capacity is the limit unless `burst` lowers it,
/// so a fresh key with `rpm: 30` may make 30 requests at once and then one every 2 s.
pub fn rate_item(key: String, limit: u64, capacity: Option<u64>, cost: u64) -> RateItem {
    let limit = limit.max(1);
    RateItem { key, limit, period_ms: MINUTE_MS, burst: capacity.unwrap_or(limit).clamp(1, limit), cost }
}

pub fn build(scopes: &[Scoped], worst: WorstCase, now_ms: i64) -> (Vec<RateItem>, Vec<SlotItem>, Vec<BudgetItem>, Meta) {
    let (mut rates, mut slots, mut budgets, mut meta) = (Vec::new(), Vec::new(), Vec::new(), Meta::default());
    for s in scopes {
        let counter = s.counter_name();
        if let Some(rpm) = s.limits.rpm {
            rates.push(rate_item(names::rate(s.scope, &counter, "rpm"), rpm, s.limits.burst, 1));
            meta.rates.push((s.scope, s.name.clone(), Rate::Requests));
        }
        if let Some(tpm) = s.limits.tpm {
            rates.push(rate_item(names::rate(s.scope, &counter, "tpm"), tpm, s.limits.tpm_burst, worst.tpm_tokens));
            meta.rates.push((s.scope, s.name.clone(), Rate::Tokens));
        }
        if let Some(max) = s.limits.concurrency {
            slots.push(SlotItem { key: names::slots(s.scope, &counter), max });
            meta.slots.push((s.scope, s.name.clone()));
        }
        let Some(budget) = &s.budget else { continue };
        for (unit, limit) in caps(budget) {
            let amount = match unit {
                Unit::NanoUsd => worst.usd.map(to_nanos).unwrap_or(0),
                Unit::Tokens => worst.tokens as i64,
                Unit::Requests => 1,
            };
            let key = names::budget(s.scope, &counter, unit, budget.window, now_ms);
            budgets.push(BudgetItem { key, limit, amount, ttl_ms: names::window_ttl_ms(budget.window, now_ms) });
            meta.budgets.push(BudgetMeta {
                scope: s.scope,
                name: s.name.clone(),
                within: s.within.clone(),
                unit,
                budget: budget.clone(),
                limit,
            });
        }
    }
    (rates, slots, budgets, meta)
}

/// The caps of a budget, each counted apart: dollars or tokens (dollars win when both are set),
/// and requests.
pub fn caps(budget: &Budget) -> impl Iterator<Item = (Unit, i64)> {
    let spend = match (budget.usd, budget.tokens) {
        (Some(usd), _) => Some((Unit::NanoUsd, to_nanos(usd))),
        (None, Some(tokens)) => Some((Unit::Tokens, tokens as i64)),
        (None, None) => None,
    };
    let requests = budget.requests.map(|n| (Unit::Requests, n.min(i64::MAX as u64) as i64));
    spend.into_iter().chain(requests)
}

pub fn to_nanos(usd: f64) -> i64 {
    (usd * NANOS_PER_USD).round().clamp(0.0, i64::MAX as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Window;

    #[test]
    fn every_limit_and_budget_becomes_an_item_described_by_its_meta() {
        let scopes = [
            Scoped {
                scope: Scope::Key,
                name: "key_1".into(),
                within: None,
                limits: Limits { rpm: Some(120), tpm: Some(10_000), concurrency: Some(2), ..Limits::default() },
                budget: None,
            },
            Scoped {
                scope: Scope::Team,
                name: "a:b".into(),
                within: None,
                limits: Limits::default(),
                budget: Some(Budget {
                    usd: Some(1.5),
                    tokens: None,
                    requests: None,
                    window: Window::Daily,
                    soft_pct: None,
                    downgrade_to: None,
                    downgrade_pct: None,
                    alerts: None,
                }),
            },
        ];
        let worst = WorstCase { tokens: 300, usd: Some(0.01), tpm_tokens: 120 };
        let (rates, slots, budgets, meta) = build(&scopes, worst, 1_795_329_900_000);
        assert_eq!(rates.len(), 2);
        assert_eq!((rates[0].burst, rates[0].cost), (120, 1), "120 rpm: a bucket of 120 requests");
        assert_eq!((rates[1].burst, rates[1].cost), (10_000, 120));
        assert_eq!(slots[0].max, 2);
        assert_eq!((budgets[0].limit, budgets[0].amount), (1_500_000_000, 10_000_000));
        assert_eq!(budgets[0].key, "switchyard:b:team:a%3Ab:usd:d2026-11-22");
        assert_eq!(meta.rates[1], (Scope::Key, "key_1".to_string(), Rate::Tokens));
        assert_eq!(meta.budgets[0].unit, Unit::NanoUsd);
    }

    #[test]
    fn a_request_cap_is_its_own_item_next_to_the_dollars_and_takes_one_per_request() {
        let budget = Budget {
            usd: Some(2.0),
            tokens: None,
            requests: Some(1000),
            window: Window::Monthly,
            soft_pct: Some(80.0),
            downgrade_to: None,
            downgrade_pct: None,
            alerts: None,
        };
        let scoped = Scoped { scope: Scope::Feature, name: "chat".into(), within: None, limits: Limits::default(), budget: Some(budget) };
        let worst = WorstCase { tokens: 900, usd: Some(0.01), tpm_tokens: 900 };
        let (_, _, budgets, meta) = build(&[scoped], worst, 1_795_329_900_000);
        assert_eq!(budgets.len(), 2);
        assert_eq!((budgets[1].limit, budgets[1].amount), (1000, 1));
        assert_eq!(budgets[1].key, "switchyard:b:feature:chat:req:m2026-11");
        assert_eq!((meta.budgets[0].unit, meta.budgets[1].unit), (Unit::NanoUsd, Unit::Requests));
    }

    #[test]
    fn customer_counters_are_kept_per_tenant() {
        let budget = Budget {
            usd: Some(1.0),
            tokens: None,
            requests: None,
            window: Window::Total,
            soft_pct: None,
            downgrade_to: None,
            downgrade_pct: None,
            alerts: None,
        };
        let acme = |tenant: &str| Scoped {
            scope: Scope::Customer,
            name: "acme".into(),
            within: Some(tenant.into()),
            limits: Limits { rpm: Some(60), ..Limits::default() },
            budget: Some(budget.clone()),
        };
        let worst = WorstCase { tokens: 1, usd: Some(0.01), tpm_tokens: 1 };
        let (rates_a, _, budgets_a, meta_a) = build(&[acme("team:a")], worst, 0);
        let (rates_b, _, budgets_b, _) = build(&[acme("team:b")], worst, 0);
        assert_ne!(rates_a[0].key, rates_b[0].key);
        assert_ne!(budgets_a[0].key, budgets_b[0].key);
        assert_eq!(budgets_a[0].key, "switchyard:b:customer:team%3Aa/acme:usd:total");
        assert_eq!(
            (meta_a.budgets[0].name.as_str(), meta_a.budgets[0].within.as_deref()),
            ("acme", Some("team:a")),
            "messages name the customer alone"
        );
    }

    #[test]
    fn a_rate_limit_is_a_bucket_of_the_whole_minute_unless_burst_lowers_it() {
        let scoped = |limits| Scoped { scope: Scope::Key, name: "k".into(), within: None, limits, budget: None };
        let worst = WorstCase { tokens: 1, usd: None, tpm_tokens: 50 };
        let (rates, ..) = build(&[scoped(Limits { rpm: Some(30), tpm: Some(6_000), ..Limits::default() })], worst, 0);
        let buckets: Vec<_> = rates.iter().map(|r| (r.limit, r.period_ms, r.burst, r.cost)).collect();
        assert_eq!(buckets, [(30, 60_000, 30, 1), (6_000, 60_000, 6_000, 50)], "a fresh key may use a whole minute at once");
        let smooth = Limits { rpm: Some(30), burst: Some(1), tpm: Some(6_000), tpm_burst: Some(1_000), ..Limits::default() };
        let (rates, ..) = build(&[scoped(smooth)], worst, 0);
        assert_eq!((rates[0].burst, rates[1].burst), (1, 1_000));
    }
}
