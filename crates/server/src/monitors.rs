//! Runs the config's monitors: installs its rules as the process's running monitors (at startup
//! and on every reload, keeping the state of unchanged rules) and evaluates them on a ticker —
//! every tenth of the shortest window, between 100 ms and 10 s. Alerts go through the same sink
//! and destinations as budget alerts (`governance.alerts`, or a rule's own `alerts:`).

use std::sync::Arc;
use std::time::Duration;

use switchyard_core::monitor::{self, Monitors};
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// How often the ticker looks again while no monitors are configured (a reload may add some).
const IDLE: Duration = Duration::from_secs(1);

/// Makes `config`'s rules the running monitors, keeping the windows and firing state of the
/// rules the running ones share with it.
pub fn install(config: &Config) {
    if config.monitors.is_empty() {
        monitor::install(None);
        return;
    }
    let previous = monitor::active();
    let sink = crate::alerts::sink(&config.governance.alerts);
    let next = Monitors::new(config.monitors.clone(), Some(sink), previous.as_deref());
    monitor::install(Some(Arc::new(next)));
}

/// Evaluates the running monitors until `stop`.
pub fn spawn_ticker(stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let running = monitor::active();
            let wait = running.as_ref().map_or(IDLE, |m| m.tick());
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            if let Some(m) = monitor::active() {
                let alerts = m.evaluate(tokio::time::Instant::now());
                m.deliver(alerts);
            }
        }
    })
}
