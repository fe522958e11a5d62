//! Circuit-breaker state shared between gateway instances: each open circuit is one field of the
//! hash `switchyard:circuits` (`provider/model` → the Unix ms at which it may close). The server
//! calls `sync` periodically off the request path and applies what it gets back to its breakers.

use std::collections::HashMap;
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::{AsyncCommands, RedisResult};
use switchyard_core::store::StoreError;

const CIRCUITS: &str = "switchyard:circuits";

/// One instance's view of the shared circuits, with its own connection: made on first use and
/// again after any failure, so that a Redis that comes back is picked up on the next sync.
pub struct RedisCircuits {
    url: String,
    /// Bounds the connection attempt; a whole sync may take four times as long.
    timeout: Duration,
    conn: Option<ConnectionManager>,
    /// `CIRCUITS`; tests use a hash of their own, so that they never close a running gateway's.
    hash: String,
}

impl RedisCircuits {
    pub fn new(url: String, timeout: Duration) -> Self {
        Self { url, timeout, conn: None, hash: CIRCUITS.to_string() }
    }

    /// Publishes the circuits this instance opened (`provider/model`, Unix ms until which they
    /// stay open), removes those whose time passed at `now_ms`, and returns every circuit still
    /// open, whoever opened it.
    pub async fn sync(&mut self, opened: &[(String, i64)], now_ms: i64) -> Result<HashMap<String, i64>, StoreError> {
        let result = match tokio::time::timeout(self.timeout * 4, self.exchange(opened, now_ms)).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Other(format!("redis circuits: no answer within {:?}", self.timeout * 4))),
        };
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    async fn exchange(&mut self, opened: &[(String, i64)], now_ms: i64) -> Result<HashMap<String, i64>, StoreError> {
        let conn = match &mut self.conn {
            Some(c) => c,
            None => self.conn.insert(connect(&self.url, self.timeout).await?),
        };
        publish_and_read(conn, &self.hash, opened, now_ms).await.map_err(|e| StoreError::Other(format!("redis circuits: {e}")))
    }
}

async fn connect(url: &str, timeout: Duration) -> Result<ConnectionManager, StoreError> {
    let client = ::redis::Client::open(url).map_err(|e| StoreError::Other(format!("redis circuits: {e}")))?;
    tokio::time::timeout(timeout, ConnectionManager::new(client))
        .await
        .map_err(|_| StoreError::Other(format!("redis circuits: no connection within {timeout:?}")))?
        .map_err(|e| StoreError::Other(format!("redis circuits: {e}")))
}

async fn publish_and_read(
    conn: &mut ConnectionManager,
    hash: &str,
    opened: &[(String, i64)],
    now_ms: i64,
) -> RedisResult<HashMap<String, i64>> {
    for (target, until_ms) in opened {
        let _: () = conn.hset(hash, target, until_ms).await?;
    }
    // One small hash, read whole: never a scan of the keyspace (which holds cache entries and
    // counters too). Circuits whose reopen time passed are removed by whoever sees them.
    let mut open: HashMap<String, i64> = conn.hgetall(hash).await?;
    let closed: Vec<String> = open.iter().filter(|(_, until_ms)| **until_ms <= now_ms).map(|(target, _)| target.clone()).collect();
    if !closed.is_empty() {
        open.retain(|_, until_ms| *until_ms > now_ms);
        let _: () = conn.hdel(hash, closed).await?;
    }
    Ok(open)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Redis of the test script; `None` only when the script says it is missing on purpose
    /// (as `tests/support/services.rs`).
    fn redis_url() -> Option<String> {
        if let Ok(url) = std::env::var("SWITCHYARD_TEST_REDIS_URL") {
            return Some(url);
        }
        match std::env::var("SWITCHYARD_SKIP_REDIS") {
            Ok(why) => {
                eprintln!("SKIPPED: Redis — SWITCHYARD_SKIP_REDIS={why}");
                None
            }
            Err(_) => panic!("SWITCHYARD_TEST_REDIS_URL is not set (redis://127.0.0.1:6379); set SWITCHYARD_SKIP_REDIS=<reason> to skip"),
        }
    }

    fn instance(url: &str, hash: &str) -> RedisCircuits {
        RedisCircuits { hash: hash.to_string(), ..RedisCircuits::new(url.to_string(), Duration::from_secs(1)) }
    }

    #[tokio::test]
    async fn two_instances_see_each_others_circuits_until_they_close() {
        let Some(url) = redis_url() else { return };
        let hash = format!("switchyard:test-circuits:{}:{}", std::process::id(), fastrand::u64(..));
        let (mut a, mut b) = (instance(&url, &hash), instance(&url, &hash));
        let target = "openai/gpt-4o".to_string();
        let now = 1_000_000;
        let open = a.sync(&[(target.clone(), now + 5_000)], now).await.unwrap();
        assert_eq!(open.get(&target), Some(&(now + 5_000)));
        assert_eq!(b.sync(&[], now + 1_000).await.unwrap().get(&target), Some(&(now + 5_000)), "seen by the other instance");
        assert_eq!(b.sync(&[], now + 5_000).await.unwrap().get(&target), None, "closed once its time passed");
        assert_eq!(a.sync(&[], now + 1_000).await.unwrap().get(&target), None, "and removed for everyone");
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_an_error_and_the_next_sync_tries_again() {
        // Port 1 on localhost refuses at once.
        let mut c = RedisCircuits::new("redis://127.0.0.1:1".into(), Duration::from_millis(200));
        assert!(c.sync(&[], 0).await.is_err());
        assert!(c.sync(&[], 0).await.is_err());
    }
}
