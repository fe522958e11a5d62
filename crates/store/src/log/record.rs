//! One request's log record: who asked for what, what served it, how long, how many tokens.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub request_id: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub started_at_ms: i64,
    pub customer_identifier: Option<String>,
    /// The virtual key's id (never the key), and its team.
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub feature: Option<String>,
    pub requested_model: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// The HTTP status the client was sent.
    pub status: u16,
    /// `ok`, `error`, `client_disconnected` or `incomplete` (a stream cut after it started).
    pub outcome: String,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    /// What the request cost in US dollars; `None` only when nothing was served.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// Where the cost came from: `catalog`, `config`, `estimate` (no price: estimated),
    /// `unpriced` (no price: counted as 0 by config) or `usage_estimated` (no usage reported).
    #[serde(default)]
    pub cost_source: Option<String>,
    /// What the response cache did: `HIT`, `SEMANTIC_HIT`, `MISS` or `BYPASS`; `None` when caching
    /// was not considered. A hit costs nothing (`cost_usd` 0).
    #[serde(default)]
    pub cache_status: Option<String>,
    /// On a hit, what the answer cost when it was first made: the spend the cache saved.
    #[serde(default)]
    pub cache_saved_usd: Option<f64>,
    pub stream: bool,
    pub attempts: u32,
    /// Every upstream attempt in order: provider, model, failure class, duration.
    #[serde(default)]
    pub attempt_log: Vec<AttemptDetail>,
    /// Only when the config stores bodies and the request did not set `disable_log`.
    pub request_body: Option<String>,
    pub response_body: Option<String>,
}

/// One upstream attempt of a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttemptDetail {
    pub provider: String,
    pub model: String,
    /// The failure class, `None` for the attempt that served.
    pub error: Option<String>,
    pub ms: f64,
}
