//! Errors as a client sees them: OpenAI's shape, the right status, the field named, no upstream
//! call for bad input, and never a provider key.

use std::time::Duration;

use serde_json::Value;
use switchyard_testkit::{fixture_bytes, fixture_reply, FakeUpstream, GatewayProcess, Reply};

use crate::common::*;

async fn error_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("error bodies are JSON");
    let e = &body["error"];
    assert!(e["message"].is_string() && e["type"].is_string() && e.get("param").is_some() && e.get("code").is_some(), "{body}");
    (status, body["error"].clone())
}

#[tokio::test]
async fn bad_input_is_named_and_never_reaches_the_upstream() {
    let up = FakeUpstream::start(vec![Reply::json(fixture_bytes("openai/text.json"))]).await;
    let gw = gateway(&up.base_url()).await;
    let url = format!("{}/chat/completions", gw.base_url());
    let raw = |body: &'static str| client().post(&url).header("content-type", "application/json").body(body).send();

    let (status, e) = error_of(raw("{\"model\": \"support-bot\",\n \"messages\": [").await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(e["message"].as_str().unwrap().contains("line 2"), "{e}");

    for (body, param) in [
        (r#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
        (r#"{"model":"support-bot"}"#, "messages"),
        (r#"{"model":"support-bot","messages":[{"content":"x"}]}"#, "messages[0]"),
        (r#"{"model":"support-bot","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#, "stream"),
        (r#"{"model":"support-bot","messages":[{"role":"user","content":"x"}],"metadata":{"a":1}}"#, "metadata.a"),
        (r#"{"model":"support-bot","messages":[{"role":"user","content":"x"}],"cache_ttl":"soon"}"#, "cache_ttl"),
    ] {
        let (status, e) = error_of(raw(body).await.unwrap()).await;
        assert_eq!((status, e["param"].as_str()), (400, Some(param)), "{body} → {e}");
    }

    let (status, e) = error_of(post(&gw, &chat("openai/gpt-4o", "x")).await).await;
    assert_eq!((status, e["code"].as_str(), e["param"].as_str()), (404, Some("model_not_found"), Some("model")));
    assert!(e["message"].as_str().unwrap().contains("support-bot"), "names the alternatives: {e}");
    assert_eq!(up.request_count(), 0, "no upstream call for bad input");
    // Every one of them is logged.
    assert_eq!(records(gw.data_dir(), 8).await.len(), 8);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let gw = GatewayProcess::spawn(bin(), "max_body_bytes: 1000\nproviders: { mock: { type: mock } }\n").await;
    let big = chat("mock/echo", &"word ".repeat(400));
    let (status, e) = error_of(post(&gw, &big).await).await;
    assert_eq!((status, e["code"].as_str()), (413, Some("request_too_large")));
    assert!(e["message"].as_str().unwrap().contains("1000 bytes"), "{e}");
    assert_eq!(post(&gw, &chat("mock/echo", "small")).await.status(), 200);
}

#[tokio::test]
async fn upstream_failures_map_to_clear_statuses_without_leaking_keys() {
    let key_echo = r#"{"error":{"message":"Incorrect API key provided: sk-test-secret-key-123456. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
    let up = FakeUpstream::start(vec![
        fixture_reply("openai/error-400-unsupported-parameter.json"),
        Reply::json_status(401, key_echo),
        Reply::openai_error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded").with_header("retry-after", "7"),
        // A 5xx is retried once on the same target before the client is answered.
        Reply::json_status(500, "internal stack trace at db-7.internal"),
        Reply::json_status(500, "internal stack trace at db-7.internal"),
        Reply::openai_error(
            400,
            "This model's maximum context length is 128000 tokens, your key sk-test-secret-key-123456",
            "invalid_request_error",
            "context_length_exceeded",
        ),
    ])
    .await;
    let gw = gateway(&up.base_url()).await;
    let expected_400 = switchyard_testkit::fixture_json("openai/error-400-unsupported-parameter.json");

    let (status, e) = error_of(post(&gw, &chat("support-bot", "x")).await).await;
    assert_eq!(status, 400);
    assert_eq!(e["message"], expected_400["error"]["message"], "upstream 4xx message passes through");
    assert_eq!(e["param"], expected_400["error"]["param"]);

    let r = post(&gw, &chat("support-bot", "x")).await;
    let (status, e) = error_of(r).await;
    assert_eq!((status, e["code"].as_str()), (502, Some("upstream_auth_failed")));

    let r = post(&gw, &chat("support-bot", "x")).await;
    assert_eq!(header(&r, "retry-after"), "7");
    let (status, _) = error_of(r).await;
    assert_eq!(status, 429);

    let r = post(&gw, &chat("support-bot", "x")).await;
    assert_eq!(header(&r, "x-switchyard-attempts"), "2");
    let (status, e) = error_of(r).await;
    assert_eq!(status, 502);
    assert!(!e["message"].as_str().unwrap().contains("db-7"), "5xx details stay private: {e}");

    let (status, e) = error_of(post(&gw, &chat("support-bot", "x")).await).await;
    assert_eq!((status, e["code"].as_str()), (400, Some("context_length_exceeded")));
    assert!(!e.to_string().contains("sk-test-secret-key-123456"), "{e}");

    let logs = records(gw.data_dir(), 5).await;
    let all = serde_json::to_string(&logs).unwrap() + &gw.output();
    assert!(!all.contains("sk-test-secret-key-123456"), "the provider key never reaches logs");
    let mut types: Vec<&str> = logs.iter().filter_map(|r| r.error_type.as_deref()).collect();
    types.sort_unstable();
    assert_eq!(types, ["auth", "bad_request", "context_length", "rate_limited", "server"]);
}

#[tokio::test]
async fn unreachable_and_silent_upstreams_give_502_and_504() {
    let silent = FakeUpstream::start(vec![Reply::StallBeforeHeaders]).await;
    let gw = GatewayProcess::spawn(
        bin(),
        &format!(
            "providers:\n  dead: {{ type: openai, base_url: 'http://127.0.0.1:1/v1' }}\n  silent: {{ type: openai, base_url: '{}' }}\nmodels:\n  slow: {{ targets: [ {{ provider: silent, model: m }} ], timeouts: {{ first_token: 300ms, total: 500ms }} }}\n",
            silent.base_url()
        ),
    )
    .await;
    let (status, e) = error_of(post(&gw, &chat("dead/m", "x")).await).await;
    assert_eq!((status, e["code"].as_str()), (502, Some("upstream_unreachable")));
    let started = std::time::Instant::now();
    let (status, e) = error_of(post(&gw, &chat("slow", "x")).await).await;
    assert_eq!((status, e["code"].as_str()), (504, Some("upstream_timeout")));
    assert!(started.elapsed() < Duration::from_secs(3), "the deadline holds: {:?}", started.elapsed());
    // The gateway gave up on the upstream call: the fake sees the connection dropped.
    assert!(silent.wait_for_aborts(1, Duration::from_secs(2)).await, "upstream request cancelled");
}

/// Two Anthropic providers (a target and its fallback) behind one fake upstream.
async fn anthropic_gateway(up: &FakeUpstream) -> GatewayProcess {
    let base = format!("http://{}", up.addr());
    GatewayProcess::spawn(
        bin(),
        &format!(
            "providers:\n  claude: {{ type: anthropic, base_url: '{base}', api_key: sk-ant-test-key-000000 }}\n  spare: {{ type: anthropic, base_url: '{base}', api_key: sk-ant-spare-key-00000 }}\nmodels:\n  sonnet: {{ targets: [ {{ provider: claude, model: claude-sonnet-4-5 }} ], fallbacks: [ spare/claude-sonnet-4-5 ] }}\n"
        ),
    )
    .await
}

#[tokio::test]
async fn an_upstream_401_reaches_the_client_as_502_never_as_its_own_invalid_api_key() {
    // An OpenAI-shaped refusal in front of an Anthropic provider (a proxy, a wrong base_url):
    // its `invalid_request_error` type once made the adapter call it the client's bad request,
    // and the client got 401 `invalid_api_key` — as if its own key were wrong.
    let refusal = r#"{"error":{"message":"Incorrect API key provided: sk-ant-test-key-000000","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
    let up = FakeUpstream::start_repeating(Reply::json_status(401, refusal)).await;
    let gw = anthropic_gateway(&up).await;
    for stream in [false, true] {
        let mut body = chat("sonnet", "x");
        body["stream"] = stream.into();
        let r = post(&gw, &body).await;
        let (status, e) = error_of(r).await;
        assert_eq!(
            (status, e["type"].as_str(), e["code"].as_str()),
            (502, Some("upstream_error"), Some("upstream_auth_failed")),
            "stream: {stream}: {e}"
        );
        assert!(!e.to_string().contains("sk-ant-"), "{e}");
    }
    assert!(up.request_count() >= 2, "the fallback was tried too");
    let logs = records(gw.data_dir(), 2).await;
    assert!(logs.iter().all(|r| r.error_type.as_deref() == Some("auth")), "{logs:?}");
}

#[tokio::test]
async fn an_openai_shaped_200_from_an_anthropic_provider_is_a_502_not_an_empty_answer() {
    let up = FakeUpstream::start_repeating(Reply::json(fixture_bytes("openai/text.json"))).await;
    let gw = anthropic_gateway(&up).await;
    let (status, e) = error_of(post(&gw, &chat("sonnet", "x")).await).await;
    assert_eq!((status, e["code"].as_str()), (502, Some("upstream_malformed")), "{e}");
}
