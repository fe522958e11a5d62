//! How much a budget's scope has spent in its current window. The default reads the request log
//! through `GovernanceStore::spend`; the gateway may supply its live budget counters instead.

use std::sync::Arc;

use serde::Serialize;
use switchyard_core::govern::names::window_start;
use switchyard_core::store::{Admitted, GovernanceStore, Scope, SpendQuery, StoreError, Window};

/// Spend of one scope since `since_ms` (`None`: all time).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Spent {
    pub usd: f64,
    pub tokens: u64,
    /// Requests that passed admission (sent upstream; cache hits are not counted here).
    pub requests: u64,
    #[serde(skip)]
    pub since_ms: Option<i64>,
}

#[async_trait::async_trait]
pub trait SpentLookup: Send + Sync {
    async fn spent(&self, scope: Scope, name: &str, window: Window, now_ms: i64) -> Result<Spent, StoreError>;
}

/// Spend summed from the request log, from the start of the current UTC day or month.
pub struct SpentFromLog(pub Arc<dyn GovernanceStore>);

#[async_trait::async_trait]
impl SpentLookup for SpentFromLog {
    async fn spent(&self, scope: Scope, name: &str, window: Window, now_ms: i64) -> Result<Spent, StoreError> {
        let since_ms = window_start(window, now_ms);
        let rows = self.0.spend(&SpendQuery::for_scope(scope, name, since_ms)).await?;
        let admitted = SpendQuery { admitted: Some(Admitted::Served), ..SpendQuery::for_scope(scope, name, since_ms) };
        let requests = self.0.spend(&admitted).await?.iter().map(|r| r.requests).sum();
        Ok(Spent {
            usd: rows.iter().map(|r| r.cost_usd).sum(),
            tokens: rows.iter().map(|r| r.input_tokens + r.output_tokens).sum(),
            requests,
            since_ms,
        })
    }
}
