//! One contract suite for every `CounterStore`: `MemoryCounters`, and `RedisCounters` on the real
//! Redis at `SWITCHYARD_TEST_REDIS_URL` (skipped only when `SWITCHYARD_SKIP_REDIS` says why).
//! Every test builds its keys under its own random prefix. Redis counts in its own server time,
//! so the timing tests sleep for real (tens of ms) and bound what they assert by what was
//! measured around the calls.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

#[macro_use]
#[path = "support/contract.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_core::store::{
    Admit, BudgetItem, BudgetSettle, CounterStore, EscrowAsk, RateAdjust, RateItem, RateState, Settle, SlotItem, Verdict,
};
use switchyard_core::time::now_ms;
use switchyard_store::{MemoryCounters, RedisCounters};

const TTL_MS: u64 = 60_000;
/// A budget limit that no test reaches (well inside the 2^53 that Lua counts exactly).
const BIG: i64 = 1_000_000_000_000;

/// A store under test and a key prefix of its own.
struct Fixture {
    store: Arc<dyn CounterStore>,
    /// `None` for memory: its instances share the one store.
    redis_url: Option<String>,
    prefix: String,
}

impl Fixture {
    fn memory() -> Option<Self> {
        Some(Self { store: Arc::new(MemoryCounters::new()), redis_url: None, prefix: prefix() })
    }

    async fn redis() -> Option<Self> {
        let Ok(url) = std::env::var("SWITCHYARD_TEST_REDIS_URL") else {
            match std::env::var("SWITCHYARD_SKIP_REDIS") {
                Ok(why) if !why.trim().is_empty() => {
                    eprintln!("SKIPPED: Redis half of the counters contract (SWITCHYARD_SKIP_REDIS={why})");
                    return None;
                }
                _ => panic!(
                    "SWITCHYARD_TEST_REDIS_URL is not set; set it (e.g. redis://127.0.0.1:6379) or say why not in SWITCHYARD_SKIP_REDIS"
                ),
            }
        };
        let store = Arc::new(connect(&url).await);
        Some(Self { store, redis_url: Some(url), prefix: prefix() })
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// `n` handles on the same counters, as `n` gateway instances would hold them: on Redis each
    /// with its own connection.
    async fn instances(&self, n: usize) -> Vec<Arc<dyn CounterStore>> {
        let mut out: Vec<Arc<dyn CounterStore>> = Vec::new();
        for _ in 0..n {
            match &self.redis_url {
                Some(url) => out.push(Arc::new(connect(url).await)),
                None => out.push(self.store.clone()),
            }
        }
        out
    }
}

async fn connect(url: &str) -> RedisCounters {
    RedisCounters::connect(url, Duration::from_secs(2)).await.unwrap_or_else(|e| panic!("Redis at {url}: {e}"))
}

fn prefix() -> String {
    format!("sytest:{}", uuid::Uuid::now_v7())
}

contract!(
    gcra_admits_burst_then_one_per_interval,
    fractional_interval_is_exact,
    cost_above_burst_is_refused,
    a_full_bucket_admits_its_capacity_at_once_across_instances,
    refused_admission_takes_nothing,
    slots_limit_release_and_expire,
    budget_race_admits_exactly_limit_over_amount,
    unsettled_reservations_expire,
    settle_replaces_reservation_with_actual,
    settle_is_idempotent,
    unseeded_budget_until_seeded,
    seed_does_not_overwrite,
    budget_total_expires_with_its_ttl,
    rate_adjust_refunds_and_tops_up,
    once_is_true_once_per_ttl,
    admit_latency,
);

fn admit(lease: &str) -> Admit {
    Admit { lease_id: lease.into(), lease_ms: 10_000, now_ms: now_ms(), ..Admit::default() }
}

fn settle(lease: &str) -> Settle {
    Settle { lease_id: lease.into(), now_ms: now_ms(), ..Settle::default() }
}

fn rate(key: &str, limit: u64, period_ms: u64, burst: u64, cost: u64) -> RateItem {
    RateItem { key: key.into(), limit, period_ms, burst, cost }
}

fn slot(key: &str, max: u64) -> SlotItem {
    SlotItem { key: key.into(), max }
}

fn budget(key: &str, limit: i64, amount: i64) -> BudgetItem {
    BudgetItem { key: key.into(), limit, amount, ttl_ms: TTL_MS }
}

/// Settles the reservation this lease made.
fn spend(key: &str, actual: i64) -> BudgetSettle {
    BudgetSettle { key: key.into(), actual, ttl_ms: TTL_MS, reserved: true }
}

/// Spend admitted elsewhere (an outage) and replayed: no reservation here.
fn replayed(key: &str, actual: i64) -> BudgetSettle {
    BudgetSettle { reserved: false, ..spend(key, actual) }
}

fn adjust(item: &RateItem, delta: i64) -> RateAdjust {
    RateAdjust { key: item.key.clone(), limit: item.limit, period_ms: item.period_ms, burst: item.burst, delta }
}

async fn run(store: &dyn CounterStore, a: Admit) -> Verdict {
    store.admit(&a).await.expect("admit")
}

async fn rates(store: &dyn CounterStore, items: Vec<RateItem>) -> Verdict {
    run(store, Admit { rates: items, ..admit("rate") }).await
}

fn admitted(v: Verdict) -> (Vec<RateState>, Vec<i64>) {
    match v {
        Verdict::Admitted { rates, budgets } => (rates, budgets),
        other => panic!("expected Admitted, got {other:?}"),
    }
}

async fn used(f: &Fixture, key: &str) -> Option<i64> {
    f.store.budget_used(key, now_ms()).await.expect("budget_used")
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

async fn gcra_admits_burst_then_one_per_interval(f: Fixture) {
    let item = rate(&f.key("rate"), 10, 1_000, 3, 1); // one unit per 100 ms, 3 at once
    let start = Instant::now();
    for remaining in [2, 1, 0] {
        let (states, _) = admitted(rates(&*f.store, vec![item.clone()]).await);
        assert_eq!(states[0].remaining, remaining);
    }
    let refused = rates(&*f.store, vec![item.clone()]).await;
    let elapsed = start.elapsed().as_millis() as u64;
    let Verdict::RateLimited { index: 0, retry_after_ms, state } = refused else { panic!("expected RateLimited, got {refused:?}") };
    // The burst was taken at most `elapsed` ms ago: one unit comes back 100 ms after that.
    assert!((99u64.saturating_sub(elapsed)..=101).contains(&retry_after_ms), "retry_after {retry_after_ms} ms, {elapsed} ms elapsed");
    assert_eq!(state.remaining, 0);
    assert!((299u64.saturating_sub(elapsed)..=301).contains(&state.reset_ms), "reset {} ms, {elapsed} ms elapsed", state.reset_ms);

    sleep_ms(retry_after_ms).await;
    let (states, _) = admitted(rates(&*f.store, vec![item.clone()]).await);
    assert_eq!(states[0].remaining, 0);
    match rates(&*f.store, vec![item]).await {
        Verdict::RateLimited { retry_after_ms, .. } => assert!((1..=101).contains(&retry_after_ms), "{retry_after_ms}"),
        other => panic!("one unit per interval, got {other:?}"),
    }
}

async fn fractional_interval_is_exact(f: Fixture) {
    let item = rate(&f.key("rate"), 3, 1_000, 3, 2); // one unit per 333.33… ms
    let start = Instant::now();
    let (states, _) = admitted(rates(&*f.store, vec![item.clone()]).await);
    assert_eq!(states[0], RateState { remaining: 1, reset_ms: 667 }, "666.67 ms rounded up");
    let refused = rates(&*f.store, vec![item]).await;
    let elapsed = start.elapsed().as_millis() as u64;
    let Verdict::RateLimited { retry_after_ms, state, .. } = refused else { panic!("expected RateLimited, got {refused:?}") };
    // 333.33… ms rounded up, less the time since the units were taken.
    assert!((333u64.saturating_sub(elapsed)..=334).contains(&retry_after_ms), "retry_after {retry_after_ms} ms, {elapsed} ms elapsed");
    assert!((666u64.saturating_sub(elapsed)..=667).contains(&state.reset_ms), "reset {} ms, {elapsed} ms elapsed", state.reset_ms);
    assert_eq!(state.remaining, 1, "one unit is left, two are not");
}

async fn cost_above_burst_is_refused(f: Fixture) {
    let too_big = rate(&f.key("rate"), 10, 1_000, 3, 4);
    let v = rates(&*f.store, vec![too_big.clone()]).await;
    assert_eq!(v, Verdict::RateLimited { index: 0, retry_after_ms: 100, state: RateState { remaining: 3, reset_ms: 0 } });
    let (states, _) = admitted(rates(&*f.store, vec![RateItem { cost: 3, ..too_big }]).await);
    assert_eq!(states[0].remaining, 0);
}

async fn a_full_bucket_admits_its_capacity_at_once_across_instances(f: Fixture) {
    // `rpm: 30`: a bucket of 30, one back every 2 s; 60 at once from three instances.
    let item = rate(&f.key("rpm"), 30, 60_000, 30, 1);
    let instances = f.instances(3).await;
    let asks: Vec<_> = (0..60)
        .map(|i| {
            let (store, item) = (instances[i % 3].clone(), item.clone());
            tokio::spawn(async move { store.admit(&Admit { rates: vec![item], ..admit(&format!("lease-{i}")) }).await.expect("admit") })
        })
        .collect();
    let (mut remaining, mut waits) = (Vec::new(), Vec::new());
    for a in asks {
        match a.await.unwrap() {
            Verdict::Admitted { rates, .. } => remaining.push(rates[0].remaining),
            Verdict::RateLimited { retry_after_ms, .. } => waits.push(retry_after_ms),
            other => panic!("unexpected {other:?}"),
        }
    }
    remaining.sort_unstable();
    assert_eq!(remaining, (0..30).collect::<Vec<u64>>(), "30 admitted, each taking one token of the one bucket");
    assert!(waits.iter().all(|w| (1..=2_000).contains(w)), "the next token is at most 2 s away: {waits:?}");
}

async fn refused_admission_takes_nothing(f: Fixture) {
    // A refused second rate leaves the first untouched.
    let first = rate(&f.key("a"), 10, 1_000, 5, 1);
    let second = rate(&f.key("b"), 10, 1_000, 1, 1);
    admitted(rates(&*f.store, vec![second.clone()]).await);
    assert!(matches!(rates(&*f.store, vec![first.clone(), second]).await, Verdict::RateLimited { index: 1, .. }));
    admitted(rates(&*f.store, vec![RateItem { cost: 5, ..first }]).await);

    // A busy slot leaves the rate untouched.
    let tight = rate(&f.key("c"), 10, 1_000, 1, 1);
    let held = f.key("held");
    admitted(run(&*f.store, Admit { slots: vec![slot(&held, 1)], ..admit("holder") }).await);
    let v = run(&*f.store, Admit { rates: vec![tight.clone()], slots: vec![slot(&held, 1)], ..admit("l1") }).await;
    assert_eq!(v, Verdict::Busy { index: 0 });
    admitted(rates(&*f.store, vec![tight]).await);

    // An exhausted or unseeded budget leaves the slot free.
    let seeded = f.key("seeded");
    f.store.seed(&seeded, 0, TTL_MS).await.expect("seed");
    let free = f.key("free");
    let v = run(&*f.store, Admit { slots: vec![slot(&free, 1)], budgets: vec![budget(&seeded, 10, 11)], ..admit("l2") }).await;
    assert_eq!(v, Verdict::OverBudget { index: 0, used: 0 });
    let v = run(&*f.store, Admit { slots: vec![slot(&free, 1)], budgets: vec![budget(&f.key("unseeded"), 10, 1)], ..admit("l3") }).await;
    assert_eq!(v, Verdict::Unseeded { index: 0 });
    admitted(run(&*f.store, Admit { slots: vec![slot(&free, 1)], ..admit("l4") }).await);
    assert_eq!(used(&f, &seeded).await, Some(0));
}

async fn slots_limit_release_and_expire(f: Fixture) {
    let key = f.key("slots");
    let take = |lease: &str, lease_ms: u64| Admit { slots: vec![slot(&key, 2)], lease_ms, ..admit(lease) };
    admitted(run(&*f.store, take("l1", 10_000)).await);
    admitted(run(&*f.store, take("l2", 100)).await);
    assert_eq!(run(&*f.store, take("l3", 10_000)).await, Verdict::Busy { index: 0 });
    f.store.settle(&Settle { slots: vec![key.clone()], ..settle("l1") }).await.expect("settle");
    admitted(run(&*f.store, take("l3", 10_000)).await);
    assert_eq!(run(&*f.store, take("l4", 10_000)).await, Verdict::Busy { index: 0 });
    sleep_ms(150).await; // l2's lease runs out
    admitted(run(&*f.store, take("l4", 10_000)).await);
}

async fn budget_race_admits_exactly_limit_over_amount(f: Fixture) {
    let key = f.key("budget");
    f.store.seed(&key, 0, TTL_MS).await.expect("seed");
    let instances = f.instances(4).await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = instances[i % instances.len()].clone();
            let a = Admit { budgets: vec![budget(&key, 700, 7)], ..admit(&format!("lease-{i}")) };
            tokio::spawn(async move { store.admit(&a).await.expect("admit") })
        })
        .collect();
    let mut admitted_count = 0;
    for task in tasks {
        match task.await.expect("task") {
            Verdict::Admitted { .. } => admitted_count += 1,
            Verdict::OverBudget { index: 0, used } => assert!(used > 693 && used <= 700, "used {used}"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(admitted_count, 100);
    assert_eq!(used(&f, &key).await, Some(700));
}

async fn unsettled_reservations_expire(f: Fixture) {
    let key = f.key("budget");
    f.store.seed(&key, 0, TTL_MS).await.expect("seed");
    let reserve = |lease: &str, amount: i64| Admit { budgets: vec![budget(&key, 100, amount)], lease_ms: 100, ..admit(lease) };
    assert_eq!(admitted(run(&*f.store, reserve("l1", 50)).await).1, vec![50]);
    assert_eq!(admitted(run(&*f.store, reserve("l2", 50)).await).1, vec![100]);
    assert_eq!(run(&*f.store, reserve("l3", 1)).await, Verdict::OverBudget { index: 0, used: 100 });
    sleep_ms(150).await; // neither was settled: their instance "died"
    assert_eq!(used(&f, &key).await, Some(0));
    assert_eq!(admitted(run(&*f.store, reserve("l4", 100)).await).1, vec![100]);
}

async fn settle_replaces_reservation_with_actual(f: Fixture) {
    let key = f.key("budget");
    f.store.seed(&key, 1_000, TTL_MS).await.expect("seed");
    let reserve = |lease: &str| Admit { budgets: vec![budget(&key, 10_000, 100)], ..admit(lease) };
    assert_eq!(admitted(run(&*f.store, reserve("less")).await).1, vec![1_100]);
    f.store.settle(&Settle { budgets: vec![spend(&key, 40)], ..settle("less") }).await.expect("settle");
    assert_eq!(used(&f, &key).await, Some(1_040));
    assert_eq!(admitted(run(&*f.store, reserve("more")).await).1, vec![1_140]);
    f.store.settle(&Settle { budgets: vec![spend(&key, 250)], ..settle("more") }).await.expect("settle");
    assert_eq!(used(&f, &key).await, Some(1_290));
}

async fn settle_is_idempotent(f: Fixture) {
    let key = f.key("budget");
    f.store.seed(&key, 0, TTL_MS).await.expect("seed");
    admitted(run(&*f.store, Admit { budgets: vec![budget(&key, 1_000, 100)], ..admit("l1") }).await);
    for _ in 0..3 {
        f.store.settle(&Settle { budgets: vec![spend(&key, 30)], ..settle("l1") }).await.expect("settle");
    }
    assert_eq!(used(&f, &key).await, Some(30));
    // Spend replayed from an outage (no reservation here) counts, once.
    for _ in 0..2 {
        f.store.settle(&Settle { budgets: vec![replayed(&key, 5)], ..settle("no-reservation") }).await.expect("settle");
    }
    assert_eq!(used(&f, &key).await, Some(35));
    // A reservation's settle after it expired, or a second time, adds nothing.
    f.store.settle(&Settle { budgets: vec![spend(&key, 1_000)], ..settle("never-reserved") }).await.expect("settle");
    assert_eq!(used(&f, &key).await, Some(35));
}

async fn unseeded_budget_until_seeded(f: Fixture) {
    let key = f.key("budget");
    let a = Admit { budgets: vec![budget(&key, 1_000, 100)], ..admit("l1") };
    assert_eq!(run(&*f.store, a.clone()).await, Verdict::Unseeded { index: 0 });
    assert_eq!(used(&f, &key).await, None);
    // A settle does not invent a total: the durable log seeds it, this spend included.
    f.store.settle(&Settle { budgets: vec![replayed(&key, 7)], ..settle("l0") }).await.expect("settle");
    assert_eq!(used(&f, &key).await, None);
    assert_eq!(f.store.seed(&key, 500, TTL_MS).await.expect("seed"), 500);
    assert_eq!(admitted(run(&*f.store, a).await).1, vec![600]);
}

async fn seed_does_not_overwrite(f: Fixture) {
    let key = f.key("budget");
    assert_eq!(f.store.seed(&key, 10, TTL_MS).await.expect("seed"), 10);
    assert_eq!(f.store.seed(&key, 99, TTL_MS).await.expect("seed"), 10);
    assert_eq!(used(&f, &key).await, Some(10));
}

async fn budget_total_expires_with_its_ttl(f: Fixture) {
    let key = f.key("budget");
    f.store.seed(&key, 10, 100).await.expect("seed");
    assert_eq!(used(&f, &key).await, Some(10));
    sleep_ms(150).await;
    assert_eq!(used(&f, &key).await, None);
    let v = run(&*f.store, Admit { budgets: vec![budget(&key, 1_000, 1)], ..admit("l1") }).await;
    assert_eq!(v, Verdict::Unseeded { index: 0 });
}

async fn rate_adjust_refunds_and_tops_up(f: Fixture) {
    let s = &*f.store;
    let tokens = rate(&f.key("refund"), 10, 1_000, 3, 3);
    admitted(rates(s, vec![tokens.clone()]).await);
    s.settle(&Settle { rates: vec![adjust(&tokens, -2)], ..settle("l1") }).await.expect("refund");
    let (states, _) = admitted(rates(s, vec![RateItem { cost: 2, ..tokens.clone() }]).await);
    assert_eq!(states[0].remaining, 0);

    // A refund cannot bank units beyond the burst.
    let idle = rate(&f.key("idle"), 10, 1_000, 3, 3);
    s.settle(&Settle { rates: vec![adjust(&idle, -5)], ..settle("l2") }).await.expect("refund");
    admitted(rates(s, vec![idle.clone()]).await);
    assert!(matches!(rates(s, vec![RateItem { cost: 1, ..idle }]).await, Verdict::RateLimited { .. }));

    let topped = rate(&f.key("topup"), 10, 1_000, 3, 1);
    admitted(rates(s, vec![topped.clone()]).await);
    s.settle(&Settle { rates: vec![adjust(&topped, 1)], ..settle("l3") }).await.expect("top-up");
    assert!(matches!(rates(s, vec![RateItem { cost: 2, ..topped.clone() }]).await, Verdict::RateLimited { .. }));
    let (states, _) = admitted(rates(s, vec![topped]).await);
    assert_eq!(states[0].remaining, 0);
}

async fn once_is_true_once_per_ttl(f: Fixture) {
    let key = f.key("alert");
    assert!(f.store.once(&key, 100).await.expect("once"));
    assert!(!f.store.once(&key, 100).await.expect("once"));
    assert!(f.store.once(&f.key("other"), 100).await.expect("once"));
    sleep_ms(150).await;
    assert!(f.store.once(&key, 100).await.expect("once"));
}

/// Prints the cost of one admission and one settle with 3 rates, 1 slot and 2 budgets
/// (run with `--nocapture`); it asserts only that every admission passed.
async fn admit_latency(f: Fixture) {
    const N: u32 = 1_000;
    let (team, key) = (f.key("team"), f.key("key"));
    for budget_key in [&team, &key] {
        f.store.seed(budget_key, 0, TTL_MS).await.expect("seed");
    }
    let rate_items: Vec<RateItem> = ["rpm", "tpm", "team-rpm"].iter().map(|n| rate(&f.key(n), 1_000_000, 60_000, 1_000_000, 1)).collect();
    let (mut admitting, mut settling) = (Duration::ZERO, Duration::ZERO);
    for i in 0..N {
        let lease = format!("lease-{i}");
        let a = Admit {
            rates: rate_items.clone(),
            slots: vec![slot(&f.key("concurrency"), 10)],
            budgets: vec![budget(&team, BIG, 10), budget(&key, BIG, 10)],
            ..admit(&lease)
        };
        let start = Instant::now();
        admitted(run(&*f.store, a).await);
        admitting += start.elapsed();
        let s = Settle {
            rates: rate_items.iter().map(|r| adjust(r, 0)).collect(),
            slots: vec![f.key("concurrency")],
            budgets: vec![spend(&team, 9), spend(&key, 9)],
            ..settle(&lease)
        };
        let start = Instant::now();
        f.store.settle(&s).await.expect("settle");
        settling += start.elapsed();
    }
    let backend = if f.redis_url.is_some() { "redis" } else { "memory" };
    println!(
        "{backend}: admit {:.1} µs/op, settle {:.1} µs/op (3 rates, 1 slot, 2 budgets; {N} sequential)",
        admitting.as_secs_f64() * 1e6 / f64::from(N),
        settling.as_secs_f64() * 1e6 / f64::from(N)
    );
    assert_eq!(used(&f, &team).await, Some(9 * i64::from(N)));
}

/// What only the shared store has to show.
mod redis_only {
    use super::*;

    #[tokio::test]
    async fn scripts_are_reloaded_after_a_script_flush() {
        let Some(f) = Fixture::redis().await else { return };
        let item = rate(&f.key("rate"), 10, 1_000, 3, 1);
        admitted(rates(&*f.store, vec![item.clone()]).await);
        // What a Redis restart does to the script cache; EVALSHA must fall back to EVAL.
        let url = f.redis_url.clone().expect("redis fixture");
        let mut raw = ::redis::Client::open(url).expect("url").get_multiplexed_async_connection().await.expect("connect");
        let () = ::redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut raw).await.expect("SCRIPT FLUSH");
        let (states, _) = admitted(rates(&*f.store, vec![item]).await);
        assert_eq!(states[0].remaining, 1);
    }

    fn escrow(key: &str, holder: &str, want: i64) -> EscrowAsk {
        EscrowAsk { key: key.into(), holder: holder.into(), limit: 1_000, want, unit: 10, hold_ms: 10_000, ttl_ms: TTL_MS }
    }

    #[tokio::test]
    async fn escrows_are_reserved_for_everyone_shrink_near_the_end_and_give_way_to_a_squeeze() {
        let Some(f) = Fixture::redis().await else { return };
        let key = f.key("budget");
        assert_eq!(f.store.escrow(&escrow(&key, "a", 50)).await.unwrap(), None, "nothing is held against an unseeded total");
        f.store.seed(&key, 600, TTL_MS).await.expect("seed");
        // An eighth of the 400 left free, at most what is wanted.
        assert_eq!(f.store.escrow(&escrow(&key, "a", 80)).await.unwrap(), Some(50));
        assert_eq!(f.store.escrow(&escrow(&key, "b", 30)).await.unwrap(), Some(30));
        assert_eq!(used(&f, &key).await, Some(680), "both escrows count as reserved");
        // Asked again, an escrow is resized, not added to.
        assert_eq!(f.store.escrow(&escrow(&key, "a", 20)).await.unwrap(), Some(20));
        assert_eq!(used(&f, &key).await, Some(650));
        // Admissions cannot take what escrows hold.
        let take = |lease: &str, amount| Admit { budgets: vec![budget(&key, 1_000, amount)], ..admit(lease) };
        admitted(run(&*f.store, take("r1", 345)).await);
        assert!(matches!(run(&*f.store, take("r2", 40)).await, Verdict::OverBudget { .. }));
        // Near the end an escrow is less than one request (10): nothing.
        assert_eq!(f.store.escrow(&escrow(&key, "b", 30)).await.unwrap(), Some(0), "(1000 - 965) / 8 < 10");
        // A squeeze drops the caller's escrow, says whether the request would fit without the
        // others', and makes every holder drop theirs when it next asks.
        assert!(f.store.squeeze(&escrow(&key, "c", 40)).await.unwrap(), "a's 20 hold the 40 back");
        assert!(!f.store.squeeze(&escrow(&key, "c", 60)).await.unwrap(), "60 would not fit anyway");
        assert_eq!(f.store.escrow(&escrow(&key, "a", 20)).await.unwrap(), Some(0), "dropped during a squeeze");
        admitted(run(&*f.store, take("r3", 40)).await);
        assert_eq!(used(&f, &key).await, Some(985), "600 + 345 + 40 + nothing held");
    }

    #[tokio::test]
    async fn counts_in_server_time_whatever_the_callers_clock() {
        let Some(f) = Fixture::redis().await else { return };
        let item = rate(&f.key("rate"), 10, 1_000, 1, 1);
        let hour = 3_600_000;
        let behind = Admit { rates: vec![item.clone()], now_ms: now_ms() - hour, ..admit("l1") };
        admitted(run(&*f.store, behind).await);
        // An instance whose clock runs an hour ahead still sees the unit just taken.
        let ahead = Admit { rates: vec![item], now_ms: now_ms() + hour, ..admit("l2") };
        assert!(matches!(run(&*f.store, ahead).await, Verdict::RateLimited { .. }));
    }
}
