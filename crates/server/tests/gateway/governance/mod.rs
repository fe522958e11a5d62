//! Keys, limits and budgets through the real binary: the admin API, the request path, several
//! instances sharing the real PostgreSQL and Redis of this machine, and injected outages.

mod billing;
mod budgets;
mod caps;
mod cost;
mod keys;
mod limits;
mod monitors;
mod outage;
mod shutdown;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_testkit::services::{service_url, Service};
use switchyard_testkit::GatewayProcess;

use crate::common::*;

pub const ADMIN_KEY: &str = "admin-key-for-gateway-tests";
/// 64 hex characters: the HMAC secret instances sharing a database must share.
pub const KEY_SECRET: &str = "3f1c9a7e5b2d4f6081a3c5e7f9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7";

pub fn postgres_url() -> Option<String> {
    service_url(Service::Postgres, "needs PostgreSQL")
}

pub fn redis_url() -> Option<String> {
    service_url(Service::Redis, "needs Redis")
}

/// A fresh PostgreSQL schema for one test, dropped at the end; `url` selects it.
pub struct Schema {
    name: String,
    base: String,
    pub url: String,
}

impl Schema {
    pub async fn create(base: &str) -> Schema {
        let name = format!("sy_gw_{:016x}", fastrand::u64(..));
        sql(base, &format!("CREATE SCHEMA {name}")).await;
        let sep = if base.contains('?') { '&' } else { '?' };
        Schema { url: format!("{base}{sep}options=-c%20search_path%3D{name}"), name, base: base.to_string() }
    }

    pub async fn drop_now(self) {
        sql(&self.base, &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name)).await;
    }
}

async fn sql(url: &str, statement: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
    let task = tokio::spawn(conn);
    client.batch_execute(statement).await.expect("run SQL");
    drop(client);
    let _ = task.await;
}

/// `http://HOST:PORT` of a gateway's admin API, read from its startup output.
pub fn admin_url(gw: &GatewayProcess) -> String {
    let out = gw.output();
    let line = out.lines().find_map(|l| l.strip_prefix("admin API on ")).unwrap_or_else(|| panic!("no admin API line in:\n{out}"));
    line.split_whitespace().next().expect("admin URL").to_string()
}

pub async fn admin(gw: &GatewayProcess, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = client().request(method, format!("{}{path}", admin_url(gw))).bearer_auth(ADMIN_KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("admin API answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Creates a key through the admin API; returns (id, plaintext key).
pub async fn create_key(gw: &GatewayProcess, body: Value) -> (String, String) {
    let (status, created) = admin(gw, reqwest::Method::POST, "/admin/keys", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    (created["id"].as_str().expect("id").to_string(), created["key"].as_str().expect("key").to_string())
}

pub async fn call(gw: &GatewayProcess, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = client().post(format!("{}/chat/completions", gw.base_url())).json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("gateway answers")
}

/// An OpenAI-compatible upstream answering every request with exactly one output token after
/// `delay`, and a model `metered` priced so that the one token costs exactly $0.01 (input free).
pub async fn metered_upstream(delay: Duration) -> switchyard_testkit::FakeUpstream {
    let body = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13}
    });
    switchyard_testkit::FakeUpstream::start_repeating(switchyard_testkit::Reply::json(body.to_string()).delayed(delay)).await
}

pub fn metered_models(base_url: &str) -> String {
    format!(
        "providers:\n  up: {{ type: openai, base_url: \"{base_url}\", api_key: sk-upstream-key-123 }}\n  mock: {{ type: mock }}\nmodels:\n  metered:\n    targets: [ {{ provider: up, model: m }} ]\n    price: {{ input: 0, output: 10000 }}\n"
    )
}

/// One request for the `metered` model that may produce at most one token.
pub fn one_token() -> Value {
    json!({"model": "metered", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]})
}

pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// Polls `f` every 20 ms until it is true or `within` passed; returns how long it took.
pub async fn eventually<F, Fut>(within: Duration, mut f: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < within {
        if f().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Busy threads beside the gateways, one per core, until dropped: the loaded host on which a
/// slow Redis used to be taken for a dead one.
pub struct CpuHog {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl CpuHog {
    pub fn start() -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for CpuHog {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One request's outcome: status, error code and the `x-switchyard-cost-usd` it was charged.
pub async fn charged(gw: &GatewayProcess, key: &str, body: &Value) -> (u16, String, f64) {
    let r = call(gw, Some(key), body).await;
    let status = r.status().as_u16();
    let cost = r.headers().get("x-switchyard-cost-usd").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let e: Value = r.json().await.unwrap_or(Value::Null);
    (status, code(&e).to_string(), cost)
}
