//! A rolling window of time buckets for one monitor: requests, failures and a small log-scale
//! latency histogram per bucket. Old buckets are reused in place (no allocation after the
//! first), so adding a request costs an index and a few increments; the window's totals and its
//! p95 are summed when the ticker asks, not per request.

use std::time::Duration;

/// Buckets per window: the window rolls forward a tenth at a time.
pub const BUCKETS: usize = 10;
/// Bin `i` holds latencies up to `RATIO^i` ms, so any latency is known within 10%.
const RATIO: f64 = 1.1;
/// `1.1^144` ≈ 900 s: longer requests share the last bin.
const BINS: usize = 145;

#[derive(Clone)]
struct Bucket {
    /// Which slot of time (`elapsed / bucket_ms`) it counts; `u64::MAX`: never used.
    slot: u64,
    requests: u32,
    failures: u32,
    latency: [u32; BINS],
}

impl Bucket {
    const EMPTY: Bucket = Bucket { slot: u64::MAX, requests: 0, failures: 0, latency: [0; BINS] };
}

/// What the window holds now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Totals {
    pub requests: u32,
    pub failures: u32,
    /// `None` without any request.
    pub p95_ms: Option<f64>,
}

impl Totals {
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            f64::from(self.failures) / f64::from(self.requests)
        }
    }
}

pub struct Window {
    bucket_ms: u64,
    buckets: Vec<Bucket>,
}

impl Window {
    pub fn new(window: Duration) -> Self {
        let bucket_ms = (window.as_millis() as u64 / BUCKETS as u64).max(1);
        Self { bucket_ms, buckets: vec![Bucket::EMPTY; BUCKETS] }
    }

    /// Counts one request (or attempt) that ended `elapsed` after the monitor's origin.
    pub fn add(&mut self, elapsed: Duration, failed: bool, latency_ms: f64) {
        let slot = elapsed.as_millis() as u64 / self.bucket_ms;
        let bucket = &mut self.buckets[(slot % BUCKETS as u64) as usize];
        if bucket.slot != slot {
            *bucket = Bucket { slot, ..Bucket::EMPTY };
        }
        bucket.requests = bucket.requests.saturating_add(1);
        bucket.failures = bucket.failures.saturating_add(u32::from(failed));
        let bin = &mut bucket.latency[bin(latency_ms)];
        *bin = bin.saturating_add(1);
    }

    /// The totals over the last `BUCKETS` slots up to `elapsed` (the current one included).
    pub fn totals(&self, elapsed: Duration) -> Totals {
        let now = elapsed.as_millis() as u64 / self.bucket_ms;
        let live = self.buckets.iter().filter(|b| b.slot <= now && now - b.slot < BUCKETS as u64);
        let mut latency = [0u64; BINS];
        let (mut requests, mut failures) = (0u32, 0u32);
        for b in live {
            requests = requests.saturating_add(b.requests);
            failures = failures.saturating_add(b.failures);
            for (sum, n) in latency.iter_mut().zip(&b.latency) {
                *sum += u64::from(*n);
            }
        }
        Totals { requests, failures, p95_ms: quantile(&latency, 0.95) }
    }
}

fn bin(ms: f64) -> usize {
    if ms.is_nan() || ms <= 1.0 {
        0
    } else {
        ((ms.ln() / RATIO.ln()).ceil() as usize).min(BINS - 1)
    }
}

fn upper(bin: usize) -> f64 {
    RATIO.powi(bin as i32)
}

/// The `q` quantile of a histogram, interpolated linearly inside the bin it falls in.
fn quantile(bins: &[u64; BINS], q: f64) -> Option<f64> {
    let total: u64 = bins.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut before = 0u64;
    for (i, n) in bins.iter().enumerate().filter(|(_, n)| **n > 0) {
        if before + n >= rank {
            let lower = if i == 0 { 0.0 } else { upper(i - 1) };
            return Some(lower + (upper(i) - lower) * (rank - before) as f64 / *n as f64);
        }
        before += n;
    }
    Some(upper(BINS - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn p95_is_within_ten_percent_of_the_exact_value() {
        let mut w = Window::new(60 * S);
        for ms in 1..=1000 {
            w.add(S, false, f64::from(ms));
        }
        let p95 = w.totals(S).p95_ms.unwrap();
        assert!((p95 - 950.0).abs() <= 95.0, "{p95}");
        // A slow tail of 6%: the p95 is the tail's, not the median's.
        let mut w = Window::new(60 * S);
        for i in 0..100 {
            w.add(S, false, if i < 94 { 100.0 } else { 5000.0 });
        }
        let p95 = w.totals(S).p95_ms.unwrap();
        assert!((4500.0..=5500.0).contains(&p95), "{p95}");
        // 5% slow: the 95th of 100 is still a fast one.
        let mut w = Window::new(60 * S);
        for i in 0..100 {
            w.add(S, false, if i < 95 { 100.0 } else { 5000.0 });
        }
        assert!(w.totals(S).p95_ms.unwrap() <= 110.0);
        assert_eq!(Window::new(S).totals(S).p95_ms, None);
    }

    #[test]
    fn requests_roll_off_once_the_window_has_passed_them() {
        let mut w = Window::new(10 * S);
        w.add(Duration::ZERO, true, 10.0);
        w.add(5 * S, false, 10.0);
        assert_eq!((w.totals(9 * S).requests, w.totals(9 * S).failures), (2, 1));
        // At 10 s the bucket of 0 s is out: only the one of 5 s is left.
        assert_eq!((w.totals(10 * S).requests, w.totals(10 * S).failures), (1, 0));
        assert_eq!(w.totals(15 * S).requests, 0);
        // A bucket reused for a later slot starts from zero.
        w.add(20 * S, false, 10.0);
        assert_eq!(w.totals(20 * S).requests, 1);
        assert_eq!(w.totals(20 * S).error_rate(), 0.0);
    }
}
