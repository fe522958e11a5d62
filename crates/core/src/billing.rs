//! What a request costs: the price of the model that served it (a config override, else the
//! bundled catalog, else the `unpriced` rule — never a silent null) applied to the usage the
//! provider reported. The `Bill` travels with the request's recorder, which settles it exactly
//! once when the request ends.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use switchyard_protocol::Usage;

use crate::govern::Ticket;
use crate::pricing::{cost_usd, worst_case_usd, Catalog, Price};
use crate::route::{PlannedAttempt, Target};

/// What to do with a model that has no price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unpriced {
    /// Refuse the request (403 `model_unpriced`).
    Block,
    /// Charge the configured estimate price, marked `estimate` in the log.
    #[default]
    Estimate,
    /// Charge nothing, marked `unpriced` in the log and warned about once per model.
    Zero,
}

pub struct Pricing {
    pub catalog: &'static Catalog,
    /// Per model alias or `provider/model`, from `models.<name>.price`.
    pub overrides: HashMap<String, Price>,
    pub unpriced: Unpriced,
    /// The price charged for unpriced models under `Unpriced::Estimate`.
    pub estimate: Price,
    /// Output tokens assumed when neither the request nor the catalog bounds them.
    pub default_max_output: u64,
    warned: Mutex<HashSet<String>>,
}

/// A price and where it came from (`config`, `catalog`, `free`, `estimate`, `unpriced`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Priced {
    pub price: Price,
    pub source: &'static str,
}

const ZERO: Price = Price { input: 0.0, output: 0.0, cached_input: None, cache_write: None, reasoning: None };

impl Default for Pricing {
    fn default() -> Self {
        Self {
            catalog: Catalog::bundled(),
            overrides: HashMap::new(),
            unpriced: Unpriced::default(),
            // Deliberately on the expensive side of current frontier models, so that an
            // unpriced model holds budgets rather than slipping through them.
            estimate: Price { input: 15.0, output: 75.0, cached_input: None, cache_write: None, reasoning: None },
            default_max_output: 4096,
            warned: Mutex::new(HashSet::new()),
        }
    }
}

impl Pricing {
    /// The price of `target` when it serves: the configured price of the alias it was planned
    /// through, else of its `provider/model`, else the catalog's. The model the client asked for
    /// plays no part — a fallback or a downgrade is billed as what actually served. `None` when
    /// the model has no price and unpriced models are blocked.
    pub fn price(&self, target: &Target) -> Option<Priced> {
        let qualified = || format!("{}/{}", target.provider_name, target.model);
        if !self.overrides.is_empty() {
            let by_alias = target.alias.as_deref().and_then(|a| self.overrides.get(a));
            if let Some(p) = by_alias.or_else(|| self.overrides.get(&qualified())) {
                return Some(Priced { price: *p, source: "config" });
            }
        }
        let kind = target.provider.kind();
        if target.provider.free() {
            return Some(Priced { price: ZERO, source: "free" });
        }
        if let Some(found) = self.catalog.lookup(kind, &target.model) {
            return Some(Priced { price: found.price, source: "catalog" });
        }
        match self.unpriced {
            Unpriced::Block => None,
            Unpriced::Estimate => {
                self.warn_once(&qualified(), "charged at the configured estimate price");
                Some(Priced { price: self.estimate, source: "estimate" })
            }
            Unpriced::Zero => {
                self.warn_once(&qualified(), "counted as free (pricing.unpriced: zero)");
                Some(Priced { price: ZERO, source: "unpriced" })
            }
        }
    }

    /// The most any planned target could charge for `input` tokens in and `max_out` out, each
    /// target at its own price: a fallback may be dearer than the primary, and a reservation
    /// must cover whichever serves. Unpriced targets (blocked) cannot serve and add nothing.
    pub fn worst_case_usd(&self, plan: &[PlannedAttempt], input: u64, max_out: u64) -> f64 {
        plan.iter().filter_map(|p| self.price(&p.target)).map(|p| worst_case_usd(&p.price, input, max_out)).fold(0.0, f64::max)
    }

    /// The most output tokens `target` may produce when the request does not say.
    pub fn max_output(&self, target: &Target) -> u64 {
        self.catalog.lookup(target.provider.kind(), &target.model).and_then(|m| m.max_output_tokens).unwrap_or(self.default_max_output)
    }

    fn warn_once(&self, model: &str, what: &str) {
        if self.warned.lock().expect("pricing lock").insert(model.to_string()) {
            tracing::warn!(model, "model has no price in the catalog or config: {what}; set models.<name>.price to bill it exactly");
        }
    }
}

/// What a request will be charged and what it reserved, carried by its recorder.
pub struct Bill {
    pub ticket: Ticket,
    /// The price of the target planned first; replaced by the serving target's when known.
    pub priced: Option<Priced>,
    /// The input estimate, for requests that got an answer but no usage.
    pub input_estimate: u64,
}

impl Bill {
    /// The cost of `usage` at this bill's price, and the cost's source. A request answered
    /// without usage (a stream cut short) is charged `estimate(delivered_output)`.
    pub fn cost(&self, usage: Option<&Usage>, served: bool, delivered_output: u64) -> (Option<f64>, Option<&'static str>) {
        let Some(priced) = self.priced else { return (None, None) };
        match usage {
            Some(u) if u.total() > 0 => (Some(cost_usd(&priced.price, u)), Some(priced.source)),
            _ if served => (Some(cost_usd(&priced.price, &self.estimate(delivered_output))), Some("usage_estimated")),
            _ => (Some(0.0), Some(priced.source)),
        }
    }

    /// What an answer without a usage report is taken to have used: the prompt's estimate and
    /// the output tokens the gateway counted as they were delivered.
    pub fn estimate(&self, output_tokens: u64) -> Usage {
        Usage { input_tokens: self.input_estimate, output_tokens, ..Usage::default() }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use switchyard_providers::registry::{build, ProviderConfig};

    use super::*;
    use crate::route::{Health, ModelRoute, Router, Strategy, TargetSpec, Timeouts};

    fn price(input: f64, output: f64) -> Price {
        Price { input, output, cached_input: None, cache_write: None, reasoning: None }
    }

    fn alias(model: &str, fallbacks: &[&str]) -> ModelRoute {
        ModelRoute {
            targets: vec![TargetSpec { provider: "mock".into(), model: model.into(), weight: 1 }],
            timeouts: Timeouts::default(),
            strategy: Strategy::Ordered,
            fallbacks: fallbacks.iter().map(|f| f.to_string()).collect(),
            context_fallbacks: Vec::new(),
        }
    }

    /// `pricey` (1000/2000) falls back to `cheap` (1/2), then to `mock/plain`, which no alias prices.
    fn setup() -> (Router, Pricing) {
        let mock = build("mock", &ProviderConfig::Mock(Default::default())).unwrap();
        let aliases =
            BTreeMap::from([("pricey".to_string(), alias("down", &["cheap", "mock/plain"])), ("cheap".to_string(), alias("echo", &[]))]);
        let router = Router::new(vec![("mock".into(), mock)], aliases, Timeouts::default());
        let pricing = Pricing {
            overrides: HashMap::from([("pricey".to_string(), price(1000.0, 2000.0)), ("cheap".to_string(), price(1.0, 2.0))]),
            ..Pricing::default()
        };
        (router, pricing)
    }

    #[test]
    fn each_planned_target_is_priced_by_its_own_alias_not_the_asked_one() {
        let (router, pricing) = setup();
        let plan = router.plan("pricey", &[], &Health::default()).unwrap();
        let priced: Vec<(String, Option<Priced>)> =
            plan.iter().map(|p| (format!("{}/{}", p.target.provider_name, p.target.model), pricing.price(&p.target))).collect();
        assert_eq!(
            priced,
            [
                ("mock/down".to_string(), Some(Priced { price: price(1000.0, 2000.0), source: "config" })),
                ("mock/echo".to_string(), Some(Priced { price: price(1.0, 2.0), source: "config" })),
                // A `provider/model` fallback: no alias, so the catalog (mock models are free).
                ("mock/plain".to_string(), Some(Priced { price: ZERO, source: "free" })),
            ]
        );
        // A downgrade plans the cheaper alias itself: billed at its price.
        let downgraded = router.plan("cheap", &[], &Health::default()).unwrap();
        assert_eq!(pricing.price(&downgraded[0].target), Some(Priced { price: price(1.0, 2.0), source: "config" }));
    }

    #[test]
    fn a_provider_model_name_is_priced_by_its_own_override() {
        let (router, mut pricing) = setup();
        pricing.overrides.insert("mock/plain".into(), price(3.0, 4.0));
        let plan = router.plan("mock/plain", &[], &Health::default()).unwrap();
        assert_eq!(pricing.price(&plan[0].target).map(|p| p.price), Some(price(3.0, 4.0)));
    }

    #[test]
    fn the_worst_case_covers_the_dearest_planned_target_at_its_own_price() {
        let (router, pricing) = setup();
        let health = Health::default();
        let (input, max_out) = (1_000, 500);
        let pricey = router.plan("pricey", &[], &health).unwrap();
        let expected = (1_000.0 * 1000.0 + 500.0 * 2000.0) / 1e6;
        assert!((pricing.worst_case_usd(&pricey, input, max_out) - expected).abs() < 1e-12);
        // Once downgraded to `cheap`, the reservation is cheap's, not pricey's.
        let cheap = router.plan("cheap", &[], &health).unwrap();
        let expected = (1_000.0 * 1.0 + 500.0 * 2.0) / 1e6;
        assert!((pricing.worst_case_usd(&cheap, input, max_out) - expected).abs() < 1e-12);
        // Asked for `cheap` with `pricey` as a request fallback: pricey's price is reserved.
        let with_fallback = router.plan("cheap", &["pricey".into()], &health).unwrap();
        let expected = (1_000.0 * 1000.0 + 500.0 * 2000.0) / 1e6;
        assert!((pricing.worst_case_usd(&with_fallback, input, max_out) - expected).abs() < 1e-12);
    }

    #[test]
    fn the_bill_charges_the_usage_at_the_priced_rate() {
        let (router, pricing) = setup();
        let plan = router.plan("pricey", &[], &Health::default()).unwrap();
        let bill = Bill { ticket: Ticket::free(), priced: pricing.price(&plan[1].target), input_estimate: 0 };
        let usage = Usage { input_tokens: 10, output_tokens: 20, ..Usage::default() };
        assert_eq!(bill.cost(Some(&usage), true, 0), (Some((10.0 * 1.0 + 20.0 * 2.0) / 1e6), Some("config")));
        // Cut short without usage: the prompt's estimate and what was delivered.
        let cut = Bill { input_estimate: 10, ..bill };
        assert_eq!(cut.cost(None, true, 20), (Some((10.0 * 1.0 + 20.0 * 2.0) / 1e6), Some("usage_estimated")));
    }
}
