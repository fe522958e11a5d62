//! The request log's port: one record per request (`LogRecord`), where records are stored
//! (`LogSink`), and how the request path hands a record over (`LogHandle`) without knowing the
//! writer behind it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use switchyard_providers::ErrorKind;

use super::StoreError;

/// A place request records are stored. Inserting a request id that is already there is a no-op,
/// which is what makes spool replay safe to repeat. Called from the writer's own thread.
pub trait LogSink: Send + 'static {
    fn insert(&mut self, records: &[LogRecord]) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub limit: usize,
    /// Matches the requested or the served model.
    pub model: Option<String>,
    pub customer: Option<String>,
}

/// What takes records off the request path (the store's `LogWriter`). `submit` is on the hot
/// path: it must never block and never wait for I/O.
pub trait LogSubmit: Send + Sync + 'static {
    fn submit(&self, record: LogRecord);
    fn status(&self) -> LogStatus;
}

/// What the request path holds: cheap to clone (one reference count), and a submit that never
/// blocks.
#[derive(Clone)]
pub struct LogHandle(Arc<dyn LogSubmit>);

impl LogHandle {
    pub fn new(writer: Arc<dyn LogSubmit>) -> Self {
        Self(writer)
    }

    /// Hands a record over without waiting.
    pub fn submit(&self, record: LogRecord) {
        self.0.submit(record)
    }

    pub fn status(&self) -> LogStatus {
        self.0.status()
    }
}

/// The writer's health, for `/health` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogStatus {
    pub database_ok: bool,
    pub written: u64,
    pub spooled: u64,
    pub replayed: u64,
    /// Records waiting in the writer's queue.
    pub queued: u64,
    /// Bytes of spooled records not yet replayed.
    pub spool_bytes: u64,
}

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
    /// Why the attempt did not serve; `None` for the attempt that served.
    pub error: Option<AttemptError>,
    pub ms: f64,
    /// Its trace span, when the request was traced; never stored.
    #[serde(skip)]
    pub span: Option<crate::telemetry::AttemptSpan>,
}

impl AttemptDetail {
    /// Whether a request went upstream: a target passed over for its open circuit did not.
    pub fn reached_upstream(&self) -> bool {
        self.error != Some(AttemptError::CircuitOpen)
    }
}

/// Why an attempt did not serve, or why the stream it was serving stopped before its end. Stored
/// (and shown in the log) as its name: the provider failure class (`overloaded`, `timeout`,
/// `interrupted`, …), `circuit_open`, `hedge_cancelled`, or a cut stream's `idle_timeout`,
/// `deadline`, `shutting_down`, `client_disconnected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptError {
    /// The upstream failed with this class.
    Failed(ErrorKind),
    /// Not sent: the target's circuit was open and another target was left.
    CircuitOpen,
    /// The other leg of a hedged pair answered first; this one was cancelled.
    HedgeCancelled,
    /// Its stream went silent longer than the `idle` timeout and was cut.
    IdleTimeout,
    /// Its stream ran past the attempt's `total` deadline and was cut.
    Deadline,
    /// Its stream was still running when the shutdown grace period ran out.
    ShuttingDown,
    /// The client went away while its stream was running.
    ClientDisconnected,
    /// A name this version does not know (a record written by another version).
    Unknown,
}

impl AttemptError {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptError::Failed(kind) => kind.as_str(),
            AttemptError::CircuitOpen => "circuit_open",
            AttemptError::HedgeCancelled => "hedge_cancelled",
            AttemptError::IdleTimeout => "idle_timeout",
            AttemptError::Deadline => "deadline",
            AttemptError::ShuttingDown => "shutting_down",
            AttemptError::ClientDisconnected => "client_disconnected",
            AttemptError::Unknown => "unknown",
        }
    }

    fn parse(name: &str) -> AttemptError {
        match name {
            "circuit_open" => AttemptError::CircuitOpen,
            "hedge_cancelled" => AttemptError::HedgeCancelled,
            "idle_timeout" => AttemptError::IdleTimeout,
            "deadline" => AttemptError::Deadline,
            "shutting_down" => AttemptError::ShuttingDown,
            "client_disconnected" => AttemptError::ClientDisconnected,
            other => ErrorKind::parse(other).map_or(AttemptError::Unknown, AttemptError::Failed),
        }
    }
}

impl Serialize for AttemptError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AttemptError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(AttemptError::parse(&name))
    }
}

#[cfg(test)]
mod attempt_error_tests {
    use super::*;

    #[test]
    fn attempt_errors_are_stored_by_name_and_read_back_leniently() {
        let log = vec![
            AttemptDetail { error: Some(AttemptError::CircuitOpen), ..AttemptDetail::default() },
            AttemptDetail { error: Some(AttemptError::HedgeCancelled), ..AttemptDetail::default() },
            AttemptDetail { error: Some(AttemptError::Failed(ErrorKind::Overloaded)), ..AttemptDetail::default() },
            AttemptDetail::default(),
        ];
        let json = serde_json::to_value(&log).unwrap();
        let names: Vec<&serde_json::Value> = json.as_array().unwrap().iter().map(|a| &a["error"]).collect();
        assert_eq!(
            names,
            [
                &serde_json::json!("circuit_open"),
                &serde_json::json!("hedge_cancelled"),
                &serde_json::json!("overloaded"),
                &serde_json::Value::Null
            ]
        );
        assert_eq!(serde_json::from_value::<Vec<AttemptDetail>>(json).unwrap(), log);
        let newer: AttemptDetail = serde_json::from_str(r#"{"provider":"p","model":"m","error":"quota_gone","ms":1}"#).unwrap();
        assert_eq!(newer.error, Some(AttemptError::Unknown));
        assert!(!log[0].reached_upstream() && log[1].reached_upstream());
        let cuts = [AttemptError::IdleTimeout, AttemptError::Deadline, AttemptError::ShuttingDown, AttemptError::ClientDisconnected];
        for cut in cuts {
            assert_eq!(AttemptError::parse(cut.as_str()), cut, "{}", cut.as_str());
        }
    }
}
