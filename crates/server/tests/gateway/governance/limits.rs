//! Rate limits: token buckets shared by three instances through Redis, tokens per minute
//! reserved and settled, concurrency, queueing instead of refusing, and the headers clients see.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_testkit::GatewayProcess;

use super::*;
use crate::common::*;

#[tokio::test]
async fn thirty_rpm_across_three_instances_admits_thirty_at_once_then_one_per_two_seconds() {
    let (Some(pg), Some(redis)) = (postgres_url(), redis_url()) else { return };
    let schema = Schema::create(&pg).await;
    // A Redis timeout above what this loaded test host needs: see `budgets.rs`.
    let config = format!(
        "database: \"{}\"\nredis: {redis}\nkeys: {{ secret: {KEY_SECRET}, require: true }}\ngovernance: {{ redis_timeout: 500ms }}\nadmin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\nproviders:\n  mock: {{ type: mock }}\n",
        schema.url
    );
    let gws = Arc::new([
        GatewayProcess::spawn(bin(), &config).await,
        GatewayProcess::spawn(bin(), &config).await,
        GatewayProcess::spawn(bin(), &config).await,
    ]);
    let (_, key) = create_key(&gws[0], json!({"name": "rpm", "limits": {"rpm": 30}})).await;
    // Every instance must know the key before the burst (they follow the store's changes).
    for gw in gws.iter() {
        assert!(eventually(Duration::from_secs(5), || async { call(gw, Some(&key), &json!({})).await.status() != 401 }).await.is_some());
    }

    // A fresh key's bucket holds the whole minute: 60 at once, 20 per instance, admit 30.
    let burst: Vec<_> = (0..60)
        .map(|i| {
            let (gws, key) = (gws.clone(), key.clone());
            tokio::spawn(async move {
                let r = call(&gws[i % 3], Some(&key), &chat("mock/echo", "x")).await;
                let remaining = r.headers().get("x-ratelimit-remaining-requests").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
                let retry_ms = r.headers().get("retry-after-ms").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
                assert_eq!(r.headers().get("x-ratelimit-limit-requests").map(|v| v.to_str().unwrap()), Some("30"), "{:?}", r.headers());
                (r.status().as_u16(), remaining, retry_ms)
            })
        })
        .collect();
    let started = Instant::now();
    let (mut admitted, mut remaining_seen) = (0, Vec::new());
    for b in burst {
        match b.await.unwrap() {
            (200, Some(remaining), None) => {
                admitted += 1;
                remaining_seen.push(remaining);
            }
            (429, Some(0), Some(retry_ms)) => assert!((1..=2_000).contains(&retry_ms), "the next token is at most 2 s away: {retry_ms}"),
            other => panic!("unexpected answer {other:?}"),
        }
    }
    let burst_took = started.elapsed();
    let outages: Vec<String> =
        gws.iter().flat_map(|g| g.output().lines().filter(|l| l.contains("unreachable")).map(str::to_string).collect::<Vec<_>>()).collect();
    eprintln!("60 concurrent requests over three instances: {admitted} admitted in {burst_took:?}");
    assert!((29..=31).contains(&admitted), "30 ± 1 of 60 at once, got {admitted}; Redis outages seen: {outages:?}");
    remaining_seen.sort_unstable();
    remaining_seen.dedup();
    assert!(remaining_seen.len() + 1 >= admitted, "each admission took one token of the one shared bucket: {remaining_seen:?}");

    // Then one every 2 s: nine clients asking about twenty times a second for 12 s get about six.
    let times: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..9)
        .map(|i| {
            let (gws, key, times, stop) = (gws.clone(), key.clone(), times.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = call(&gws[i % 3], Some(&key), &chat("mock/echo", "x")).await;
                    match r.status().as_u16() {
                        200 => times.lock().unwrap().push(Instant::now()),
                        429 => assert!(r.headers().contains_key("retry-after"), "429 carries Retry-After"),
                        other => panic!("unexpected status {other}"),
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        })
        .collect();
    let steady = Instant::now();
    tokio::time::sleep(Duration::from_secs(12)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let mut times = times.lock().unwrap().clone();
    times.sort();
    let gaps: Vec<u128> = times.windows(2).map(|w| w[1].duration_since(w[0]).as_millis()).collect();
    let in_window = times.iter().filter(|t| t.duration_since(steady) < Duration::from_secs(12)).count();
    eprintln!("then {in_window} admitted in 12 s, gaps {gaps:?} ms");
    assert!((5..=7).contains(&in_window), "about one per 2 s: {in_window} in 12 s; Redis outages seen: {outages:?}");
    assert!(gaps.iter().all(|g| *g >= 1_500), "never two within a refill: {gaps:?}");
    drop(gws);
    schema.drop_now().await;
}

#[tokio::test]
async fn tokens_per_minute_and_concurrency_limits_answer_429_with_headers() {
    let up = metered_upstream(Duration::from_millis(400)).await;
    let config = format!("admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\n{}", metered_models(&up.base_url()));
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let (_, key) = create_key(&gw, json!({"name": "tpm", "limits": {"tpm": 1000, "concurrency": 2}})).await;

    // Concurrency: three at once, one refused.
    let body = one_token();
    let (a, b, c) = tokio::join!(call(&gw, Some(&key), &body), call(&gw, Some(&key), &body), async {
        // The third goes once the first two hold their leases (they are at the upstream), not
        // after a fixed pause that a loaded machine can outrun.
        assert!(up.wait_for_requests(2, Duration::from_secs(10)).await, "the first two reach the upstream");
        call(&gw, Some(&key), &body).await
    });
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_eq!(c.status(), 429);
    let e: Value = c.json().await.unwrap();
    assert_eq!(code(&e), "concurrency_limit_exceeded");
    assert!(a.headers().contains_key("x-ratelimit-remaining-tokens"), "{:?}", a.headers());
    assert_eq!(header(&a, "x-ratelimit-limit-tokens"), "1000");

    // A request that alone needs more than the whole minute's tokens can never pass.
    let huge = json!({"model": "metered", "max_tokens": 5000, "messages": [{"role": "user", "content": "hi"}]});
    let r = call(&gw, Some(&key), &huge).await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(code(&e), "request_too_large_for_limit");

    // Reservations of about 450 tokens each against 1,000 a minute: two in flight fit, a third
    // does not; once they settle at their real 13 tokens, the unused tokens are back.
    let (_, key) = create_key(&gw, json!({"name": "tpm-only", "limits": {"tpm": 1000}})).await;
    let big = json!({"model": "metered", "max_tokens": 440, "messages": [{"role": "user", "content": "hi"}]});
    let (a, b, c) = tokio::join!(call(&gw, Some(&key), &big), call(&gw, Some(&key), &big), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        call(&gw, Some(&key), &big).await
    });
    assert_eq!((a.status().as_u16(), b.status().as_u16(), c.status().as_u16()), (200, 200, 429));
    assert_eq!((header(&c, "x-ratelimit-limit-tokens"), header(&c, "x-ratelimit-remaining-tokens")), ("1000", "0"));
    let e: Value = c.json().await.unwrap();
    assert_eq!(code(&e), "rate_limit_exceeded");
    assert!(e["error"]["message"].as_str().unwrap().contains("1000 tokens per minute"), "{e}");
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            call(&gw, Some(&key), &big).await.status(),
            200,
            "sequential request {i}: settled reservations gave their unused tokens back"
        );
    }
}

#[tokio::test]
async fn limits_and_token_budgets_apply_per_feature_team_and_key_as_set_through_the_admin_api() {
    let up = metered_upstream(Duration::ZERO).await;
    let config = format!("admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\n{}", metered_models(&up.base_url()));
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let (status, _) = admin(&gw, reqwest::Method::PUT, "/admin/limits/feature/search", Some(json!({"rpm": 60, "burst": 1}))).await;
    assert_eq!(status, 200);
    let (status, _) =
        admin(&gw, reqwest::Method::PUT, "/admin/budgets/team/research", Some(json!({"tokens": 40, "window": "total"}))).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;

    // Feature scope: from the header; one a second, one at a time.
    let searching = |gw: &GatewayProcess| {
        client().post(format!("{}/chat/completions", gw.base_url())).header("x-switchyard-feature", "search").json(&one_token()).send()
    };
    assert_eq!(searching(&gw).await.unwrap().status(), 200);
    let r = searching(&gw).await.unwrap();
    assert_eq!(r.status(), 429);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"]["message"].as_str().unwrap().contains("feature `search`"), "{e}");
    assert_eq!(call(&gw, None, &one_token()).await.status(), 200, "other features are not limited");

    // Team scope: a key of team `research` shares its 40-token budget; each answer bills 13.
    let (_, key) = create_key(&gw, json!({"name": "r1", "team": "research"})).await;
    let mut served = 0;
    for _ in 0..5 {
        let r = call(&gw, Some(&key), &one_token()).await;
        if r.status() == 429 {
            let e: Value = r.json().await.unwrap();
            assert_eq!(code(&e), "budget_exceeded");
            assert!(
                e["error"]["message"].as_str().unwrap().contains("team `research`")
                    && e["error"]["message"].as_str().unwrap().contains("tokens"),
                "{e}"
            );
            break;
        }
        assert_eq!(r.status(), 200);
        served += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Reservations are about 12 tokens (input estimate + 1): 13 + 13 settled, the third fits
    // (26 + 12 ≤ 40) and bills 39; the fourth does not.
    assert_eq!(served, 3, "token budget admitted {served}");
}

#[tokio::test]
async fn a_queued_limit_admits_requests_as_the_bucket_refills_instead_of_refusing_them() {
    let config = format!("admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\nproviders:\n  mock: {{ type: mock }}\n");
    let gw = GatewayProcess::spawn(bin(), &config).await;
    // One request a second, one at a time; a request may wait up to 2.5 s for its turn.
    let (_, key) = create_key(&gw, json!({"name": "queued", "limits": {"rpm": 60, "burst": 1, "queue": "2500ms"}})).await;
    let gws = Arc::new(vec![gw]);
    four_queued_asks(&gws, &key).await;
    let gw = &gws[0];

    // Without `queue` the same limit refuses at once.
    let (_, key) = create_key(gw, json!({"name": "unqueued", "limits": {"rpm": 60, "burst": 1}})).await;
    assert_eq!(call(gw, Some(&key), &chat("mock/echo", "x")).await.status(), 200);
    let asked = Instant::now();
    assert_eq!(call(gw, Some(&key), &chat("mock/echo", "x")).await.status(), 429);
    assert!(asked.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn a_queued_limit_shared_through_redis_admits_one_per_refill_across_three_instances() {
    let (Some(pg), Some(redis)) = (postgres_url(), redis_url()) else { return };
    let schema = Schema::create(&pg).await;
    let config = format!(
        "database: \"{}\"\nredis: {redis}\nkeys: {{ secret: {KEY_SECRET}, require: true }}\ngovernance: {{ redis_timeout: 500ms }}\nadmin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\nproviders:\n  mock: {{ type: mock }}\n",
        schema.url
    );
    let mut gws = Vec::new();
    for _ in 0..3 {
        gws.push(GatewayProcess::spawn(bin(), &config).await);
    }
    let (_, key) = create_key(&gws[0], json!({"name": "queued", "limits": {"rpm": 60, "burst": 1, "queue": "2500ms"}})).await;
    for gw in &gws {
        assert!(eventually(Duration::from_secs(5), || async { call(gw, Some(&key), &json!({})).await.status() != 401 }).await.is_some());
    }
    four_queued_asks(&Arc::new(gws), &key).await;
    schema.drop_now().await;
}

/// Four requests at once, spread over `gws`, for a key with `{rpm: 60, burst: 1, queue: 2500ms}`:
/// one is admitted at once, two as the bucket refills (1 s and 2 s), the fourth is refused as
/// soon as its turn (3 s) is past the bound.
async fn four_queued_asks(gws: &Arc<Vec<GatewayProcess>>, key: &str) {
    let started = Instant::now();
    let asks: Vec<_> = (0..4)
        .map(|i| {
            let (gws, key) = (gws.clone(), key.to_string());
            tokio::spawn(async move {
                let r = call(&gws[i % gws.len()], Some(&key), &chat("mock/echo", "x")).await;
                let queued = r.headers().get("x-switchyard-queued-ms").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
                (r.status().as_u16(), queued, started.elapsed())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for a in asks {
        answers.push(a.await.unwrap());
    }
    answers.sort_by_key(|(status, _, at)| (*status, *at));
    eprintln!("answers (status, queued ms, at): {answers:?}");
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [200, 200, 200, 429], "one at once, two as the bucket refilled, the fourth past the 2.5 s bound");
    let queued: Vec<Option<u64>> = answers[..3].iter().map(|a| a.1).collect();
    assert!(
        matches!(queued[..], [None, Some(q1), Some(q2)] if (900..1_400).contains(&q1) && (1_900..2_400).contains(&q2)),
        "queued for {queued:?} ms"
    );
    let refused_at = answers[3].2;
    assert!(refused_at < Duration::from_millis(2_500), "refused as soon as its next turn was past the bound: {refused_at:?}");
}

#[tokio::test]
async fn a_client_that_disconnects_while_queued_gives_up_its_turn() {
    let config = format!("admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\nproviders:\n  mock: {{ type: mock }}\n");
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let (_, key) = create_key(&gw, json!({"name": "queued", "limits": {"rpm": 60, "burst": 1, "queue": "5s"}})).await;
    let started = Instant::now();
    assert_eq!(call(&gw, Some(&key), &chat("mock/echo", "first")).await.status(), 200);
    // The second waits for the refill 1 s away; its client gives up after 300 ms.
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let gone =
        impatient.post(format!("{}/chat/completions", gw.base_url())).bearer_auth(&key).json(&chat("mock/echo", "gone")).send().await;
    assert!(gone.is_err_and(|e| e.is_timeout()));
    // Past the refill, the next request gets the token at once: nobody took it meanwhile.
    tokio::time::sleep(Duration::from_millis(1_100).saturating_sub(started.elapsed())).await;
    let r = call(&gw, Some(&key), &chat("mock/echo", "next")).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-switchyard-queued-ms").is_none(), "the refill was still there: {:?}", r.headers());
    let records = records(gw.data_dir(), 3).await;
    let dropped: Vec<_> = records.iter().filter(|r| r.outcome == "client_disconnected").collect();
    assert_eq!(dropped.len(), 1, "{records:?}");
    assert_eq!(dropped[0].status, 499);
    assert!(dropped[0].latency_ms < 900.0, "the wait ended with the client, not at the refill: {} ms", dropped[0].latency_ms);
}
