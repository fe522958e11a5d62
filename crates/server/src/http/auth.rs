//! Step `authenticate` over HTTP: the virtual key from `Authorization: Bearer …` (or Anthropic's
//! `x-api-key`), checked against the in-memory key cache. A key in our format that this instance
//! has not seen yet (created a moment ago through another instance) is looked up once in the
//! store, briefly; prefixes the store does not know are remembered for a second so that a flood
//! of made-up keys cannot turn into a flood of database queries. A store that does not answer
//! is a 503 (`key_store_unavailable`, retryable), never a 401 for a key that may be valid.

use std::time::Duration;

use http::HeaderMap;
use switchyard_core::govern::{AuthError, Caller, Lookup};
use switchyard_core::time::now_ms;

use super::error::ApiError;
use super::App;

const STORE_LOOKUP_TIMEOUT: Duration = Duration::from_millis(500);

pub async fn authenticate(app: &App, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = presented_key(headers);
    let now = now_ms();
    let lookup = app.keys.lookup(token, now).map_err(ApiError::Unauthenticated)?;
    let prefix = match lookup {
        Lookup::Known(caller) => return Ok(caller),
        Lookup::Unknown { prefix } => prefix,
    };
    let token = token.unwrap_or_default();
    if app.misses.recently_missed(&prefix, now) {
        return Err(ApiError::Unauthenticated(AuthError::Invalid));
    }
    let record = match tokio::time::timeout(STORE_LOOKUP_TIMEOUT, app.store.key_by_prefix(&prefix)).await {
        Ok(Ok(record)) => record,
        // Not remembered as a miss: the key may well exist, and the next request asks again.
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot look up a key unknown to this instance");
            return Err(ApiError::Unauthenticated(AuthError::Unverifiable));
        }
        Err(_) => {
            tracing::warn!(timeout = ?STORE_LOOKUP_TIMEOUT, "the key store did not answer a lookup of a key unknown to this instance");
            return Err(ApiError::Unauthenticated(AuthError::Unverifiable));
        }
    };
    if record.is_none() {
        app.misses.missed(&prefix, now);
    }
    app.keys.learn(token.trim(), record, now).map_err(ApiError::Unauthenticated)
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, rest) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
    });
    bearer.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
}

/// Prefixes recently looked up and not found, each remembered for a second.
#[derive(Default)]
pub struct Misses(std::sync::Mutex<std::collections::HashMap<String, i64>>);

const MISS_MEMORY_MS: i64 = 1000;
const MAX_MISSES: usize = 10_000;

impl Misses {
    /// Whether the store said within the last second that it has no such prefix.
    pub fn recently_missed(&self, prefix: &str, now: i64) -> bool {
        self.0.lock().expect("misses lock").get(prefix).is_some_and(|at| now - *at < MISS_MEMORY_MS)
    }

    pub fn missed(&self, prefix: &str, now: i64) {
        let mut map = self.0.lock().expect("misses lock");
        if map.len() >= MAX_MISSES {
            map.retain(|_, at| now - *at < MISS_MEMORY_MS);
        }
        map.insert(prefix.to_string(), now);
    }
}
