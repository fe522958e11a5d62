//! Rate limits: requests per minute shared by three instances through Redis, tokens per minute
//! reserved and settled, concurrency, and the headers clients see.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_testkit::GatewayProcess;

use super::*;
use crate::common::*;

#[tokio::test]
async fn sixty_rpm_across_three_instances_admits_sixty_per_minute() {
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
    let (_, key) = create_key(&gws[0], json!({"name": "rpm", "limits": {"rpm": 60}})).await;
    let admitted: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    // Nine clients, three per instance, each asking about twenty times a second for 62 seconds:
    // demand must be there when capacity frees up, since GCRA banks nothing beyond the burst
    // (one request at 60 RPM), so a late client loses that capacity.
    let workers: Vec<_> = (0..9)
        .map(|i| {
            let (gws, key, admitted, stop) = (gws.clone(), key.clone(), admitted.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = call(&gws[i % 3], Some(&key), &chat("mock/echo", "x")).await;
                    match r.status().as_u16() {
                        200 => admitted.lock().unwrap().push(Instant::now()),
                        429 => assert!(r.headers().contains_key("retry-after"), "429 carries Retry-After"),
                        other => panic!("unexpected status {other}"),
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(62)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let times = admitted.lock().unwrap().clone();
    let first = *times.iter().min().unwrap();
    let in_first_minute = times.iter().filter(|t| t.duration_since(first) < Duration::from_secs(60)).count();
    eprintln!("admitted in the first minute: {in_first_minute} (of {} in 62 s)", times.len());
    let outages: Vec<String> =
        gws.iter().flat_map(|g| g.output().lines().filter(|l| l.contains("unreachable")).map(str::to_string).collect::<Vec<_>>()).collect();
    assert!(
        (59..=61).contains(&in_first_minute),
        "60 ± 1 per minute across three instances, got {in_first_minute}; Redis outages seen: {outages:?}"
    );
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
    let (status, _) = admin(&gw, reqwest::Method::PUT, "/admin/limits/feature/search", Some(json!({"rpm": 60}))).await;
    assert_eq!(status, 200);
    let (status, _) =
        admin(&gw, reqwest::Method::PUT, "/admin/budgets/team/research", Some(json!({"tokens": 40, "window": "total"}))).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;

    // Feature scope: from the header; one a second.
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
