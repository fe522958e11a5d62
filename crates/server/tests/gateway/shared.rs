//! Two gateway instances sharing circuit state through the real Redis of this machine.

use std::time::{Duration, Instant};

use switchyard_testkit::{FakeUpstream, GatewayProcess, Reply};

use crate::common::*;

fn redis_url() -> Option<String> {
    switchyard_testkit::services::service_url(switchyard_testkit::services::Service::Redis, "shared circuit state test")
}

#[tokio::test]
async fn a_circuit_opened_by_one_instance_is_seen_by_the_other() {
    let Some(redis) = redis_url() else { return };
    let up = FakeUpstream::start_repeating(Reply::openai_error(503, "overloaded", "server_error", "overloaded")).await;
    // A provider name unique to this run keeps runs from seeing each other's circuits.
    let provider = format!("p{}", std::process::id());
    let config = format!(
        "redis: {redis}\nproviders:\n  {provider}: {{ type: openai, base_url: \"{}\" }}\n  backup: {{ type: mock }}\nmodels:\n  bot:\n    targets: [ {{ provider: {provider}, model: m }} ]\n    fallbacks: [ backup/echo ]\n",
        up.base_url()
    );
    let a = GatewayProcess::spawn(bin(), &config).await;
    let b = GatewayProcess::spawn(bin(), &config).await;
    for _ in 0..5 {
        assert_eq!(post(&a, &chat("bot", "x")).await.status(), 200);
    }
    assert_eq!(up.request_count(), 5, "instance a opened the circuit after five failures");
    let circuit = format!("{provider}/m");
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let ready: serde_json::Value = client().get(format!("{}/readyz", b.root_url())).send().await.unwrap().json().await.unwrap();
        if ready["circuits"][&circuit] == "open" {
            break;
        }
        assert!(Instant::now() < deadline, "instance b never saw the circuit open: {ready}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = post(&b, &chat("bot", "x")).await;
    assert_eq!((header(&r, "x-switchyard-provider"), header(&r, "x-switchyard-attempts")), ("backup", "1"));
    assert_eq!(up.request_count(), 5, "instance b never called the failing target");
}

#[tokio::test]
async fn requests_flow_and_breakers_stay_local_when_redis_is_down() {
    let gw = GatewayProcess::spawn(bin(), "redis: redis://127.0.0.1:1\nproviders:\n  mock: { type: mock }\n").await;
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(post(&gw, &chat("mock/echo", "x")).await.status(), 200);
    }
    assert!(started.elapsed() < Duration::from_secs(1), "no request waits on Redis: {:?}", started.elapsed());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gw.output().contains("Redis unreachable") {
        assert!(Instant::now() < deadline, "the outage is logged:\n{}", gw.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
