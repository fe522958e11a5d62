//! GCRA arithmetic in exact integers, shared by the in-memory counters (the Lua scripts repeat
//! these few formulas, see `redis/lua/common.lua`).
//!
//! Time is counted in ticks of `1 / limit` ms, so the emission interval `period_ms / limit` ms is
//! exactly `period_ms` ticks even when the division is not whole (60 000 ms / 7 requests). A
//! theoretical arrival time (TAT) is kept as whole milliseconds plus a fraction in ticks.

use switchyard_core::store::{RateAdjust, RateItem, RateState};

/// A theoretical arrival time: `ms + frac / limit` milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tat {
    pub ms: i64,
    pub frac: u64,
}

/// One rate limit: `limit` units per `period_ms`, up to `burst` at once (all validated >= 1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gcra {
    limit: i128,
    period: i128,
    burst: i128,
}

impl From<&RateItem> for Gcra {
    fn from(item: &RateItem) -> Self {
        Self { limit: item.limit.into(), period: item.period_ms.into(), burst: item.burst.into() }
    }
}

impl From<&RateAdjust> for Gcra {
    fn from(item: &RateAdjust) -> Self {
        Self { limit: item.limit.into(), period: item.period_ms.into(), burst: item.burst.into() }
    }
}

impl Gcra {
    /// Ticks by which `tat` is ahead of `now_ms`; 0 when it is not (or there is none).
    pub fn ahead(&self, tat: Option<Tat>, now_ms: i64) -> i128 {
        let Some(tat) = tat else { return 0 };
        // A fraction from a larger earlier limit cannot exceed one millisecond.
        let frac = i128::from(tat.frac).min(self.limit - 1);
        ((i128::from(tat.ms) - i128::from(now_ms)) * self.limit + frac).max(0)
    }

    /// Takes `cost` units from a TAT `ahead` ticks past now: the new `ahead`, or the ms until
    /// this cost would pass. When `cost > burst` it never passes; the wait returned is then the
    /// time to earn the excess, and callers should report the cost as too large.
    pub fn take(&self, ahead: i128, cost: u64) -> Result<i128, u64> {
        let need = ahead + i128::from(cost) * self.period;
        let tolerance = self.burst * self.period;
        if need <= tolerance {
            Ok(need)
        } else {
            Err(to_u64(ceil_div(need - tolerance, self.limit)))
        }
    }

    /// Moves the TAT by `delta` units: later for a top-up, earlier (never before now) for a refund.
    pub fn adjust(&self, ahead: i128, delta: i64) -> i128 {
        (ahead + i128::from(delta) * self.period).max(0)
    }

    /// What a TAT `ahead` ticks past now leaves: units that could be taken now and the ms until
    /// the TAT is back to now.
    pub fn state(&self, ahead: i128) -> RateState {
        let remaining = (self.burst * self.period - ahead).max(0) / self.period;
        RateState { remaining: to_u64(remaining), reset_ms: to_u64(ceil_div(ahead, self.limit)) }
    }

    /// The TAT `ahead` ticks past `now_ms`.
    pub fn tat(&self, now_ms: i64, ahead: i128) -> Tat {
        let ms = i128::from(now_ms) + ahead / self.limit;
        Tat { ms: i64::try_from(ms).unwrap_or(i64::MAX), frac: to_u64(ahead % self.limit) }
    }
}

fn ceil_div(a: i128, b: i128) -> i128 {
    (a + b - 1).div_euclid(b)
}

fn to_u64(v: i128) -> u64 {
    u64::try_from(v.max(0)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gcra(limit: u64, period_ms: u64, burst: u64) -> Gcra {
        Gcra::from(&RateItem { key: String::new(), limit, period_ms, burst, cost: 1 })
    }

    #[test]
    fn burst_passes_then_one_per_interval() {
        let g = gcra(10, 1000, 3); // interval 100 ms
        let mut ahead = 0;
        for remaining in [2, 1, 0] {
            ahead = g.take(ahead, 1).expect("within burst");
            assert_eq!(g.state(ahead).remaining, remaining);
        }
        assert_eq!(g.state(ahead).reset_ms, 300);
        assert_eq!(g.take(ahead, 1), Err(100));
        // 100 ms later one unit has been earned back.
        let later = g.ahead(Some(g.tat(0, ahead)), 100);
        assert_eq!(g.take(later, 1), Ok(300 * 10));
    }

    #[test]
    fn fractional_interval_is_exact() {
        // 7 per minute: 8571.428… ms apart; 7 sequential units take exactly one minute.
        let g = gcra(7, 60_000, 7);
        let mut ahead = 0;
        for _ in 0..7 {
            ahead = g.take(ahead, 1).expect("within burst");
        }
        let tat = g.tat(1_000, ahead);
        assert_eq!(tat, Tat { ms: 61_000, frac: 0 });
        assert_eq!(g.take(ahead, 1), Err(8572));
        let one = g.take(0, 1).expect("fresh");
        assert_eq!(g.tat(0, one), Tat { ms: 8571, frac: 3 });
    }

    #[test]
    fn cost_above_burst_never_passes() {
        let g = gcra(10, 1000, 3);
        assert_eq!(g.take(0, 4), Err(100));
        assert_eq!(g.take(0, 3), Ok(3000));
    }

    #[test]
    fn refund_stops_at_now_and_top_up_pushes_later() {
        let g = gcra(10, 1000, 3);
        let ahead = g.take(0, 2).expect("within burst");
        assert_eq!(g.adjust(ahead, -5), 0);
        assert_eq!(g.adjust(ahead, -1), 1000);
        assert_eq!(g.state(g.adjust(ahead, 4)), RateState { remaining: 0, reset_ms: 600 });
    }

    #[test]
    fn past_tat_counts_as_now() {
        let g = gcra(10, 1000, 3);
        assert_eq!(g.ahead(Some(Tat { ms: 500, frac: 9 }), 1_000), 0);
        assert_eq!(g.ahead(Some(Tat { ms: 1_000, frac: 99 }), 1_000), 9, "fraction clamped below one ms");
        assert_eq!(g.ahead(None, 1_000), 0);
    }
}
