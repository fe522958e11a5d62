//! Circuit breakers per target (provider, model): open after consecutive failures or an error
//! rate over a window, then one half-open probe at a time after a cool-off, closed again by a
//! success. Only failures that are the target's fault count (`retry::retryable`); a request's
//! own bad input does not. Per instance; shared state arrives with Redis.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct BreakerPolicy {
    pub consecutive_failures: u32,
    /// Open when failures / requests in the window reach this, with at least `min_requests`.
    pub error_rate: f64,
    pub min_requests: u32,
    pub window: Duration,
    pub open_for: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            error_rate: 0.25,
            min_requests: 20,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Half-open: this request is the probe.
    Probe,
    /// Open (or a probe is already out): do not send unless nothing else is left.
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
struct Entry {
    state: State,
    consecutive: u32,
    window_start: Instant,
    requests: u32,
    failures: u32,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Self { state: State::Closed, consecutive: 0, window_start: now, requests: 0, failures: 0 }
    }
}

pub type Key = (Arc<str>, String);

#[derive(Default)]
pub struct Breakers {
    policy: BreakerPolicy,
    entries: Mutex<HashMap<Key, Entry>>,
    /// Circuits this instance opened since the last `take_opened`, with their reopen time, for
    /// sharing with other instances.
    opened: Mutex<Vec<(Key, Instant)>>,
}

impl Breakers {
    pub fn new(policy: BreakerPolicy) -> Self {
        Self { policy, entries: Mutex::new(HashMap::new()), opened: Mutex::new(Vec::new()) }
    }

    /// Whether a request may go to this target now (a probe is reserved when half-open).
    pub fn admit(&self, key: &Key) -> Admission {
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let Some(e) = map.get_mut(key) else { return Admission::Allowed };
        match e.state {
            State::Closed => Admission::Allowed,
            State::Open { until } if now >= until => {
                e.state = State::HalfOpen { probing: true };
                Admission::Probe
            }
            State::HalfOpen { probing: false } => {
                e.state = State::HalfOpen { probing: true };
                Admission::Probe
            }
            State::Open { .. } | State::HalfOpen { probing: true } => Admission::Rejected,
        }
    }

    /// Whether the target is open right now (for ordering plans), without reserving a probe.
    pub fn is_open(&self, key: &Key) -> bool {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        matches!(map.get(key).map(|e| e.state), Some(State::Open { until }) if Instant::now() < until)
    }

    pub fn record(&self, key: &Key, success: bool) {
        let now = Instant::now();
        let p = self.policy;
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let e = map.entry(key.clone()).or_insert_with(|| Entry::new(now));
        if now.duration_since(e.window_start) >= p.window {
            (e.window_start, e.requests, e.failures) = (now, 0, 0);
        }
        e.requests += 1;
        if success {
            e.consecutive = 0;
            if matches!(e.state, State::HalfOpen { .. }) {
                *e = Entry::new(now); // closed, with a fresh window
            }
            return;
        }
        e.failures += 1;
        e.consecutive += 1;
        let rate_tripped = e.requests >= p.min_requests && f64::from(e.failures) / f64::from(e.requests) >= p.error_rate;
        if matches!(e.state, State::HalfOpen { .. }) || e.consecutive >= p.consecutive_failures || rate_tripped {
            // Failures of requests sent while it was open already (the last target left) keep
            // it open longer; they do not open it again.
            let opening = !matches!(e.state, State::Open { until } if now < until);
            e.state = State::Open { until: now + p.open_for };
            (e.window_start, e.requests, e.failures, e.consecutive) = (now, 0, 0, 0);
            self.opened.lock().unwrap_or_else(|p| p.into_inner()).push((key.clone(), now + p.open_for));
            drop(map);
            if opening {
                // Outside the lock: a monitor watching this circuit alerts now.
                crate::monitor::circuit_opened(key);
            }
        }
    }

    /// Circuits opened here since the last call (for publishing to other instances).
    pub fn take_opened(&self) -> Vec<(Key, Instant)> {
        std::mem::take(&mut *self.opened.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Another instance opened this circuit: keep it open here until `until` too (unless it is
    /// already open longer). A later success here closes it as usual after the probe.
    pub fn open_from_peer(&self, key: &Key, until: Instant) {
        let now = Instant::now();
        if until <= now {
            return;
        }
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let e = map.entry(key.clone()).or_insert_with(|| Entry::new(now));
        match e.state {
            State::Open { until: mine } if mine >= until => {}
            State::HalfOpen { probing: true } => {}
            _ => e.state = State::Open { until },
        }
    }

    /// Per target that has seen traffic: provider, model and whether the circuit refuses
    /// requests (open or half-open), for metrics.
    pub fn states(&self) -> Vec<(String, String, bool)> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|((provider, model), e)| (provider.to_string(), model.clone(), !matches!(e.state, State::Closed))).collect()
    }

    /// `closed`, `open` or `half_open` per target that has seen traffic, for health endpoints.
    pub fn snapshot(&self) -> Vec<(String, &'static str)> {
        let now = Instant::now();
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<(String, &'static str)> = map
            .iter()
            .map(|((provider, model), e)| {
                let state = match e.state {
                    State::Closed => "closed",
                    State::Open { until } if now < until => "open",
                    State::Open { .. } | State::HalfOpen { .. } => "half_open",
                };
                (format!("{provider}/{model}"), state)
            })
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        (Arc::from("p"), "m".to_string())
    }

    #[tokio::test(start_paused = true)]
    async fn opens_on_consecutive_failures_probes_after_the_cool_off_and_closes_on_success() {
        let b = Breakers::new(BreakerPolicy::default());
        for _ in 0..4 {
            b.record(&key(), false);
        }
        assert_eq!(b.admit(&key()), Admission::Allowed);
        b.record(&key(), false);
        assert_eq!(b.admit(&key()), Admission::Rejected);
        assert!(b.is_open(&key()));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.admit(&key()), Admission::Probe);
        assert_eq!(b.admit(&key()), Admission::Rejected, "one probe at a time");
        b.record(&key(), false);
        assert_eq!(b.admit(&key()), Admission::Rejected, "a failed probe opens it again");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.admit(&key()), Admission::Probe);
        b.record(&key(), true);
        assert_eq!(b.admit(&key()), Admission::Allowed);
        assert_eq!(b.snapshot(), vec![("p/m".to_string(), "closed")]);
    }

    #[tokio::test(start_paused = true)]
    async fn opens_on_the_error_rate_over_the_window() {
        let b = Breakers::new(BreakerPolicy::default());
        // 30% failures, never 5 in a row: the rate trips it once the window has 20 requests.
        let mut opened_after = None;
        for i in 0..40 {
            b.record(&key(), i % 10 < 7);
            if opened_after.is_none() && b.is_open(&key()) {
                opened_after = Some(i + 1);
            }
        }
        assert!(opened_after.is_some_and(|n| n <= 20), "{opened_after:?}");
        // 10% failures, spread over time, never open it.
        let c = Breakers::new(BreakerPolicy::default());
        for i in 0..300 {
            c.record(&key(), i % 10 != 0);
            assert!(!c.is_open(&key()), "opened at {i}");
            tokio::time::advance(Duration::from_millis(100)).await;
        }
    }
}
