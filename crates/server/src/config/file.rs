//! What serde reads from the YAML file, section by section, so that every section (and every
//! provider and model entry) is checked on its own and all problems are reported at once.

use std::time::Duration;

use serde::Deserialize;

/// The top-level keys and what each expects; anything else is an unknown key.
pub const KEYS: &[(&str, &str)] = &[
    ("listen", "an address like 127.0.0.1:4000"),
    ("data_dir", "a directory path"),
    ("database", "sqlite://PATH or postgres://USER@HOST/DB"),
    ("redis", "redis://HOST:PORT (shared state between instances)"),
    ("max_body_bytes", "a number of bytes"),
    ("shutdown_grace", "a duration like 30s"),
    ("log", "{ bodies: bool, queue: number }"),
    ("admin", "{ listen: HOST:PORT, key: admin API key (16+ characters) }"),
    ("keys", "{ secret: 32+ characters, require: bool }"),
    ("governance", "{ on_redis_outage: { limits: local|closed, budgets: lease|open|closed, lease_pct }, redis_timeout, alerts: { webhook, slack, email: { smtp, from, to }, scopes: { <scope>: { webhook, slack, email } } }, alert_webhook }"),
    ("pricing", "{ unpriced: block|estimate|zero, estimate: { input, output }, default_max_output_tokens }"),
    ("cache", "{ max_bytes, ttl, max_ttl, by_customer, count_hits }"),
    ("monitors", "a list of { name, model | provider, error_rate_above | p95_latency_ms_above | circuit_open, window, min_requests, alerts, send_resolved }"),
    ("server", "{ header_timeout, idle_timeout, body_timeout, max_connections, max_in_flight, allowed_origins, allowed_hosts }"),
    ("telemetry", "{ otlp_endpoint: URL, protocol: http/protobuf|grpc, sample_ratio: 0..1, capture_content: bool }"),
    ("providers", "a map of provider name to provider settings"),
    ("models", "a map of model alias to { targets, timeouts }"),
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Store request and response bodies in the log (off by default).
    #[serde(default)]
    pub bodies: bool,
    /// Records queued for the writer before they overflow to the spool.
    #[serde(default)]
    pub queue: Option<usize>,
}

/// The admin API's listener and key; the key may also come from `SWITCHYARD_ADMIN_KEY`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    #[serde(default)]
    pub listen: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub targets: Vec<TargetConfig>,
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
    #[serde(default)]
    pub strategy: StrategyConfig,
    /// Models (aliases or `provider/model`) tried after this model's own targets.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// Larger-window models tried only when the prompt does not fit.
    #[serde(default)]
    pub context_fallbacks: Vec<String>,
    /// USD per million tokens, overriding the bundled catalog for this alias.
    #[serde(default)]
    pub price: Option<switchyard_core::pricing::Price>,
    /// Rate limits for everyone calling this alias together.
    #[serde(default)]
    pub limits: Option<switchyard_core::store::Limits>,
    /// Response caching for this alias.
    #[serde(default)]
    pub cache: Option<super::ModelCacheConfig>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyConfig {
    #[default]
    Ordered,
    Weighted,
    LeastLatency,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub provider: String,
    pub model: String,
    /// For `strategy: weighted` (default 1).
    #[serde(default)]
    pub weight: Option<u32>,
}

/// Connect timeouts belong to the provider (`connect_timeout`): one pooled client per provider
/// cannot vary its connect timeout per model.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// Until a stream's first content chunk.
    #[serde(default, with = "humantime_serde")]
    pub first_token: Option<Duration>,
    /// One streamed attempt, to its last chunk.
    #[serde(default, with = "humantime_serde")]
    pub total: Option<Duration>,
    /// One non-streamed attempt, to its whole answer (default: `total` when that is set).
    #[serde(default, with = "humantime_serde")]
    pub non_stream: Option<Duration>,
    /// Across all attempts (retries and fallbacks).
    #[serde(default, with = "humantime_serde")]
    pub overall: Option<Duration>,
    /// Longest silence between two chunks of a started stream.
    #[serde(default, with = "humantime_serde")]
    pub idle: Option<Duration>,
    /// Opt-in hedging: no first token from a target after this long starts the next one too.
    #[serde(default, with = "humantime_serde")]
    pub hedge_after: Option<Duration>,
    /// How long a stream waiting for its first token is held before its headers go out.
    #[serde(default, with = "humantime_serde")]
    pub hold: Option<Duration>,
    /// Silence after which a committed stream gets an SSE comment.
    #[serde(default, with = "humantime_serde")]
    pub keep_alive: Option<Duration>,
}

/// A duration written like `250ms`, `30s` or `2m`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(transparent)]
pub struct HumanDuration(#[serde(with = "humantime_serde")] pub Duration);
