//! Shares circuit-breaker state between gateway instances through Redis: circuits this instance
//! opens are published with their reopen time (a field of the hash `switchyard:circuits`), and
//! circuits other instances opened are applied here, within one sync period. Nothing on the
//! request path waits for Redis; when Redis is unreachable every instance keeps its own breakers
//! (logged once per outage).

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::http::App;

/// Open circuits: field `provider/model`, value the Unix ms at which the circuit may close.
const CIRCUITS: &str = "switchyard:circuits";
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
    let now_ms = switchyard_core::time::now_ms();
    let now = Instant::now();
    for ((provider, model), until) in app.health.breakers.take_opened() {
        let ttl = until.saturating_duration_since(now).as_millis() as u64;
        if ttl > 0 {
            let _: () = conn.hset(CIRCUITS, format!("{provider}/{model}"), now_ms + ttl as i64).await?;
        }
    }
    // One small hash, read whole: never a scan of the keyspace (which holds cache entries and
    // counters too). Circuits whose reopen time passed are removed by whoever sees them.
    let open: std::collections::HashMap<String, i64> = conn.hgetall(CIRCUITS).await?;
    let mut closed = Vec::new();
    for (target, until_ms) in open {
        if until_ms <= now_ms {
            closed.push(target);
            continue;
        }
        let Some((provider, model)) = target.split_once('/') else { continue };
        let remaining = Duration::from_millis((until_ms - now_ms) as u64);
        app.health.breakers.open_from_peer(&(Arc::from(provider), model.to_string()), now + remaining);
    }
    if !closed.is_empty() {
        let _: () = conn.hdel(CIRCUITS, closed).await?;
    }
    Ok(())
}
