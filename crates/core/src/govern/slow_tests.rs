//! The governor against a shared store that is slow but alive: waited for, never taken for an
//! outage (which would let every instance spend alone), and refused as unavailable past the
//! request's bound.

use std::sync::Arc;
use std::time::Duration;

use crate::store::{Admit, CounterStore, Scope, Settle, StoreError, Verdict};

use super::auth::Caller;
use super::governor::{Ask, Governor, GovernorConfig, Refusal, SpendSource};
use super::items::{Scoped, WorstCase};
use super::names::Unit;

/// Admits everything after `delay`.
struct Slow {
    delay: Duration,
}

#[async_trait::async_trait]
impl CounterStore for Slow {
    async fn admit(&self, admit: &Admit) -> Result<Verdict, StoreError> {
        tokio::time::sleep(self.delay).await;
        Ok(Verdict::Admitted { rates: Vec::new(), budgets: admit.budgets.iter().map(|b| b.amount).collect() })
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

fn governor(shared_delay: Duration, config: GovernorConfig) -> Arc<Governor> {
    let local: Arc<dyn CounterStore> = Arc::new(Slow { delay: Duration::ZERO });
    let shared: Arc<dyn CounterStore> = Arc::new(Slow { delay: shared_delay });
    Governor::new(config, local, Some(shared), Arc::new(NoSpend), None)
}

async fn admit(gov: &Arc<Governor>) -> Result<(), Refusal> {
    admit_by(gov, None).await
}

async fn admit_by(gov: &Arc<Governor>, deadline: Option<tokio::time::Instant>) -> Result<(), Refusal> {
    let caller = Caller::anonymous();
    let budget = serde_json::from_value(serde_json::json!({"usd": 1.0, "window": "total"})).expect("budget");
    let scopes = vec![Scoped { scope: Scope::Team, name: "t".into(), within: None, limits: Default::default(), budget: Some(budget) }];
    let ask = Ask {
        caller: &caller,
        customer: None,
        feature: None,
        model: "m",
        worst: WorstCase { tokens: 10, usd: Some(0.01), tpm_tokens: 10 },
        now_ms: crate::time::now_ms(),
        deadline,
    };
    gov.admit(&ask, &scopes).await.map(|_| ())
}

#[tokio::test(start_paused = true)]
async fn a_redis_slower_than_the_old_50ms_timeout_is_waited_for_and_not_taken_for_an_outage() {
    let gov = governor(Duration::from_millis(300), GovernorConfig::default());
    let local_before = crate::metrics::LOCAL_ADMISSIONS.get();
    for _ in 0..3 {
        assert_eq!(admit(&gov).await, Ok(()));
    }
    assert!(gov.shared_up(), "slow is not down");
    assert_eq!(crate::metrics::LOCAL_ADMISSIONS.get(), local_before, "nothing was decided locally");
}

#[tokio::test(start_paused = true)]
async fn a_redis_slower_than_the_request_bound_is_refused_as_unavailable_not_decided_locally() {
    let config = GovernorConfig { shared_cap: Duration::from_secs(1), ..GovernorConfig::default() };
    let gov = governor(Duration::from_secs(3), config);
    assert_eq!(admit(&gov).await, Err(Refusal::Unavailable { what: "counters" }));
    assert!(gov.shared_up(), "a request that waited its bound does not declare an outage");
}

#[tokio::test(start_paused = true)]
async fn a_slow_redis_is_waited_for_until_the_requests_own_deadline_and_shed_past_it() {
    // Redis answers in 3 s: longer than the bound of a request without a deadline (1 s here).
    let config = GovernorConfig { shared_cap: Duration::from_secs(1), ..GovernorConfig::default() };
    let gov = governor(Duration::from_secs(3), config);
    let start = tokio::time::Instant::now();
    assert_eq!(admit_by(&gov, Some(start + Duration::from_secs(10))).await, Ok(()), "a request with time left waits");
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    let start = tokio::time::Instant::now();
    let refused = admit_by(&gov, Some(start + Duration::from_secs(2))).await;
    assert_eq!(refused, Err(Refusal::Unavailable { what: "counters" }), "past its deadline it is shed");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert!(gov.shared_up());
}
