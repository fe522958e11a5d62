//! What tokens cost: the bundled price catalog (taken from LiteLLM's maintained table, see
//! `crates/core/data/NOTICE.md`), the one function that turns usage into USD, and the bounds used
//! to hold a request under a `max_cost_usd` ceiling.

mod catalog;
mod cost;
#[cfg(test)]
mod tests;

pub use catalog::{Catalog, CatalogError};
pub use cost::{cost_usd, max_output_within, worst_case_usd};

use serde::Deserialize;

/// Prices of one model in USD per million tokens. Also what a config override
/// `models.<name>.price: {input, output, cached_input, cache_write, reasoning}` reads.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Input tokens read from the provider's prompt cache; `None` = billed as `input`.
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Input tokens written to the provider's prompt cache; `None` = billed as `input`.
    #[serde(default)]
    pub cache_write: Option<f64>,
    /// Reasoning tokens, where priced apart from output; `None` = billed as `output`.
    #[serde(default)]
    pub reasoning: Option<f64>,
}

/// A price that cannot be right: negative, NaN or infinite. Names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("price `{field}` must be a finite number of USD per million tokens, at least 0 (got {value})")]
pub struct InvalidPrice {
    pub field: &'static str,
    pub value: f64,
}

impl Price {
    pub fn cached_input_rate(&self) -> f64 {
        self.cached_input.unwrap_or(self.input)
    }
    pub fn cache_write_rate(&self) -> f64 {
        self.cache_write.unwrap_or(self.input)
    }
    pub fn reasoning_rate(&self) -> f64 {
        self.reasoning.unwrap_or(self.output)
    }

    /// Checks every rate; config loading and the catalog parser both use it.
    pub fn check(&self) -> Result<(), InvalidPrice> {
        let fields = [
            ("input", Some(self.input)),
            ("output", Some(self.output)),
            ("cached_input", self.cached_input),
            ("cache_write", self.cache_write),
            ("reasoning", self.reasoning),
        ];
        match fields.into_iter().find(|(_, v)| v.is_some_and(|v| !(v.is_finite() && v >= 0.0))) {
            Some((field, Some(value))) => Err(InvalidPrice { field, value }),
            _ => Ok(()),
        }
    }
}

/// A catalog entry: the price and the most output tokens the model may produce.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelPrice {
    pub price: Price,
    pub max_output_tokens: Option<u64>,
}
