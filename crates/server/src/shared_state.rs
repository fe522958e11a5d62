//! Shares circuit-breaker state between gateway instances through Redis: circuits this instance
//! opens are published with their reopen time (a field of the hash `switchyard:circuits`), and
//! circuits other instances opened are applied here, within one sync period. Nothing on the
//! request path waits for Redis; when Redis is unreachable every instance keeps its own breakers
//! (logged once per outage).

use std::sync::Arc;
use std::time::Duration;

use switchyard_store::RedisCircuits;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::http::App;

const PERIOD: Duration = Duration::from_millis(250);
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

pub fn spawn(url: String, app: Arc<App>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut circuits = RedisCircuits::new(url, REDIS_TIMEOUT);
        let mut healthy = true;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(PERIOD) => {}
            }
            let ok = sync(&mut circuits, &app).await;
            if ok != healthy {
                healthy = ok;
                if ok {
                    tracing::info!("shared circuit state: Redis reachable again");
                } else {
                    tracing::warn!("shared circuit state: Redis unreachable; circuit breakers are per instance until it is back");
                }
            }
        }
    })
}

/// Publishes the circuits this instance opened and applies the ones its peers opened; false
/// when Redis did not answer.
async fn sync(circuits: &mut RedisCircuits, app: &App) -> bool {
    let now_ms = switchyard_core::time::now_ms();
    let now = Instant::now();
    let opened: Vec<(String, i64)> = app
        .health
        .breakers
        .take_opened()
        .into_iter()
        .filter_map(|((provider, model), until)| {
            let ttl = until.saturating_duration_since(now).as_millis() as i64;
            (ttl > 0).then(|| (format!("{provider}/{model}"), now_ms + ttl))
        })
        .collect();
    let Ok(open) = circuits.sync(&opened, now_ms).await else { return false };
    for (target, until_ms) in open {
        let Some((provider, model)) = target.split_once('/') else { continue };
        let remaining = Duration::from_millis((until_ms - now_ms).max(0) as u64);
        app.health.breakers.open_from_peer(&(Arc::from(provider), model.to_string()), now + remaining);
    }
    true
}
