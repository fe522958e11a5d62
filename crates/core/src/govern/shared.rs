//! The health of the shared counter store (Redis). A monitor probes it every `PROBE_EVERY`;
//! two probes in a row without an answer within the probe timeout, or any failed call on the
//! request path, mark it down. While it is down requests do not touch it at all (they follow the
//! outage rules at once), and requests already waiting on it are released the moment it is
//! marked down.
//!
//! A dead Redis is noticed by its errors at once. A hung one (connections accepted, nothing
//! answered) is noticed by silence: a request that has waited the Redis timeout (5 s by
//! default, far past any stall of a busy host) while this process heard nothing at all from
//! Redis gives up, marks it down and wakes the monitor to probe at once. A slow but working Redis
//! (a burst, a busy host) is waited for, and a request that waited too long is refused (503):
//! guessing locally then would overspend budgets. A wait that
//! overslept proves little (this process was short of CPU, and so was the reading of answers)
//! and is repeated, up to `LATE_WINDOWS` windows.
//!
//! The probe also reads an epoch key: settlements queued during an outage are replayed only into
//! the same data, never into a Redis that restarted empty (whose totals are re-seeded from the
//! durable request log instead).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{watch, Notify};

use crate::store::Settle;

const EPOCH_KEY: &str = "switchyard:epoch";
const EPOCH_TTL_MS: u64 = 10 * 366 * 86_400_000;
/// Settlements kept for replay during an outage; beyond this the oldest are dropped (their
/// spend is still in the request log, which seeds totals after a restart).
const MAX_PENDING: usize = 100_000;
pub const PROBE_EVERY: Duration = Duration::from_millis(250);
const MISSES_TO_DOWN: u32 = 2;
/// Silent windows that each overslept (this process short of CPU) after which the silence counts
/// anyway: a hung Redis on a loaded host still costs a request only a few windows.
const LATE_WINDOWS: u32 = 4;

pub struct SharedHealth {
    state: Mutex<State>,
    down: watch::Sender<bool>,
    /// How long a probe may take; a request waits on Redis only while it is not marked down.
    pub probe_timeout: Duration,
    started: Instant,
    /// When Redis last answered anything (a request's call, a settlement, a probe), in µs since
    /// `started`; 0 before the first answer.
    last_answer_us: AtomicU64,
    /// Wakes the monitor to probe now rather than at its next period.
    probe_now: Notify,
}

struct State {
    misses: u32,
    epoch: Option<i64>,
    pending: VecDeque<Settle>,
}

impl SharedHealth {
    pub fn new(probe_timeout: Duration) -> Self {
        let state = State { misses: 0, epoch: None, pending: VecDeque::new() };
        Self {
            state: Mutex::new(state),
            down: watch::channel(false).0,
            probe_timeout,
            started: Instant::now(),
            last_answer_us: AtomicU64::new(0),
            probe_now: Notify::new(),
        }
    }

    fn since_start(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_micros() as u64
    }

    /// Redis answered a call.
    pub fn answered(&self) {
        self.last_answer_us.fetch_max(self.since_start(Instant::now()).max(1), Ordering::Relaxed);
    }

    /// Resolves once Redis has answered nothing for `quiet` while this process was running on
    /// time, or for `LATE_WINDOWS` windows in a row however late (see the module comment). Never
    /// resolves for a Redis that keeps answering.
    pub async fn silent_for(&self, quiet: Duration) {
        let mut silent_but_late = 0;
        loop {
            let asked = Instant::now();
            tokio::time::sleep(quiet).await;
            // Before Redis ever answered (the first connection is still being made, which may
            // take a while on a loaded host) silence proves nothing: the probes judge it then.
            let last = self.last_answer_us.load(Ordering::Relaxed);
            if last == 0 || last >= self.since_start(asked) {
                silent_but_late = 0;
                continue;
            }
            if asked.elapsed() <= quiet + quiet / 5 {
                return;
            }
            silent_but_late += 1;
            if silent_but_late >= LATE_WINDOWS {
                return;
            }
        }
    }

    /// Resolves when a request asks for a probe now (the monitor's other wake-up).
    pub async fn probe_requested(&self) {
        self.probe_now.notified().await;
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
        self.probe_now.notify_one();
        if !self.down.send_replace(true) {
            crate::metrics::SHARED_COUNTER_OUTAGES.inc();
            tracing::warn!(
                what,
                error,
                "shared counters (Redis) unreachable: rate limits fall back to local limits, budgets to their outage allowance"
            );
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

    /// A probe reached the store and read its epoch. Returns the settlements to replay now, and
    /// whether the store still has the data it had (false: it restarted empty).
    pub fn probed(&self, epoch: i64) -> (Vec<Settle>, bool) {
        let mut s = self.state.lock().expect("shared health lock");
        s.misses = 0;
        self.answered();
        let same_data = s.epoch.is_none_or(|e| e == epoch);
        s.epoch = Some(epoch);
        let was_down = self.down.send_replace(false);
        let pending: Vec<Settle> = s.pending.drain(..).collect();
        if was_down {
            tracing::info!(replayed = if same_data { pending.len() } else { 0 }, "shared counters (Redis) reachable again");
        }
        if same_data {
            (pending, true)
        } else {
            tracing::warn!(dropped = pending.len(), "Redis restarted without its data: budget totals are re-seeded from the request log");
            (Vec::new(), false)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const QUIET: Duration = Duration::from_millis(50);

    async fn resolves_within(health: &SharedHealth, within: Duration) -> bool {
        tokio::time::timeout(within, health.silent_for(QUIET)).await.is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn a_redis_that_stopped_answering_is_noticed_after_the_quiet_period() {
        let health = SharedHealth::new(QUIET * 4);
        tokio::time::sleep(Duration::from_millis(5)).await;
        health.answered();
        // The request asks a moment after that last answer (paused time would make them equal).
        tokio::time::sleep(Duration::from_millis(1)).await;
        let started = Instant::now();
        assert!(resolves_within(&health, Duration::from_secs(1)).await);
        assert!(started.elapsed() <= QUIET + Duration::from_millis(1), "{:?}", started.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_redis_that_keeps_answering_somebody_is_waited_for() {
        let health = Arc::new(SharedHealth::new(QUIET * 4));
        health.answered();
        let answers = {
            let health = health.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    health.answered();
                }
            })
        };
        assert!(!resolves_within(&health, Duration::from_secs(2)).await);
        answers.abort();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn on_a_starved_process_silence_counts_after_a_few_late_windows() {
        let health = SharedHealth::new(QUIET * 4);
        health.answered();
        // A task that holds the only thread 70 ms at a time: every 50 ms window wakes late.
        let hog = tokio::spawn(async {
            loop {
                std::thread::sleep(Duration::from_millis(70));
                tokio::task::yield_now().await;
            }
        });
        let started = Instant::now();
        assert!(resolves_within(&health, Duration::from_secs(3)).await);
        let took = started.elapsed();
        hog.abort();
        assert!(took >= QUIET * LATE_WINDOWS, "late windows prove nothing on their own: {took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn before_the_first_answer_silence_proves_nothing() {
        let health = SharedHealth::new(QUIET * 4);
        assert!(!resolves_within(&health, Duration::from_secs(2)).await);
    }

    #[test]
    fn marking_down_asks_the_monitor_to_probe_at_once() {
        let health = SharedHealth::new(QUIET * 4);
        health.failed("admit", "no answer");
        assert!(health.is_down());
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let woke = rt.block_on(async { tokio::time::timeout(Duration::from_millis(10), health.probe_requested()).await.is_ok() });
        assert!(woke, "the stored wake-up is taken by the monitor's next wait");
    }
}
