//! `POST /v1/embeddings` through the real binary: the mock's deterministic vectors, an
//! OpenAI-compatible upstream replaying recorded traffic, fallback after an upstream failure,
//! errors that name the field, and one log record per request.

use serde_json::{json, Value};
use switchyard_testkit::{fixture_bytes, fixture_reply, FakeUpstream, GatewayProcess, Reply};

use crate::common::*;

fn config(up: &str) -> String {
    format!(
        r#"
providers:
  up: {{ type: openai, base_url: "{up}", api_key: sk-embed-test-key-000000 }}
  mock: {{ type: mock }}
  claude: {{ type: anthropic, base_url: "{up}", api_key: sk-ant-test-key-000000 }}
models:
  embedder:
    targets: [ {{ provider: up, model: text-embedding-3-small }} ]
    fallbacks: [ mock/embed ]
"#
    )
}

async fn embed(gw: &GatewayProcess, path: &str, body: Value) -> reqwest::Response {
    client().post(format!("{}{path}", gw.root_url())).json(&body).send().await.expect("gateway answers")
}

fn cosine(a: &Value, b: &Value) -> f64 {
    let (a, b) = (a.as_array().unwrap(), b.as_array().unwrap());
    a.iter().zip(b).map(|(x, y)| x.as_f64().unwrap() * y.as_f64().unwrap()).sum()
}

#[tokio::test]
async fn the_mock_embeds_deterministically_under_every_prefix() {
    let up = FakeUpstream::start_repeating(Reply::json("{}")).await;
    let gw = GatewayProcess::spawn(bin(), &config(&up.base_url())).await;
    let input = json!(["How do I reset my password?", "how can I reset my password", "What is the capital of France?"]);
    let mut first = None;
    for path in ["/v1/embeddings", "/api/v1/embeddings", "/api/embeddings", "/embeddings"] {
        let r = embed(&gw, path, json!({"model": "mock/embed", "input": input, "customer_identifier": "c-9"})).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!((header(&r, "x-switchyard-provider"), header(&r, "x-switchyard-model")), ("mock", "embed"));
        let id = header(&r, "x-request-id").to_string();
        let body: Value = r.json().await.unwrap();
        let data = body["data"].as_array().unwrap();
        assert_eq!((body["object"].as_str(), data.len(), body["model"].as_str()), (Some("list"), 3, Some("embed")));
        assert_eq!(data[0]["embedding"].as_array().unwrap().len(), 256);
        let (a, b, c) = (&data[0]["embedding"], &data[1]["embedding"], &data[2]["embedding"]);
        assert!(cosine(a, b) > 0.95, "paraphrases are close: {}", cosine(a, b));
        assert!(cosine(a, c) < 0.5, "unrelated texts are far: {}", cosine(a, c));
        match &first {
            None => first = Some(a.clone()),
            Some(f) => assert_eq!(f, a, "the same text gives the same vector"),
        }
        let rec = record(gw.data_dir(), &id).await;
        assert_eq!((rec.status, rec.outcome.as_str(), rec.requested_model.as_str()), (200, "ok", "mock/embed"));
        assert_eq!((rec.provider.as_deref(), rec.input_tokens, rec.customer_identifier.as_deref()), (Some("mock"), 18, Some("c-9")));
    }
    assert_eq!(up.request_count(), 0);
}

#[tokio::test]
async fn an_openai_upstream_gets_the_request_without_gateway_fields_and_its_answer_passes_through() {
    let up = FakeUpstream::start(vec![fixture_reply("openai/embeddings-base64.json")]).await;
    let gw = GatewayProcess::spawn(bin(), &config(&up.base_url())).await;
    let mut body = switchyard_testkit::fixture_json("openai/embeddings-base64.request.json")["body"].clone();
    let recorded = body.clone();
    body["model"] = json!("embedder");
    body["metadata"] = json!({"job": "index"});
    let r = embed(&gw, "/v1/embeddings", body).await;
    assert_eq!((r.status().as_u16(), header(&r, "x-switchyard-provider"), header(&r, "x-switchyard-attempts")), (200, "up", "1"));
    let id = header(&r, "x-request-id").to_string();
    assert_eq!(r.bytes().await.unwrap(), fixture_bytes("openai/embeddings-base64.json"));
    let sent = up.last_request();
    assert_eq!((sent.path.as_str(), sent.header("authorization")), ("/v1/embeddings", Some("Bearer sk-embed-test-key-000000")));
    assert_eq!(sent.json(), recorded, "the alias became the upstream's model and `metadata` stayed in the gateway");
    let rec = record(gw.data_dir(), &id).await;
    assert_eq!((rec.input_tokens, rec.metadata.get("job").map(String::as_str)), (4, Some("index")));
    // text-embedding-3-small is in the bundled catalog at $0.02 per million input tokens.
    assert_eq!((rec.cost_usd, rec.cost_source.as_deref()), (Some(4.0 * 0.02 / 1e6), Some("catalog")));
}

#[tokio::test]
async fn keys_limits_and_budgets_apply_to_embeddings() {
    use crate::governance::{code, create_key, ADMIN_KEY};
    let up = FakeUpstream::start_repeating(Reply::json("{}")).await;
    let config = format!("admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\nkeys: {{ require: true }}\n{}", config(&up.base_url()));
    let gw = GatewayProcess::spawn(bin(), &config).await;
    // Each request reserves 22 tokens (characters / 4) and settles at the 18 the mock reports
    // (words), after its answer. With 50 tokens two fit whether or not the first has settled yet
    // (22 + 22), and the third never does (at least 18 + 18 + 22).
    let (_, key) = create_key(&gw, json!({"name": "indexer", "models": ["mock/embed"], "budget": {"tokens": 50, "window": "daily"}})).await;
    let input = json!(["How do I reset my password?", "how can I reset my password", "What is the capital of France?"]);
    let send = |model: &str| {
        let body = json!({"model": model, "input": input});
        client().post(format!("{}/v1/embeddings", gw.root_url())).bearer_auth(&key).json(&body).send()
    };
    assert_eq!(
        client()
            .post(format!("{}/v1/embeddings", gw.root_url()))
            .json(&json!({"model": "mock/embed", "input": "x"}))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    for i in 0..2 {
        assert_eq!(send("mock/embed").await.unwrap().status(), 200, "request {i}");
    }
    let r = send("mock/embed").await.unwrap();
    assert_eq!(r.status(), 429);
    let e: Value = r.json().await.unwrap();
    assert_eq!(code(&e), "budget_exceeded", "{e}");
    let r = send("embedder").await.unwrap();
    assert_eq!(r.status(), 403, "the key may not use other models");
}

#[tokio::test]
async fn a_failing_upstream_falls_back_and_client_errors_do_not() {
    let up = FakeUpstream::start(vec![
        Reply::openai_error(503, "The engine is currently overloaded", "server_error", "overloaded"),
        Reply::openai_error(400, "'$.input' is invalid.", "invalid_request_error", "invalid_input"),
    ])
    .await;
    let gw = GatewayProcess::spawn(bin(), &config(&up.base_url())).await;
    let r = embed(&gw, "/v1/embeddings", json!({"model": "embedder", "input": "hello"})).await;
    assert_eq!((r.status().as_u16(), header(&r, "x-switchyard-provider"), header(&r, "x-switchyard-attempts")), (200, "mock", "2"));
    let id = header(&r, "x-request-id").to_string();
    let rec = record(gw.data_dir(), &id).await;
    let trail: Vec<(&str, Option<&str>)> = rec.attempt_log.iter().map(|a| (a.provider.as_str(), a.error.map(|e| e.as_str()))).collect();
    assert_eq!(trail, [("up", Some("overloaded")), ("mock", None)]);

    let r = embed(&gw, "/v1/embeddings", json!({"model": "embedder", "input": "hello"})).await;
    assert_eq!(r.status(), 400, "the request's own error is answered, not moved to the fallback");
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "invalid_input");
    assert_eq!(up.request_count(), 2);
}

#[tokio::test]
async fn bad_requests_are_refused_naming_the_field() {
    let up = FakeUpstream::start_repeating(Reply::json("{}")).await;
    let gw = GatewayProcess::spawn(bin(), &config(&up.base_url())).await;
    let cases = [
        (json!({"input": "x"}), 400, Some("model")),
        (json!({"model": "mock/embed"}), 400, Some("input")),
        (json!({"model": 5, "input": "x"}), 400, Some("model")),
        (json!({"model": "mock/embed", "input": "x", "metadata": {"a": 1}}), 400, Some("metadata.a")),
        (json!({"model": "mock/embed", "input": "x", "dimensions": 0}), 400, Some("dimensions")),
        (json!({"model": "nowhere/none", "input": "x"}), 404, Some("model")),
        (json!({"model": "claude/claude-sonnet-4-5", "input": "x"}), 400, Some("model")),
    ];
    for (body, status, param) in cases {
        let r = embed(&gw, "/v1/embeddings", body.clone()).await;
        assert_eq!(r.status().as_u16(), status, "{body}");
        let error: Value = r.json().await.unwrap();
        assert_eq!(error["error"]["param"].as_str(), param, "{body}: {error}");
    }
    let r = client()
        .post(format!("{}/embeddings", gw.base_url()))
        .header("content-type", "application/json")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(up.request_count(), 0, "nothing went upstream");
}

#[tokio::test]
async fn a_primary_that_always_fails_is_invisible_and_its_breaker_stops_calling_it() {
    let up =
        FakeUpstream::start_repeating(Reply::openai_error(503, "The engine is currently overloaded", "server_error", "overloaded")).await;
    let gw = GatewayProcess::spawn(bin(), &config(&up.base_url())).await;
    for i in 0..30 {
        let r = embed(&gw, "/v1/embeddings", json!({"model": "embedder", "input": format!("request {i}")})).await;
        assert_eq!((r.status().as_u16(), header(&r, "x-switchyard-provider")), (200, "mock"), "request {i}");
    }
    // Five failures in a row open the primary's circuit; after that only a half-open probe now
    // and then reaches it. Before embeddings shared chat's attempt loop it was called 30 times.
    let calls = up.request_count();
    assert!((5..=8).contains(&calls), "the primary was called {calls} times for 30 requests");

    // Fallbacks named by the request header apply to embeddings too.
    let r = client()
        .post(format!("{}/v1/embeddings", gw.root_url()))
        .header("x-switchyard-fallback", "mock/embed")
        .json(&json!({"model": "up/text-embedding-3-small", "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "x-switchyard-provider")), (200, "mock"));
    // And so do the gateway fields' limits.
    let r = embed(&gw, "/v1/embeddings", json!({"model": "mock/embed", "input": "x", "metadata": {"n": 1}})).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["param"], "metadata.n");
}
