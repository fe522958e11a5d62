//! Fallbacks through the real binary: a failing primary is replaced invisibly by the model's
//! configured fallback or the request's own, streamed or not, and every attempt is logged.

use serde_json::json;
use switchyard_testkit::{FakeUpstream, GatewayProcess, Reply};

use crate::common::*;

fn config(primary: &str) -> String {
    format!(
        r#"
providers:
  primary: {{ type: openai, base_url: "{primary}", api_key: sk-primary-key-0000000 }}
  backup: {{ type: mock }}
models:
  bot:
    targets: [ {{ provider: primary, model: gpt-4o-mini }} ]
    fallbacks: [ backup/echo ]
  plain: {{ targets: [ {{ provider: primary, model: gpt-4o-mini }} ] }}
"#
    )
}

#[tokio::test]
async fn a_failing_primary_is_replaced_by_the_configured_fallback() {
    let up =
        FakeUpstream::start_repeating(Reply::openai_error(503, "The engine is currently overloaded", "server_error", "overloaded")).await;
    let gw = GatewayProcess::spawn(bin(), &config(&up.base_url())).await;
    for stream in [false, true] {
        let mut body = chat("bot", "hello fallback");
        body["stream"] = json!(stream);
        let r = post(&gw, &body).await;
        assert_eq!(r.status(), 200, "stream={stream}");
        assert_eq!((header(&r, "x-switchyard-provider"), header(&r, "x-switchyard-attempts")), ("backup", "2"));
        let id = header(&r, "x-request-id").to_string();
        let text = r.text().await.unwrap();
        assert!(text.contains("hello "), "the fallback answered: {text}");
        let rec = record(gw.data_dir(), &id).await;
        let trail: Vec<(&str, Option<&str>)> = rec.attempt_log.iter().map(|a| (a.provider.as_str(), a.error.map(|e| e.as_str()))).collect();
        assert_eq!(trail, [("primary", Some("overloaded")), ("backup", None)], "stream={stream}");
        assert_eq!((rec.provider.as_deref(), rec.attempts, rec.outcome.as_str()), (Some("backup"), 2, "ok"));
    }
}

#[tokio::test]
async fn request_fallbacks_from_the_body_and_the_header_and_unknown_ones_are_refused() {
    let up = FakeUpstream::start_repeating(Reply::StallBeforeHeaders).await;
    let extra = "  slow:\n    targets: [ { provider: primary, model: m } ]\n    timeouts: { first_token: 300ms, total: 1s }\n";
    let gw = GatewayProcess::spawn(bin(), &(config(&up.base_url()) + extra)).await;
    // A stall before the first byte is a timeout on the primary: the body's fallback serves.
    let mut body = chat("slow", "from the body");
    body["stream"] = json!(true);
    body["fallback_models"] = json!(["backup/echo"]);
    let r = post(&gw, &body).await;
    assert_eq!((r.status().as_u16(), header(&r, "x-switchyard-provider")), (200, "backup"));
    assert!(r.text().await.unwrap().ends_with("data: [DONE]\n\n"));

    let r = client()
        .post(format!("{}/chat/completions", gw.base_url()))
        .header("x-switchyard-fallback", "backup/echo")
        .json(&chat("slow", "from the header"))
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "x-switchyard-provider")), (200, "backup"));

    let mut unknown = chat("plain", "x");
    unknown["fallback_models"] = json!(["nowhere/none"]);
    let r = post(&gw, &unknown).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["param"], "fallback_models");
}

#[tokio::test]
async fn the_requests_own_errors_are_not_retried_or_moved() {
    let up = FakeUpstream::start_repeating(switchyard_testkit::fixture_reply("openai/error-400-unsupported-parameter.json")).await;
    let gw = GatewayProcess::spawn(bin(), &config(&up.base_url())).await;
    let r = post(&gw, &chat("bot", "x")).await;
    assert_eq!((r.status().as_u16(), header(&r, "x-switchyard-attempts")), (400, "1"));
    assert_eq!(up.request_count(), 1);
}

#[tokio::test]
async fn thirty_percent_failures_on_the_primary_are_invisible_and_do_not_multiply_load() {
    // The issue's scenario: the primary answers 503 to 30% of requests, the fallback is healthy.
    let config = r#"
providers:
  flaky: { type: mock, error_status: 503, error_rate: 0.3 }
  backup: { type: mock }
models:
  bot:
    targets: [ { provider: flaky, model: echo } ]
    fallbacks: [ backup/echo ]
"#;
    let gw = GatewayProcess::spawn(bin(), config).await;
    let client = client();
    let url = format!("{}/chat/completions", gw.base_url());
    let requests = 1000;
    let mut ok = 0;
    let mut tasks = futures_util::stream::iter((0..requests).map(|i| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let mut body = chat("bot", &format!("request {i}"));
            body["stream"] = json!(i % 2 == 0);
            let r = client.post(&url).json(&body).send().await.unwrap();
            let status = r.status();
            let text = r.text().await.unwrap();
            status == 200 && !text.contains("\"error\"")
        }
    }))
    .buffer_unordered(16);
    use futures_util::StreamExt;
    while let Some(success) = tasks.next().await {
        ok += usize::from(success);
    }
    let records = records(gw.data_dir(), requests).await;
    let attempts: usize = records.iter().map(|r| r.attempt_log.len()).sum();
    assert!(ok * 1000 >= requests * 999, "{ok} of {requests} succeeded");
    // Extra attempts stay under 20% of requests plus the budget's small floor.
    assert!(attempts <= requests * 12 / 10 + 60, "{attempts} upstream attempts for {requests} requests");
    eprintln!("{ok} of {requests} succeeded with {attempts} upstream attempts");
    let ready: serde_json::Value = client.get(format!("{}/readyz", gw.root_url())).send().await.unwrap().json().await.unwrap();
    assert!(ready["circuits"]["flaky/echo"].is_string(), "{ready}");
}

#[tokio::test]
async fn an_open_circuit_sends_traffic_away_and_a_probe_brings_it_back_after_healing() {
    let failing = Reply::openai_error(503, "overloaded", "server_error", "overloaded");
    let healthy = Reply::json(switchyard_testkit::openai_completion("primary is back", 3, 3));
    let up = FakeUpstream::start(vec![failing.clone(), failing.clone(), failing.clone(), failing.clone(), failing, healthy]).await;
    let gw = GatewayProcess::spawn(bin(), &config(&up.base_url())).await;
    let served_by = |r: &reqwest::Response| header(r, "x-switchyard-provider").to_string();
    for _ in 0..5 {
        assert_eq!(served_by(&post(&gw, &chat("bot", "x")).await), "backup");
    }
    // Five failures in a row opened the primary's circuit: it is not called any more.
    for _ in 0..5 {
        let r = post(&gw, &chat("bot", "x")).await;
        assert_eq!((served_by(&r), header(&r, "x-switchyard-attempts").to_string()), ("backup".to_string(), "1".to_string()));
    }
    assert_eq!(up.request_count(), 5);
    let ready: serde_json::Value = client().get(format!("{}/readyz", gw.root_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["circuits"]["primary/gpt-4o-mini"], "open");
    // After the cool-off one probe goes to the primary, which has healed: it serves again.
    tokio::time::sleep(std::time::Duration::from_millis(5200)).await;
    assert_eq!(served_by(&post(&gw, &chat("bot", "x")).await), "primary");
    assert_eq!(served_by(&post(&gw, &chat("bot", "x")).await), "primary");
    let ready: serde_json::Value = client().get(format!("{}/readyz", gw.root_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["circuits"]["primary/gpt-4o-mini"], "closed");
}

#[tokio::test]
async fn failures_before_the_first_content_fall_back_invisibly_and_idle_streams_end_clearly() {
    let role = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n";
    let error = "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"overloaded_error\"}}\n\n";
    let up = FakeUpstream::start(vec![
        // A 200 whose stream fails after the role chunk, before any content.
        Reply::sse(format!("{role}{error}")),
        // A stall after the role chunk.
        Reply::stall_after_events(1, format!("{role}{role}")),
        // A stall after real content: too late to switch, the idle timeout ends it.
        Reply::stall_after_events(2, switchyard_testkit::openai_stream(&["Hello", " there"], false)),
    ])
    .await;
    let extra = "  held:\n    targets: [ { provider: primary, model: m } ]\n    fallbacks: [ backup/echo ]\n    timeouts: { first_token: 500ms, total: 5s, idle: 300ms }\n";
    let gw = GatewayProcess::spawn(bin(), &(config(&up.base_url()) + extra)).await;
    for case in ["error after the role chunk", "stall after the role chunk"] {
        let mut body = chat("held", "switch me");
        body["stream"] = json!(true);
        let r = post(&gw, &body).await;
        assert_eq!((r.status().as_u16(), header(&r, "x-switchyard-provider")), (200, "backup"), "{case}");
        let events = sse_data(&r.text().await.unwrap());
        assert!(!events.iter().any(|e| e.contains("\"error\"")), "{case}: the client saw nothing of the failure: {events:?}");
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{case}");
    }
    let mut body = chat("held", "x");
    body["stream"] = json!(true);
    let r = post(&gw, &body).await;
    assert_eq!(header(&r, "x-switchyard-provider"), "primary");
    let started = std::time::Instant::now();
    let events = sse_data(&r.text().await.unwrap());
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert!(events.iter().any(|e| e.contains("Hello")), "{events:?}");
    let last: serde_json::Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_timeout", "{events:?}");
}

#[tokio::test]
async fn a_slow_primary_is_hedged_and_the_loser_is_cancelled_and_logged() {
    let slow = FakeUpstream::start_repeating(
        Reply::json(switchyard_testkit::openai_completion("slow answer", 3, 2)).delayed(std::time::Duration::from_secs(3)),
    )
    .await;
    let extra = "  hedged:\n    targets: [ { provider: primary, model: m } ]\n    fallbacks: [ backup/echo ]\n    timeouts: { hedge_after: 200ms }\n";
    let gw = GatewayProcess::spawn(bin(), &(config(&slow.base_url()) + extra)).await;
    let started = std::time::Instant::now();
    let r = post(&gw, &chat("hedged", "fast please")).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!((header(&r, "x-switchyard-provider"), header(&r, "x-switchyard-attempts")), ("backup", "2"));
    let id = header(&r, "x-request-id").to_string();
    assert!(slow.wait_for_aborts(1, std::time::Duration::from_secs(2)).await, "the losing leg was cancelled upstream");
    let rec = record(gw.data_dir(), &id).await;
    let trail: Vec<(&str, Option<&str>)> = rec.attempt_log.iter().map(|a| (a.provider.as_str(), a.error.map(|e| e.as_str()))).collect();
    assert_eq!(trail, [("primary", Some("hedge_cancelled")), ("backup", None)]);
}

#[tokio::test]
async fn a_429_with_retry_after_5_is_not_retried_before_5_s_and_the_fallback_serves() {
    let up = FakeUpstream::start_repeating(
        Reply::openai_error(429, "Rate limit reached", "requests", "rate_limit_exceeded").with_header("retry-after", "5"),
    )
    .await;
    let gw = GatewayProcess::spawn(bin(), &config(&up.base_url())).await;
    for _ in 0..5 {
        let r = post(&gw, &chat("bot", "x")).await;
        assert_eq!((r.status().as_u16(), header(&r, "x-switchyard-provider")), (200, "backup"));
    }
    // Only the first request reached the rate-limited target: the others went to the fallback first.
    assert_eq!(up.request_count(), 1);
}

#[tokio::test]
async fn a_prompt_too_long_for_the_primary_goes_to_the_larger_window_model() {
    let up = FakeUpstream::start_repeating(Reply::openai_error(
        400,
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 130012 tokens.",
        "invalid_request_error",
        "context_length_exceeded",
    ))
    .await;
    let extra = "  long:\n    targets: [ { provider: primary, model: m } ]\n    context_fallbacks: [ backup/echo ]\n";
    let gw = GatewayProcess::spawn(bin(), &(config(&up.base_url()) + extra)).await;
    let r = post(&gw, &chat("long", "a very long prompt")).await;
    assert_eq!((r.status().as_u16(), header(&r, "x-switchyard-provider"), header(&r, "x-switchyard-attempts")), (200, "backup", "2"));
    // Without a context fallback the error is the client's answer.
    let r = post(&gw, &chat("plain", "a very long prompt")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], "context_length_exceeded");
}
