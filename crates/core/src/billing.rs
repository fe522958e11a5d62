//! What a request costs: the price of the model that served it (a config override, else the
//! bundled catalog, else the `unpriced` rule — never a silent null) applied to the usage the
//! provider reported. The `Bill` travels with the request's recorder, which settles it exactly
//! once when the request ends.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use switchyard_protocol::Usage;

use crate::govern::Ticket;
use crate::pricing::{cost_usd, Catalog, Price};
use crate::route::Target;

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
    /// The price of `target` serving a request for `requested`; `None` when the model has no
    /// price and unpriced models are blocked.
    pub fn price(&self, requested: &str, target: &Target) -> Option<Priced> {
        let qualified = || format!("{}/{}", target.provider_name, target.model);
        if !self.overrides.is_empty() {
            if let Some(p) = self.overrides.get(requested).or_else(|| self.overrides.get(&qualified())) {
                return Some(Priced { price: *p, source: "config" });
            }
        }
        let kind = target.provider.kind();
        if kind == "mock" {
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
    /// The cost of `usage` at this bill's price, and the cost's source.
    pub fn cost(&self, usage: Option<&Usage>, served: bool) -> (Option<f64>, Option<&'static str>) {
        let Some(priced) = self.priced else { return (None, None) };
        match usage {
            Some(u) if u.input_tokens + u.output_tokens > 0 => (Some(cost_usd(&priced.price, u)), Some(priced.source)),
            // Answered without usage (a stream cut short): at least the prompt was billed.
            _ if served => {
                let estimate = Usage { input_tokens: self.input_estimate, ..Usage::default() };
                (Some(cost_usd(&priced.price, &estimate)), Some("usage_estimated"))
            }
            _ => (Some(0.0), Some(priced.source)),
        }
    }
}
