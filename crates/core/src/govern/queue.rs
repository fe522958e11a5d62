//! Queue instead of refuse (`limits.queue`, opt-in per scope): a request over a rate limit of a
//! scope that allows it waits for the bucket to refill — the retry-after the counters computed —
//! and asks again, until it is admitted or until its next wait would end past the scope's bound
//! or the request's own deadline; then it is refused as it would have been at once. Nothing is
//! taken while a request waits, so a client that disconnects (which drops its request's future)
//! leaves nothing behind. Waiters are not served in arrival order: whichever asks first after a
//! refill gets it.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::governor::{Admission, Ask, Governor, Refusal};
use super::items::Scoped;

/// On an admitted request that waited for a rate limit: how long, in ms.
pub const QUEUED_HEADER: &str = "x-switchyard-queued-ms";

impl Governor {
    pub(super) async fn admit_waiting(self: &Arc<Self>, ask: &Ask<'_>, scopes: &[Scoped]) -> Result<Admission, Refusal> {
        let started = Instant::now();
        let mut waited = None;
        loop {
            // In-process counters run on the caller's clock: move it on by the time waited.
            let now = Ask { now_ms: ask.now_ms.saturating_add(waited.map_or(0, |w: Duration| w.as_millis() as i64)), ..*ask };
            let refusal = match self.admit_once(&now, scopes).await {
                Ok(mut admission) => {
                    if let Some(waited) = waited {
                        admission.headers.push((QUEUED_HEADER, waited.as_millis().max(1).to_string()));
                    }
                    return Ok(admission);
                }
                Err(refusal) => refusal,
            };
            let Some(wake) = wake_at(&refusal, scopes, started, ask.deadline) else { return Err(refusal) };
            tokio::time::sleep_until(wake).await;
            waited = Some(started.elapsed());
        }
    }
}

/// When a refused request should ask again: after the refill the refusal names, if that is
/// within the refusing scope's queue bound and the request's deadline; `None`: refuse now.
fn wake_at(refusal: &Refusal, scopes: &[Scoped], started: Instant, deadline: Option<Instant>) -> Option<Instant> {
    let Refusal::RateLimited { scope, name, retry_after_ms, .. } = refusal else { return None };
    let bound = scopes.iter().find(|s| s.scope == *scope && s.name == *name)?.limits.queue?;
    let until = deadline.map_or(started + bound, |d| d.min(started + bound));
    let wake = Instant::now() + Duration::from_millis((*retry_after_ms).max(1));
    (wake <= until).then_some(wake)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;
    use crate::govern::{Caller, GovernorConfig, SpendSource, Unit, WorstCase};
    use crate::store::{Admit, CounterStore, Limits, RateState, Scope, Settle, StoreError, Verdict};

    /// A token bucket per rate key in whole milliseconds, on the caller's clock (as
    /// `MemoryCounters` runs): enough to see when the governor asks again and with what time.
    #[derive(Default)]
    struct Buckets {
        tats: Mutex<HashMap<String, i64>>,
        asked_at: Mutex<Vec<i64>>,
    }

    #[async_trait::async_trait]
    impl CounterStore for Buckets {
        async fn admit(&self, admit: &Admit) -> Result<Verdict, StoreError> {
            self.asked_at.lock().unwrap().push(admit.now_ms);
            let mut tats = self.tats.lock().unwrap();
            let r = &admit.rates[0];
            let interval = (r.period_ms / r.limit) as i64;
            let tat = tats.get(&r.key).copied().unwrap_or(admit.now_ms).max(admit.now_ms);
            let over = tat + r.cost as i64 * interval - admit.now_ms - r.burst as i64 * interval;
            if over > 0 {
                return Ok(Verdict::RateLimited { index: 0, retry_after_ms: over as u64, state: RateState::default() });
            }
            tats.insert(r.key.clone(), tat + r.cost as i64 * interval);
            Ok(Verdict::Admitted { rates: vec![RateState::default()], budgets: Vec::new() })
        }
        async fn settle(&self, _: &Settle) -> Result<(), StoreError> {
            Ok(())
        }
        async fn seed(&self, _: &str, value: i64, _: u64) -> Result<i64, StoreError> {
            Ok(value)
        }
        async fn budget_used(&self, _: &str, _: i64) -> Result<Option<i64>, StoreError> {
            Ok(Some(0))
        }
        async fn once(&self, _: &str, _: u64) -> Result<bool, StoreError> {
            Ok(true)
        }
    }

    struct NoSpend;

    #[async_trait::async_trait]
    impl SpendSource for NoSpend {
        async fn used(&self, _: Scope, _: &str, _: Option<&str>, _: Unit, _: Option<i64>) -> Result<i64, StoreError> {
            Ok(0)
        }
    }

    const T0: i64 = 1_800_000_000_000;

    fn governor() -> (Arc<Governor>, Arc<Buckets>) {
        let buckets = Arc::new(Buckets::default());
        (Governor::new(GovernorConfig::default(), buckets.clone(), None, Arc::new(NoSpend), None), buckets)
    }

    /// One request a second, one at a time (`rpm: 60, burst: 1`), queued for up to `queue`.
    fn limited(queue: Option<Duration>) -> Vec<Scoped> {
        let limits = Limits { rpm: Some(60), burst: Some(1), queue, ..Limits::default() };
        vec![Scoped { scope: Scope::Key, name: "k".into(), within: None, limits, budget: None }]
    }

    /// `admit` as the pipeline calls it: the wall clock advanced as tokio's paused clock has.
    async fn ask(gov: &Arc<Governor>, scopes: &[Scoped], start: Instant, deadline: Option<Instant>) -> Result<Admission, Refusal> {
        let caller = Caller::anonymous();
        let now_ms = T0 + start.elapsed().as_millis() as i64;
        let ask = Ask { caller: &caller, customer: None, feature: None, model: "m", worst: WorstCase::default(), now_ms, deadline };
        gov.admit(&ask, scopes).await
    }

    fn queued_ms(admission: &Admission) -> Option<&str> {
        admission.headers.iter().find(|(name, _)| *name == QUEUED_HEADER).map(|(_, v)| v.as_str())
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_over_a_queued_limit_waits_for_the_refill_and_is_admitted() {
        let (gov, buckets) = governor();
        let scopes = limited(Some(Duration::from_secs(5)));
        let start = Instant::now();
        let first = ask(&gov, &scopes, start, None).await.expect("a full bucket");
        assert_eq!(queued_ms(&first), None, "not queued");
        let second = ask(&gov, &scopes, start, None).await.expect("admitted after the refill");
        assert_eq!(start.elapsed(), Duration::from_secs(1), "admitted as soon as the bucket refilled");
        assert_eq!(queued_ms(&second), Some("1000"));
        assert_eq!(*buckets.asked_at.lock().unwrap(), [T0, T0, T0 + 1_000], "asked again once, on a clock moved on by the wait");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refill_later_than_the_queue_bound_is_refused_at_once() {
        let (gov, _) = governor();
        let scopes = limited(Some(Duration::from_millis(900)));
        let start = Instant::now();
        ask(&gov, &scopes, start, None).await.expect("a full bucket");
        let refused = ask(&gov, &scopes, start, None).await.err().expect("the refill is 1 s away, the bound 900 ms");
        assert!(matches!(refused, Refusal::RateLimited { retry_after_ms: 1_000, .. }), "{refused:?}");
        assert_eq!(start.elapsed(), Duration::ZERO, "no pointless wait");
    }

    #[tokio::test(start_paused = true)]
    async fn a_queued_request_never_waits_past_its_own_deadline() {
        let (gov, _) = governor();
        let scopes = limited(Some(Duration::from_secs(10)));
        let start = Instant::now();
        ask(&gov, &scopes, start, None).await.expect("a full bucket");
        let refused = ask(&gov, &scopes, start, Some(start + Duration::from_millis(500))).await.err();
        assert!(matches!(refused, Some(Refusal::RateLimited { .. })), "{refused:?}");
        assert_eq!(start.elapsed(), Duration::ZERO);
        ask(&gov, &scopes, start, Some(start + Duration::from_millis(1_000))).await.expect("a deadline at the refill is enough");
    }

    #[tokio::test(start_paused = true)]
    async fn without_queue_a_limited_request_is_refused_at_once() {
        let (gov, _) = governor();
        let scopes = limited(None);
        let start = Instant::now();
        ask(&gov, &scopes, start, None).await.expect("a full bucket");
        assert!(ask(&gov, &scopes, start, None).await.is_err());
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn queued_requests_are_admitted_one_per_refill_until_the_bound() {
        let (gov, _) = governor();
        let scopes = Arc::new(limited(Some(Duration::from_millis(3_500))));
        let start = Instant::now();
        let waiting: Vec<_> = (0..6)
            .map(|_| {
                let (gov, scopes) = (gov.clone(), scopes.clone());
                tokio::spawn(async move { ask(&gov, &scopes, start, None).await.map(|_| start.elapsed()) })
            })
            .collect();
        let mut admitted_at = Vec::new();
        let mut refused = 0;
        for w in waiting {
            match w.await.unwrap() {
                Ok(at) => admitted_at.push(at.as_millis()),
                Err(_) => refused += 1,
            }
        }
        admitted_at.sort();
        assert_eq!(admitted_at, [0, 1_000, 2_000, 3_000], "one at once, then one per refill within 3.5 s");
        assert_eq!(refused, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_request_that_is_dropped_takes_nothing() {
        let (gov, _) = governor();
        let scopes = Arc::new(limited(Some(Duration::from_secs(5))));
        let start = Instant::now();
        ask(&gov, &scopes, start, None).await.expect("a full bucket");
        let waiting = {
            let (gov, scopes) = (gov.clone(), scopes.clone());
            tokio::spawn(async move { ask(&gov, &scopes, start, None).await.is_ok() })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The client went away: its request's future is dropped mid-wait.
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let next = ask(&gov, &limited(None), start, None).await.expect("the refill went to the next request, not the dropped one");
        assert_eq!(queued_ms(&next), None);
    }
}
