//! The health of the shared counter store (Redis). A monitor probes it every `PROBE_EVERY`;
//! two probes in a row without an answer within the probe timeout, or any failed call on the
//! request path, mark it down. While it is down requests do not touch it at all (they follow the
//! outage rules at once), and requests already waiting on it are released the moment it is
//! marked down. A slow but reachable Redis (a burst, a busy host) is waited for, because guessing
//! locally then would overspend budgets; a dead one is noticed by its errors at once, a hung one
//! within about two probe periods.
//!
//! The probe also reads an epoch key: settlements queued during an outage are replayed only into
//! the same data, never into a Redis that restarted empty (whose totals are re-seeded from the
//! durable request log instead).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

use switchyard_store::Settle;

const EPOCH_KEY: &str = "switchyard:epoch";
const EPOCH_TTL_MS: u64 = 10 * 366 * 86_400_000;
/// Settlements kept for replay during an outage; beyond this the oldest are dropped (their
/// spend is still in the request log, which seeds totals after a restart).
const MAX_PENDING: usize = 100_000;
pub const PROBE_EVERY: Duration = Duration::from_millis(250);
const MISSES_TO_DOWN: u32 = 2;

pub struct SharedHealth {
    state: Mutex<State>,
    down: watch::Sender<bool>,
    /// How long a probe may take; a request waits on Redis only while it is not marked down.
    pub probe_timeout: Duration,
}

struct State {
    misses: u32,
    epoch: Option<i64>,
    pending: VecDeque<Settle>,
}

impl SharedHealth {
    pub fn new(probe_timeout: Duration) -> Self {
        let state = State { misses: 0, epoch: None, pending: VecDeque::new() };
        Self { state: Mutex::new(state), down: watch::channel(false).0, probe_timeout }
    }

    pub fn is_down(&self) -> bool {
        *self.down.borrow()
    }

    /// Resolves when the store is marked down (at once if it is).
    pub async fn until_down(&self) {
        let mut rx = self.down.subscribe();
        let _ = rx.wait_for(|down| *down).await;
    }

    /// A call on the request path failed: the store is down until a probe finds it back.
    pub fn failed(&self, what: &str, error: &str) {
        self.mark_down(what, error);
    }

    fn mark_down(&self, what: &str, error: &str) {
        if !self.down.send_replace(true) {
            crate::metrics::SHARED_COUNTER_OUTAGES.inc();
            tracing::warn!(what, error, "shared counters (Redis) unreachable: rate limits fall back to local limits, budgets to their outage allowance");
        }
    }

    /// A probe got no answer.
    pub fn probe_missed(&self, error: &str) {
        let misses = {
            let mut s = self.state.lock().expect("shared health lock");
            s.misses += 1;
            s.misses
        };
        if misses >= MISSES_TO_DOWN {
            self.mark_down("probe", error);
        }
    }

    /// A probe reached the store and read its epoch. Returns the settlements to replay now.
    pub fn probed(&self, epoch: i64) -> Vec<Settle> {
        let mut s = self.state.lock().expect("shared health lock");
        s.misses = 0;
        let same_data = s.epoch.is_none_or(|e| e == epoch);
        s.epoch = Some(epoch);
        let was_down = self.down.send_replace(false);
        let pending: Vec<Settle> = s.pending.drain(..).collect();
        if was_down {
            tracing::info!(replayed = if same_data { pending.len() } else { 0 }, "shared counters (Redis) reachable again");
        }
        if same_data {
            pending
        } else {
            tracing::warn!(dropped = pending.len(), "Redis restarted without its data: budget totals are re-seeded from the request log");
            Vec::new()
        }
    }

    pub fn queue(&self, settle: Settle) {
        let mut s = self.state.lock().expect("shared health lock");
        if s.pending.len() >= MAX_PENDING {
            s.pending.pop_front();
        }
        s.pending.push_back(settle);
    }

    pub fn epoch_key() -> (&'static str, u64) {
        (EPOCH_KEY, EPOCH_TTL_MS)
    }
}
