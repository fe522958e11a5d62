//! Step `authenticate`: the presented virtual key becomes a `Caller`, checked against the
//! in-memory key cache. A key in our format that this instance has not seen yet (created a moment
//! ago through another instance) is looked up once in the store, briefly; prefixes the store does
//! not know are remembered for a second so that a flood of made-up keys cannot turn into a flood
//! of database queries. A store that does not answer is `Unverifiable` (a retryable 503), never a
//! refusal of a key that may be valid.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::store::GovernanceStore;
use crate::time::now_ms;

use crate::govern::{AuthError, Caller, KeyCache, Lookup};

const STORE_LOOKUP_TIMEOUT: Duration = Duration::from_millis(500);

/// What authentication consults: the keys in memory, the store behind them, recent misses.
pub struct Keys<'a> {
    pub cache: &'a KeyCache,
    pub store: &'a dyn GovernanceStore,
    pub misses: &'a Misses,
}

pub async fn authenticate(keys: &Keys<'_>, token: Option<&str>) -> Result<Caller, AuthError> {
    let now = now_ms();
    let prefix = match keys.cache.lookup(token, now)? {
        Lookup::Known(caller) => return Ok(caller),
        Lookup::Unknown { prefix } => prefix,
    };
    let token = token.unwrap_or_default();
    if keys.misses.recently_missed(&prefix, now) {
        return Err(AuthError::Invalid);
    }
    let record = match tokio::time::timeout(STORE_LOOKUP_TIMEOUT, keys.store.key_by_prefix(&prefix)).await {
        Ok(Ok(record)) => record,
        // Not remembered as a miss: the key may well exist, and the next request asks again.
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot look up a key unknown to this instance");
            return Err(AuthError::Unverifiable);
        }
        Err(_) => {
            tracing::warn!(timeout = ?STORE_LOOKUP_TIMEOUT, "the key store did not answer a lookup of a key unknown to this instance");
            return Err(AuthError::Unverifiable);
        }
    };
    if record.is_none() {
        keys.misses.missed(&prefix, now);
    }
    keys.cache.learn(token.trim(), record, now)
}

/// Prefixes recently looked up and not found, each remembered for a second.
#[derive(Default)]
pub struct Misses(Mutex<HashMap<String, i64>>);

const MISS_MEMORY_MS: i64 = 1000;
const MAX_MISSES: usize = 10_000;

impl Misses {
    /// Whether the store said within the last second that it has no such prefix.
    pub fn recently_missed(&self, prefix: &str, now: i64) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(prefix).is_some_and(|at| now - *at < MISS_MEMORY_MS)
    }

    pub fn missed(&self, prefix: &str, now: i64) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_MISSES {
            map.retain(|_, at| now - *at < MISS_MEMORY_MS);
        }
        map.insert(prefix.to_string(), now);
    }
}
