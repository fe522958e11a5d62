//! What reaches the upstream: unknown fields untouched, gateway fields and headers removed, the
//! model replaced, the provider key sent; and what comes back to the client.

use serde_json::{json, Value};
use switchyard_testkit::{fixture_bytes, fixture_json, FakeUpstream, Reply};

use crate::common::*;

#[tokio::test]
async fn unknown_fields_pass_through_and_gateway_fields_never_leave() {
    let up = FakeUpstream::start(vec![Reply::json(fixture_bytes("openai/text.json"))]).await;
    let gw = gateway(&up.base_url()).await;
    let sent = r#"{"model":"support-bot","messages":[{"role":"user","content":"What is 4200 + 42?"}],"temperature":0.25,"vendor_knob":{"nested":[1,2.50,"é"]},"customer_identifier":"cust-1","metadata":{"team":"search"},"fallback_models":["mock/echo"],"cache_enabled":true,"cache_ttl":60,"cache_options":{"cache_by_customer":true},"max_cost_usd":0.2,"disable_log":false,"user":"end-user-7"}"#;
    let response = client()
        .post(format!("{}/chat/completions", gw.base_url()))
        .header("content-type", "application/json")
        .header("x-switchyard-feature", "summarize")
        .header("x-switchyard-customer", "cust-header")
        .body(sent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-switchyard-provider"), "up");
    assert_eq!(header(&response, "x-switchyard-model"), "gpt-4o-mini");
    let request_id = header(&response, "x-request-id").to_string();
    // The upstream's body comes back byte for byte.
    assert_eq!(response.bytes().await.unwrap(), fixture_bytes("openai/text.json"));

    let seen = up.last_request();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.header("authorization"), Some("Bearer sk-test-secret-key-123456"));
    assert!(seen.header("x-switchyard-feature").is_none() && seen.header("x-switchyard-customer").is_none());
    // Untouched fields keep their exact bytes (`2.50`, `é`), order is kept, gateway fields are gone.
    assert_eq!(
        seen.body_str(),
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is 4200 + 42?"}],"temperature":0.25,"vendor_knob":{"nested":[1,2.50,"é"]},"user":"end-user-7"}"#
    );

    let rec = record(gw.data_dir(), &request_id).await;
    assert_eq!(rec.customer_identifier.as_deref(), Some("cust-1"));
    assert_eq!(rec.metadata.get("team").map(String::as_str), Some("search"));
    assert_eq!(rec.feature.as_deref(), Some("summarize"));
    assert_eq!(
        (rec.requested_model.as_str(), rec.provider.as_deref(), rec.model.as_deref()),
        ("support-bot", Some("up"), Some("gpt-4o-mini"))
    );
    let usage = &fixture_json("openai/text.json")["usage"];
    assert_eq!(rec.input_tokens, usage["prompt_tokens"].as_u64().unwrap());
    assert_eq!(rec.output_tokens, usage["completion_tokens"].as_u64().unwrap());
    assert_eq!((rec.status, rec.outcome.as_str(), rec.attempts, rec.stream), (200, "ok", 1, false));
    assert!(rec.request_body.is_none(), "bodies are not stored by default");
}

#[tokio::test]
async fn provider_slash_model_names_route_without_an_alias_and_cached_tokens_are_logged() {
    let up = FakeUpstream::start(vec![Reply::json(fixture_bytes("openai/usage-cached-tokens.json"))]).await;
    let gw = gateway(&up.base_url()).await;
    let response = post(&gw, &chat("up/gpt-4o", "hi")).await;
    assert_eq!(response.status(), 200);
    let id = header(&response, "x-request-id").to_string();
    assert_eq!(up.last_request().json()["model"], "gpt-4o");
    let rec = record(gw.data_dir(), &id).await;
    let expected = fixture_json("openai/usage-cached-tokens.json")["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap();
    assert_eq!(rec.cached_tokens, expected);
}

#[tokio::test]
async fn models_lists_aliases_and_provider_models() {
    let up = FakeUpstream::start(vec![Reply::json(fixture_bytes("openai/text.json"))]).await;
    let gw = gateway(&up.base_url()).await;
    let models: Value = client().get(format!("{}/models", gw.base_url())).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["support-bot", "mock/echo"]);
    assert_eq!(models["object"], "list");
    // The same API under /api/v1 and /api.
    for prefix in ["/api/v1", "/api"] {
        let r = client().post(format!("{}{prefix}/chat/completions", gw.root_url())).json(&chat("mock/echo", "x y")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{prefix}");
    }
    assert_eq!(up.request_count(), 0);
}

#[tokio::test]
async fn health_and_readiness() {
    let gw = gateway("http://127.0.0.1:9/v1").await;
    let h: Value = client().get(format!("{}/healthz", gw.root_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(h, json!({"status": "ok"}));
    let r = client().get(format!("{}/readyz", gw.root_url())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["log"]["database_ok"], true);
}
