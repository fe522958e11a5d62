//! Searching the request log (`LogSearch`): a typed filter, pages newest first, and an opaque
//! keyset cursor on (start time, request id) so that paging has no gaps or repeats while new
//! records arrive. `LogFilter::matches` is the meaning every backend's query must agree with.

use std::collections::BTreeMap;

use super::{LogRecord, StoreError};

/// The request log, searched. One method: the admin API, the CLI and the tests all go through it.
#[async_trait::async_trait]
pub trait LogSearch: Send + Sync + 'static {
    /// Records matching `filter`, newest first (by start time, then request id), at most
    /// `filter.limit`, and the cursor of the next page when there may be more.
    async fn search_logs(&self, filter: &LogFilter) -> Result<LogPage, StoreError>;
}

/// What a search keeps. Every field set must match (AND); `None` does not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    /// One request (`GET /admin/logs/{id}`).
    pub request_id: Option<String>,
    pub customer: Option<String>,
    pub team: Option<String>,
    /// The virtual key's id.
    pub key: Option<String>,
    pub feature: Option<String>,
    /// The model the client asked for.
    pub model: Option<String>,
    /// The model that served: its name, or `provider/model`.
    pub served_model: Option<String>,
    pub provider: Option<String>,
    pub status: Option<StatusFilter>,
    /// `HIT`, `SEMANTIC_HIT`, `MISS`, `BYPASS`.
    pub cache: Option<String>,
    /// Each metadata key must be present with exactly this value.
    pub metadata: BTreeMap<String, String>,
    /// Unix ms, inclusive.
    pub from_ms: Option<i64>,
    /// Unix ms, exclusive.
    pub to_ms: Option<i64>,
    pub min_latency_ms: Option<f64>,
    pub min_cost_usd: Option<f64>,
    /// Text in the stored request or response body (case-sensitive); records without bodies never
    /// match.
    pub text: Option<String>,
    /// Records after this one (in newest-first order).
    pub after: Option<LogCursor>,
    pub limit: usize,
}

/// `ok` (served), `error` (anything else), or one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Ok,
    Error,
    Code(u16),
}

impl StatusFilter {
    pub fn parse(text: &str) -> Option<StatusFilter> {
        match text {
            "ok" => Some(StatusFilter::Ok),
            "error" => Some(StatusFilter::Error),
            code => code.parse().ok().filter(|c| (100..=599).contains(c)).map(StatusFilter::Code),
        }
    }
}

/// A position in newest-first order: the last record of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCursor {
    pub started_at_ms: i64,
    pub request_id: String,
}

impl LogCursor {
    pub fn of(record: &LogRecord) -> Self {
        Self { started_at_ms: record.started_at_ms, request_id: record.request_id.clone() }
    }

    /// Opaque to clients: hex of `ms:id`.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.started_at_ms, self.request_id).bytes().map(|b| format!("{b:02x}")).collect()
    }

    pub fn decode(text: &str) -> Option<Self> {
        if !text.len().is_multiple_of(2) || !text.is_ascii() {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect();
        let plain = String::from_utf8(bytes?).ok()?;
        let (ms, id) = plain.split_once(':')?;
        Some(Self { started_at_ms: ms.parse().ok()?, request_id: id.to_string() })
    }

    /// Whether `record` comes after this position in newest-first order.
    pub fn is_before(&self, record: &LogRecord) -> bool {
        (record.started_at_ms, record.request_id.as_str()) < (self.started_at_ms, self.request_id.as_str())
    }
}

/// One page of a search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogPage {
    pub records: Vec<LogRecord>,
    pub next: Option<LogCursor>,
}

impl LogPage {
    /// From up to `limit + 1` matching records newest first: the extra one only says there is more.
    pub fn from_overfetch(mut records: Vec<LogRecord>, limit: usize) -> Self {
        let more = records.len() > limit;
        records.truncate(limit);
        let next = if more { records.last().map(LogCursor::of) } else { None };
        Self { records, next }
    }
}

impl LogFilter {
    /// Whether `r` is kept (not counting the cursor and limit).
    pub fn matches(&self, r: &LogRecord) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| want.as_ref().is_none_or(|w| have.as_ref() == Some(w));
        let served = |want: &String| {
            r.model.as_ref() == Some(want)
                || matches!((&r.provider, &r.model), (Some(p), Some(m)) if want.split_once('/') == Some((p.as_str(), m.as_str())))
        };
        let status = match self.status {
            None => true,
            Some(StatusFilter::Ok) => r.outcome == "ok",
            Some(StatusFilter::Error) => r.outcome != "ok",
            Some(StatusFilter::Code(c)) => r.status == c,
        };
        let has_text = |t: &String| [&r.request_body, &r.response_body].iter().any(|b| b.as_ref().is_some_and(|b| b.contains(t.as_str())));
        eq(&self.request_id, &Some(r.request_id.clone()))
            && eq(&self.customer, &r.customer_identifier)
            && eq(&self.team, &r.team)
            && eq(&self.key, &r.key_id)
            && eq(&self.feature, &r.feature)
            && self.model.as_ref().is_none_or(|m| *m == r.requested_model)
            && self.served_model.as_ref().is_none_or(served)
            && eq(&self.provider, &r.provider)
            && status
            && eq(&self.cache, &r.cache_status)
            && self.metadata.iter().all(|(k, v)| r.metadata.get(k) == Some(v))
            && self.from_ms.is_none_or(|from| r.started_at_ms >= from)
            && self.to_ms.is_none_or(|to| r.started_at_ms < to)
            && self.min_latency_ms.is_none_or(|min| r.latency_ms >= min)
            && self.min_cost_usd.is_none_or(|min| r.cost_usd.is_some_and(|c| c >= min))
            && self.text.as_ref().is_none_or(has_text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = LogCursor { started_at_ms: 1_800_000_000_123, request_id: "req:ü-1".into() };
        assert_eq!(LogCursor::decode(&c.encode()), Some(c));
        for bad in ["", "zz", "abc", "3132", "é1"] {
            assert_eq!(LogCursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn statuses_parse() {
        assert_eq!(StatusFilter::parse("ok"), Some(StatusFilter::Ok));
        assert_eq!(StatusFilter::parse("429"), Some(StatusFilter::Code(429)));
        assert_eq!(StatusFilter::parse("42"), None);
        assert_eq!(StatusFilter::parse("fine"), None);
    }
}
