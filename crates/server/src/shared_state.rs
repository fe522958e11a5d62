//! Shares circuit-breaker state between gateway instances through Redis: circuits this instance
//! opens are published with their reopen time (a key that expires then), and circuits others
//! opened are applied here, within one sync period. Nothing on the request path waits for Redis;
//! when Redis is unreachable every instance keeps its own breakers (logged once per outage).

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::http::App;

const PREFIX: &str = "switchyard:circuit:";
const PERIOD: Duration = Duration::from_millis(250);
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

pub fn spawn(url: String, app: Arc<App>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut conn: Option<ConnectionManager> = None;
        let mut healthy = true;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(PERIOD) => {}
            }
            if conn.is_none() {
                conn = connect(&url).await;
            }
            let ok = match conn.as_mut() {
                Some(c) => tokio::time::timeout(REDIS_TIMEOUT * 4, sync(c, &app)).await.is_ok_and(|r| r.is_ok()),
                None => false,
            };
            if ok != healthy {
                healthy = ok;
                if ok {
                    tracing::info!("shared circuit state: Redis reachable again");
                } else {
                    tracing::warn!("shared circuit state: Redis unreachable; circuit breakers are per instance until it is back");
                }
            }
            if !ok {
                conn = None;
            }
        }
    })
}

async fn connect(url: &str) -> Option<ConnectionManager> {
    let client = redis::Client::open(url).ok()?;
    tokio::time::timeout(REDIS_TIMEOUT, ConnectionManager::new(client)).await.ok()?.ok()
}

async fn sync(conn: &mut ConnectionManager, app: &App) -> redis::RedisResult<()> {
    let now_ms = switchyard_store::time::now_ms();
    let now = Instant::now();
    for ((provider, model), until) in app.health.breakers.take_opened() {
        let ttl = until.saturating_duration_since(now).as_millis() as u64;
        if ttl > 0 {
            let until_ms = now_ms + ttl as i64;
            let _: () = conn.set_ex_px(format!("{PREFIX}{provider}/{model}"), until_ms, ttl).await?;
        }
    }
    let keys: Vec<String> = conn.keys(format!("{PREFIX}*")).await?;
    if keys.is_empty() {
        return Ok(());
    }
    let values: Vec<Option<i64>> = conn.mget(&keys).await?;
    for (key, until_ms) in keys.iter().zip(values) {
        let (Some(target), Some(until_ms)) = (key.strip_prefix(PREFIX), until_ms) else { continue };
        let Some((provider, model)) = target.split_once('/') else { continue };
        let remaining = Duration::from_millis(until_ms.saturating_sub(now_ms).max(0) as u64);
        app.health.breakers.open_from_peer(&(Arc::from(provider), model.to_string()), now + remaining);
    }
    Ok(())
}

/// `SET key value PX ttl`, as redis-rs spells it for these types.
trait SetExPx {
    async fn set_ex_px(&mut self, key: String, value: i64, ttl_ms: u64) -> redis::RedisResult<()>;
}

impl SetExPx for ConnectionManager {
    async fn set_ex_px(&mut self, key: String, value: i64, ttl_ms: u64) -> redis::RedisResult<()> {
        redis::cmd("SET").arg(key).arg(value).arg("PX").arg(ttl_ms).query_async(self).await
    }
}
