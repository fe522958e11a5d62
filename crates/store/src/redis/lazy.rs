//! Redis stores connected lazily: a gateway starts (and serves, by the outage rules) while
//! Redis is down, and connects when Redis appears — trying at most once a second, each try
//! bounded by the configured Redis timeout. Once connected, the connection manager reconnects by
//! itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchyard_core::store::{Admit, CacheStore, CounterStore, EscrowAsk, Settle, StoreError, Verdict};

use super::{RedisCache, RedisCounters};

const RETRY: Duration = Duration::from_secs(1);
/// Commands may take this long before they time out: longer than any caller waits (a busy Redis
/// is waited for, a dead one fails at once, and a hung one is caught by the governor's silence
/// and health probes); the timeout only keeps abandoned commands from piling up.
const COMMAND_CAP: Duration = Duration::from_secs(30);

type Connect<T> = Box<dyn Fn(String, Duration) -> Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>> + Send + Sync>;

pub struct LazyRedis<T: Clone> {
    url: String,
    timeout: Duration,
    connect: Connect<T>,
    conn: RwLock<Option<T>>,
    last_try: Mutex<Option<Instant>>,
    /// One connection attempt at a time; callers arriving meanwhile wait for its outcome instead
    /// of failing (a burst at startup must not look like an outage).
    connecting: tokio::sync::Mutex<()>,
}

impl LazyRedis<RedisCounters> {
    pub fn counters(url: String, timeout: Duration) -> Self {
        Self::new(url, timeout, Box::new(|url, cap| Box::pin(async move { RedisCounters::connect(&url, cap).await })))
    }
}

impl LazyRedis<RedisCache> {
    pub fn cache(url: String, timeout: Duration) -> Self {
        Self::new(url, timeout, Box::new(|url, cap| Box::pin(async move { RedisCache::connect(&url, cap).await })))
    }
}

impl<T: Clone> LazyRedis<T> {
    fn new(url: String, timeout: Duration, connect: Connect<T>) -> Self {
        Self { url, timeout, connect, conn: RwLock::new(None), last_try: Mutex::new(None), connecting: tokio::sync::Mutex::new(()) }
    }

    async fn get(&self) -> Result<T, StoreError> {
        if let Some(c) = self.conn.read().expect("redis lock").clone() {
            return Ok(c);
        }
        let _one = self.connecting.lock().await;
        if let Some(c) = self.conn.read().expect("redis lock").clone() {
            return Ok(c);
        }
        {
            let mut last = self.last_try.lock().expect("redis lock");
            if last.is_some_and(|t| t.elapsed() < RETRY) {
                return Err(StoreError::Other("redis: not connected".into()));
            }
            *last = Some(Instant::now());
        }
        let conn = tokio::time::timeout(self.timeout.max(Duration::from_millis(250)), (self.connect)(self.url.clone(), COMMAND_CAP))
            .await
            .map_err(|_| StoreError::Other("redis: no connection within the Redis timeout".into()))??;
        *self.conn.write().expect("redis lock") = Some(conn.clone());
        Ok(conn)
    }
}

#[async_trait::async_trait]
impl CounterStore for LazyRedis<RedisCounters> {
    async fn admit(&self, admit: &Admit) -> Result<Verdict, StoreError> {
        self.get().await?.admit(admit).await
    }
    async fn settle(&self, settle: &Settle) -> Result<(), StoreError> {
        self.get().await?.settle(settle).await
    }
    async fn seed(&self, key: &str, value: i64, ttl_ms: u64) -> Result<i64, StoreError> {
        self.get().await?.seed(key, value, ttl_ms).await
    }
    async fn budget_used(&self, key: &str, now_ms: i64) -> Result<Option<i64>, StoreError> {
        self.get().await?.budget_used(key, now_ms).await
    }
    async fn once(&self, key: &str, ttl_ms: u64) -> Result<bool, StoreError> {
        self.get().await?.once(key, ttl_ms).await
    }
    async fn escrow(&self, ask: &EscrowAsk) -> Result<Option<i64>, StoreError> {
        self.get().await?.escrow(ask).await
    }
    async fn squeeze(&self, ask: &EscrowAsk) -> Result<bool, StoreError> {
        self.get().await?.squeeze(ask).await
    }
}

#[async_trait::async_trait]
impl CacheStore for LazyRedis<RedisCache> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        LazyRedis::get(self).await?.get(key).await
    }
    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), StoreError> {
        LazyRedis::get(self).await?.put(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        LazyRedis::get(self).await?.delete(key).await
    }
}
