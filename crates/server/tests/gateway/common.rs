//! Helpers shared by the gateway tests.

use std::path::Path;
use std::time::{Duration, Instant};

use switchyard_core::store::{LogQuery, LogRecord};

use switchyard_store::SqliteLog;
use switchyard_testkit::GatewayProcess;

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchyard"))
}

/// A gateway with one OpenAI-compatible provider `up` at `base_url` (key `sk-test-secret-key`),
/// the mock, and an alias `support-bot` → `up/gpt-4o-mini`.
pub fn config(base_url: &str, extra: &str) -> String {
    format!(
        r#"
providers:
  up: {{ type: openai, base_url: "{base_url}", api_key: sk-test-secret-key-123456 }}
  mock: {{ type: mock }}
models:
  support-bot:
    targets: [ {{ provider: up, model: gpt-4o-mini }} ]
    timeouts: {{ first_token: 2s, total: 10s }}
{extra}
"#
    )
}

pub async fn gateway(base_url: &str) -> GatewayProcess {
    GatewayProcess::spawn(bin(), &config(base_url, "")).await
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

pub fn chat(model: &str, content: &str) -> serde_json::Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": content}]})
}

pub async fn post(gw: &GatewayProcess, body: &serde_json::Value) -> reqwest::Response {
    client().post(format!("{}/chat/completions", gw.base_url())).json(body).send().await.expect("gateway answers")
}

/// Waits until the request log holds `n` records (the writer is asynchronous) and returns them.
pub async fn records(data_dir: &Path, n: usize) -> Vec<LogRecord> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = SqliteLog::open_read_only(&data_dir.join("switchyard.db"))
            .and_then(|db| db.query(&LogQuery { limit: 100_000, ..Default::default() }))
            .unwrap_or_default();
        if found.len() >= n || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn record(data_dir: &Path, request_id: &str) -> LogRecord {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = records(data_dir, 0).await;
        if let Some(r) = all.into_iter().find(|r| r.request_id == request_id) {
            return r;
        }
        assert!(Instant::now() < deadline, "no log record for request {request_id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("missing header {name}"))
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).map(str::to_string).collect()
}
