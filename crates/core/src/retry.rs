//! The one table that decides, for each failure class, whether to retry the same target, move to
//! the next one, move to a larger-window model, or answer the client, and what the failure says
//! about the target's health (breaker, cooldown) — plus the backoff and the retry budget that
//! keeps an outage from multiplying upstream load. Only `run_attempts` retries: no nested loops,
//! and it applies these verdicts without rules of its own.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use switchyard_providers::{ErrorKind, ProviderError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try the same target again after this wait.
    RetrySame(Duration),
    /// Give up on this target; the plan's next one (if any) is tried.
    NextTarget,
    /// The prompt did not fit the model's window: move on to the plan's larger-window models,
    /// and only to them.
    LargerWindow,
    /// The failure is the request's own: answer the client with it.
    Answer,
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Extra attempts on the same target after its first failure.
    pub retries_per_target: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// A `Retry-After` up to this long is waited out on the same target; longer ones move on
    /// (and put the target in cooldown for that long).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries_per_target: 1,
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(2),
        }
    }
}

/// Whether a failure of this kind is worth another upstream attempt at all.
pub fn retryable(kind: ErrorKind) -> bool {
    match kind {
        ErrorKind::RateLimited
        | ErrorKind::Overloaded
        | ErrorKind::Server
        | ErrorKind::Timeout
        | ErrorKind::Connect
        | ErrorKind::Interrupted
        | ErrorKind::Malformed => true,
        ErrorKind::BadRequest | ErrorKind::ContextLength | ErrorKind::ContentFilter | ErrorKind::Auth | ErrorKind::NotFound => false,
    }
}

/// What one failed attempt means for the attempt loop: where to go next, and what it says about
/// the target's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    /// The failure counts against the target (its breaker); the request's own errors say
    /// nothing about the target's health.
    pub target_failed: bool,
    /// Keep the target out of plans this long: a `Retry-After` longer than the policy waits out.
    pub cool_down: Option<Duration>,
}

/// The whole decision for one failure. `has_next`: the plan has another target after this one;
/// with one left, moving on beats waiting to retry this one — faster for the client and cheaper
/// for the retry budget — so only the last target gets its retries.
pub fn judge(error: &ProviderError, failures_on_target: u32, has_next: bool, policy: &RetryPolicy) -> Verdict {
    let decision = match decide(error, failures_on_target, policy) {
        Decision::RetrySame(_) if has_next => Decision::NextTarget,
        d => d,
    };
    Verdict { decision, target_failed: retryable(error.kind), cool_down: error.retry_after.filter(|a| *a > policy.max_retry_after) }
}

/// The table itself, per failure class. `failures_on_target` counts this failure (1 after the first).
pub fn decide(error: &ProviderError, failures_on_target: u32, policy: &RetryPolicy) -> Decision {
    if error.kind == ErrorKind::ContextLength {
        return Decision::LargerWindow;
    }
    if !retryable(error.kind) {
        return Decision::Answer;
    }
    if failures_on_target > policy.retries_per_target {
        return Decision::NextTarget;
    }
    match error.retry_after {
        Some(after) if after > policy.max_retry_after => Decision::NextTarget,
        // A timeout already cost its full deadline: another target is the better bet.
        _ if error.kind == ErrorKind::Timeout => Decision::NextTarget,
        Some(after) => Decision::RetrySame(after.max(backoff(failures_on_target, policy))),
        None => Decision::RetrySame(backoff(failures_on_target, policy)),
    }
}

/// Full jitter: uniform in [0, min(cap, base · 2^(n-1))].
pub fn backoff(failures: u32, policy: &RetryPolicy) -> Duration {
    let exp = policy.backoff_base.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    exp.min(policy.backoff_cap).mul_f64(fastrand::f64())
}

/// Extra attempts (retries and fallbacks) may use at most `ratio` of the request rate plus a
/// small floor per second: a token bucket that every request deposits `ratio` into and every
/// extra attempt withdraws one from.
pub struct RetryBudget {
    ratio: f64,
    floor_per_sec: f64,
    cap: f64,
    state: Mutex<(f64, Instant)>,
}

impl RetryBudget {
    pub fn new(ratio: f64, floor_per_sec: f64) -> Self {
        let cap = (floor_per_sec * 10.0).max(10.0);
        Self { ratio, floor_per_sec, cap, state: Mutex::new((cap, Instant::now())) }
    }

    fn refill(&self, state: &mut (f64, Instant), deposit: f64) {
        let now = Instant::now();
        let floor = now.duration_since(state.1).as_secs_f64() * self.floor_per_sec;
        state.0 = (state.0 + floor + deposit).min(self.cap);
        state.1 = now;
    }

    /// Called once per request.
    pub fn deposit(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.refill(&mut s, self.ratio);
    }

    /// Whether one extra attempt may go upstream now.
    pub fn withdraw(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.refill(&mut s, 0.0);
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(0.2, 5.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: ErrorKind, retry_after: Option<u64>) -> ProviderError {
        ProviderError { retry_after: retry_after.map(Duration::from_secs), ..ProviderError::new(kind, "x") }
    }

    #[test]
    fn the_table() {
        let p = RetryPolicy::default();
        for kind in [ErrorKind::BadRequest, ErrorKind::Auth, ErrorKind::NotFound, ErrorKind::ContentFilter] {
            assert_eq!(decide(&err(kind, None), 1, &p), Decision::Answer, "{kind:?}");
        }
        assert_eq!(decide(&err(ErrorKind::ContextLength, None), 1, &p), Decision::LargerWindow);
        for kind in [ErrorKind::Server, ErrorKind::Overloaded, ErrorKind::RateLimited, ErrorKind::Connect, ErrorKind::Interrupted] {
            assert!(matches!(decide(&err(kind, None), 1, &p), Decision::RetrySame(_)), "{kind:?}");
            assert_eq!(decide(&err(kind, None), 2, &p), Decision::NextTarget, "{kind:?}");
        }
        assert_eq!(decide(&err(ErrorKind::Timeout, None), 1, &p), Decision::NextTarget);
        assert_eq!(decide(&err(ErrorKind::RateLimited, Some(5)), 1, &p), Decision::NextTarget, "a long Retry-After moves on");
        assert_eq!(decide(&err(ErrorKind::RateLimited, Some(1)), 1, &p), Decision::RetrySame(Duration::from_secs(1)));
    }

    #[test]
    fn the_verdict_moves_on_while_a_target_is_left_and_accounts_only_the_targets_own_failures() {
        let p = RetryPolicy::default();
        let v = judge(&err(ErrorKind::Server, None), 1, true, &p);
        assert_eq!((v.decision, v.target_failed, v.cool_down), (Decision::NextTarget, true, None));
        assert!(
            matches!(judge(&err(ErrorKind::Server, None), 1, false, &p).decision, Decision::RetrySame(_)),
            "the last target is retried"
        );
        let v = judge(&err(ErrorKind::BadRequest, None), 1, true, &p);
        assert_eq!((v.decision, v.target_failed), (Decision::Answer, false));
        let v = judge(&err(ErrorKind::ContextLength, None), 1, true, &p);
        assert_eq!((v.decision, v.target_failed), (Decision::LargerWindow, false));
        let v = judge(&err(ErrorKind::RateLimited, Some(30)), 1, false, &p);
        assert_eq!((v.decision, v.cool_down), (Decision::NextTarget, Some(Duration::from_secs(30))));
    }

    #[test]
    fn backoff_stays_within_its_bounds() {
        let p = RetryPolicy::default();
        for n in 1..40 {
            let d = backoff(n, &p);
            assert!(d <= p.backoff_cap && d <= p.backoff_base * 2u32.pow((n - 1).min(16)), "{n}: {d:?}");
        }
    }

    #[test]
    fn the_budget_allows_a_fifth_of_requests_plus_the_floor() {
        let b = RetryBudget::new(0.2, 0.0);
        // Start full (cap 10), then 100 requests deposit 20 more but the cap holds at 10.
        let mut allowed = 0;
        for _ in 0..100 {
            b.deposit();
            if b.withdraw() {
                allowed += 1;
            }
        }
        assert!((20..=30).contains(&allowed), "{allowed}");
        let empty = RetryBudget::new(0.2, 0.0);
        while empty.withdraw() {}
        assert!(!empty.withdraw());
    }
}
