//! Hostile bodies: too large, nested past any parser's comfort (refused, or served when the depth
//! is in an unknown field passed through raw, never a crash), and requests that cannot be
//! put in canonical form (numbers past f64, lone surrogates) — the last must never share a
//! cache entry, which would hand one user another's answer.

use std::time::Duration;

use serde_json::Value;
use switchyard_testkit::GatewayProcess;

use crate::bin;

const CONFIG: &str = r#"
max_body_bytes: 2000000
providers:
  mock: { type: mock }
models:
  cached:
    targets: [ { provider: mock, model: echo } ]
    cache: { enabled: true, force: true }
"#;

async fn post_raw(gw: &GatewayProcess, body: impl Into<reqwest::Body>) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/chat/completions", gw.base_url()))
        .header("content-type", "application/json")
        .body(body)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("the gateway answers")
}

fn prompt(content: &str, extra: &str) -> String {
    format!(r#"{{"model":"cached","messages":[{{"role":"user","content":"{content}"}}]{extra}}}"#)
}

async fn still_serves(gw: &GatewayProcess) {
    let answer = post_raw(gw, prompt("still there?", "")).await;
    assert_eq!(answer.status(), 200, "the gateway still serves after the attack");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413_naming_the_setting() {
    let gw = GatewayProcess::spawn(bin(), CONFIG).await;
    let answer = post_raw(&gw, prompt(&"a".repeat(3_000_000), "")).await;
    assert_eq!(answer.status(), 413);
    let body: Value = answer.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("max_body_bytes"), "{body}");
    still_serves(&gw).await;
}

#[tokio::test]
async fn bodies_nested_a_hundred_thousand_deep_are_refused_cleanly() {
    let gw = GatewayProcess::spawn(bin(), CONFIG).await;
    for (open, close) in [("[", "]"), (r#"{"a":"#, "}")] {
        let deep = format!("{}1{}", open.repeat(100_000), close.repeat(100_000));
        let answer = post_raw(&gw, deep.clone()).await;
        assert_eq!(answer.status(), 400, "a deep document as the whole body");
        let answer = post_raw(&gw, prompt("deep", &format!(r#","metadata_x":{deep}"#))).await;
        // Unknown fields are passed through as raw JSON, depth and all: served or refused, never a crash.
        assert!(!answer.status().is_server_error(), "a deep document in an unknown field: {}", answer.status());
    }
    still_serves(&gw).await;
}

#[tokio::test]
async fn requests_without_a_canonical_form_never_share_a_cache_entry() {
    let gw = GatewayProcess::spawn(bin(), CONFIG).await;
    let nested = format!(r#","x_nested":{}1{}"#, "[".repeat(126), "]".repeat(126));
    for extra in [r#","x_big":1e400"#, r#","x_text":"\ud800""#, nested.as_str()] {
        let mut seen = Vec::new();
        for content in ["first user's secret", "second user's question"] {
            let answer = post_raw(&gw, prompt(content, extra)).await;
            if !answer.status().is_success() {
                // Refusing such a request is safe too; what must never happen is sharing.
                continue;
            }
            let cache = answer.headers().get("x-switchyard-cache").map(|v| v.to_str().unwrap().to_string());
            let body: Value = answer.json().await.unwrap();
            let text = body["choices"][0]["message"]["content"].as_str().unwrap().to_string();
            assert!(text.contains(content), "{extra}: `{content}` was answered `{text}` (cache: {cache:?})");
            seen.push(text);
        }
        if seen.len() == 2 {
            assert_ne!(seen[0], seen[1], "{extra}: two prompts got one answer");
        }
    }
}
