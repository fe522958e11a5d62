//! Path-shaped model names on every adapter: the model is one opaque path segment (or goes in
//! the body), so no request leaves its provider's configured base URL, gains a query, or
//! carries a `..` segment that a proxy on the way would resolve.

use std::time::Duration;

use serde_json::json;
use switchyard_testkit::{FakeUpstream, GatewayProcess, Reply};

use crate::bin;

const HOSTILE: &[&str] = &[
    "../../../../admin/secret",
    "gem/../../../../admin/secret",
    "..",
    ".",
    "a/../../b",
    "%2e%2e/admin",
    "x?admin=1",
    "x#admin",
    "x\\..\\admin",
    "x;admin",
    "x/..%2f..%2fadmin",
];

#[tokio::test]
async fn path_shaped_model_names_stay_under_each_providers_base_url() {
    let up = FakeUpstream::start_repeating(Reply::json_status(400, r#"{"error":{"message":"nope"}}"#)).await;
    let root = format!("http://{}", up.addr());
    let config = format!(
        r#"
providers:
  openai: {{ type: openai, base_url: "{root}/base/v1", api_key: sk-attack-test-key-000000 }}
  anthropic: {{ type: anthropic, base_url: "{root}/base", api_key: sk-ant-attack-test }}
  azure: {{ type: azure, base_url: "{root}/base", api_key: azure-attack-test-key }}
  gemini: {{ type: gemini, base_url: "{root}/base", api_key: gemini-attack-test-key }}
  vertex: {{ type: vertex, base_url: "{root}/base", project: attack-proj, location: us-east5, access_token: ya29.attack }}
  bedrock:
    type: bedrock
    base_url: "{root}/base"
    region: us-east-1
    access_key_id: AKIDEXAMPLE
    secret_access_key: attack-test-secret
"#
    );
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let client = reqwest::Client::new();
    for provider in ["openai", "anthropic", "azure", "gemini", "vertex", "bedrock"] {
        for model in HOSTILE {
            for stream in [false, true] {
                let answer = client
                    .post(format!("{}/chat/completions", gw.base_url()))
                    .json(
                        &json!({"model": format!("{provider}/{model}"), "stream": stream, "messages": [{"role": "user", "content": "hi"}]}),
                    )
                    .timeout(Duration::from_secs(20))
                    .send()
                    .await
                    .unwrap();
                assert!(answer.status().as_u16() < 500 || answer.status().as_u16() == 502, "{provider}/{model}: {}", answer.status());
            }
        }
    }
    let requests = up.requests();
    assert!(!requests.is_empty(), "the adapters did send requests");
    for r in requests {
        assert!(r.path.starts_with("/base/"), "a request left the base URL: {} {}", r.method, r.path);
        let segments: Vec<&str> = r.path.split('/').collect();
        assert!(!segments.iter().any(|s| *s == ".." || *s == "."), "a dot segment reached the upstream: {}", r.path);
        assert!(!r.path.contains("/admin"), "a model name became path structure: {}", r.path);
        assert!(!r.path.contains('\\') && !r.path.contains(';'), "an unencoded separator reached the upstream: {}", r.path);
        let query = r.query.unwrap_or_default();
        assert!(!query.contains("admin"), "a model name became a query: {query}");
    }
}
