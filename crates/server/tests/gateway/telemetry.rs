//! OTLP traces received by a real OpenTelemetry receiver, Arize Phoenix (installed by
//! scripts/test.sh into `.venv-phoenix`, found through `SWITCHYARD_PHOENIX_BIN`): a request with
//! a client's `traceparent` shows up in Phoenix under the client's trace id, with the GenAI
//! attributes and its admission, cache lookup and attempt spans, and the upstream was sent the
//! attempt's `traceparent` — over OTLP/HTTP and over OTLP/gRPC, one Phoenix for both. A dead or
//! hanging receiver never slows a request down; its spans are counted as failed or dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_testkit::{FakeUpstream, GatewayProcess, Reply};

use crate::common::*;

const COMPLETION: &str = r#"{"id":"chatcmpl-otel-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"traced answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":4,"total_tokens":15}}"#;

/// The `phoenix` command, or `None` (said loudly) when it is missing outside CI.
fn phoenix_bin() -> Option<PathBuf> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let workspace_venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv-phoenix/bin/phoenix");
    let found = std::env::var_os("SWITCHYARD_PHOENIX_BIN").map(PathBuf::from).or(Some(workspace_venv)).filter(|p| p.is_file());
    if found.is_none() {
        assert!(!ci, "Phoenix is required in CI (scripts/test.sh installs arize-phoenix into .venv-phoenix)");
        eprintln!("SKIPPED: traces_reach_phoenix_over_http_and_grpc — no Phoenix (set SWITCHYARD_PHOENIX_BIN or run scripts/test.sh)");
    }
    found
}

/// Kills Phoenix when the test ends, however it ends.
struct Phoenix {
    child: Child,
    http: String,
    grpc_port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_phoenix(bin: &PathBuf) -> Phoenix {
    let dir = tempfile::tempdir().unwrap();
    let (port, grpc_port) = (free_port(), free_port());
    let child = Command::new(bin)
        .arg("serve")
        .env("PHOENIX_WORKING_DIR", dir.path())
        .env("PHOENIX_PORT", port.to_string())
        .env("PHOENIX_GRPC_PORT", grpc_port.to_string())
        .env("PHOENIX_HOST", "127.0.0.1")
        .stdout(std::fs::File::create(dir.path().join("phoenix.log")).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start phoenix");
    let phoenix = Phoenix { child, http: format!("http://127.0.0.1:{port}"), grpc_port, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if client().get(format!("{}/healthz", phoenix.http)).send().await.is_ok_and(|r| r.status().is_success()) {
            return phoenix;
        }
        let log = std::fs::read_to_string(phoenix._dir.path().join("phoenix.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "Phoenix did not start in 90 s:\n{log}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The spans Phoenix holds for `trace_id`, once there are at least `n` of them.
async fn spans_of(phoenix: &Phoenix, trace_id: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = format!("{}/v1/projects/default/spans?trace_id={trace_id}&limit=100", phoenix.http);
        let found: Vec<Value> = match client().get(&url).send().await {
            Ok(r) if r.status().is_success() => r.json::<Value>().await.unwrap()["data"].as_array().cloned().unwrap_or_default(),
            _ => Vec::new(),
        };
        if found.len() >= n {
            return found;
        }
        assert!(Instant::now() < deadline, "Phoenix holds {} spans of trace {trace_id}, expected {n}: {found:#?}", found.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn named<'a>(spans: &'a [Value], name: &str) -> Vec<&'a Value> {
    spans.iter().filter(|s| s["name"] == name).collect()
}

fn gateway_config(upstream: &str, telemetry: &str) -> String {
    config(
        upstream,
        &format!("  bot:\n    targets: [ {{ provider: up, model: gpt-4o-mini }} ]\n    fallbacks: [ mock/echo ]\ntelemetry: {telemetry}\n"),
    )
}

/// One request per protocol: a plain success over HTTP, a failing upstream and a fallback over
/// gRPC (an attempt span with its error, a second attempt on the mock).
#[tokio::test]
async fn traces_reach_phoenix_over_http_and_grpc() {
    let Some(phoenix_cmd) = phoenix_bin() else { return };
    let phoenix = start_phoenix(&phoenix_cmd).await;
    let cases = [
        ("http", format!("{{ otlp_endpoint: \"{}\", sample_ratio: 0.0, capture_content: true }}", phoenix.http), false),
        ("grpc", format!("{{ otlp_endpoint: \"http://127.0.0.1:{}\", protocol: grpc, sample_ratio: 0.0 }}", phoenix.grpc_port), true),
    ];
    for (protocol, telemetry, failing) in cases {
        let reply = if failing {
            Reply::openai_error(503, "The engine is currently overloaded", "server_error", "overloaded")
        } else {
            Reply::json(COMPLETION)
        };
        let up = FakeUpstream::start_repeating(reply).await;
        let gw = GatewayProcess::spawn(bin(), &gateway_config(&up.base_url(), &telemetry)).await;
        let trace_id = format!("{:032x}", fastrand::u128(1..));
        let client_span = "00f067aa0ba902b7";
        let model = if failing { "bot" } else { "support-bot" };
        let mut body = chat(model, "hello traces");
        body["temperature"] = json!(0.25);
        body["max_tokens"] = json!(50);
        let started = Instant::now();
        let r = client()
            .post(format!("{}/chat/completions", gw.base_url()))
            .header("traceparent", format!("00-{trace_id}-{client_span}-01"))
            .header("tracestate", "vendor=abc")
            .header("x-switchyard-customer", "cust-otel-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{protocol}");
        let request_id = header(&r, "x-request-id").to_string();
        let _ = r.text().await;
        assert!(started.elapsed() < Duration::from_secs(2), "{protocol}: tracing does not hold the request");

        // Request, admission, cache lookup and the attempts (two when the upstream fails).
        let expected = if failing { 5 } else { 4 };
        let spans = spans_of(&phoenix, &trace_id, expected).await;
        let request = named(&spans, &format!("chat {model}"));
        assert_eq!(request.len(), 1, "{protocol}: one request span: {spans:#?}");
        let request = request[0];
        let request_span = request["context"]["span_id"].as_str().unwrap();
        assert_eq!(request["parent_id"], client_span, "{protocol}: a child of the client's span");
        let attrs = &request["attributes"];
        assert_eq!(attrs["gen_ai.operation.name"], "chat", "{protocol}");
        assert_eq!(attrs["gen_ai.request.model"], model, "{protocol}");
        assert_eq!(attrs["gen_ai.request.temperature"], 0.25, "{protocol}");
        assert_eq!(attrs["gen_ai.request.max_tokens"], 50, "{protocol}");
        assert_eq!(attrs["switchyard.request_id"], request_id.as_str(), "{protocol}");
        assert_eq!(attrs["switchyard.customer"], "cust-otel-1", "{protocol}");
        assert!(attrs["switchyard.cache.status"].is_string(), "{protocol}: {attrs}");
        assert_ne!(request["status_code"], "ERROR", "{protocol}");
        let text = serde_json::to_string(&spans).unwrap();
        assert!(!text.contains("sk-test-secret-key"), "{protocol}: no key material in spans");
        if failing {
            assert_eq!(attrs["gen_ai.provider.name"], "switchyard.mock", "{protocol}: the fallback served");
            assert_eq!(attrs["switchyard.provider"], "mock", "{protocol}");
            assert_eq!(attrs["gen_ai.response.model"], "echo", "{protocol}");
            assert!(attrs.get("gen_ai.input.messages").is_none(), "{protocol}: no content unless capture_content");
        } else {
            assert_eq!(attrs["gen_ai.provider.name"], "openai", "{protocol}: the provider's type, by its well-known name");
            assert_eq!(attrs["switchyard.provider"], "up", "{protocol}: the configured name");
            assert_eq!(attrs["gen_ai.response.model"], "gpt-4o-mini", "{protocol}");
            assert_eq!(attrs["gen_ai.usage.input_tokens"], 11, "{protocol}");
            assert_eq!(attrs["gen_ai.usage.output_tokens"], 4, "{protocol}");
            assert_eq!(attrs["gen_ai.response.id"], "chatcmpl-otel-1", "{protocol}");
            assert!(attrs["gen_ai.response.finish_reasons"].to_string().contains("stop"), "{protocol}: {attrs}");
            assert!(attrs["gen_ai.input.messages"].as_str().unwrap().contains("hello traces"), "{protocol}");
            assert!(attrs["gen_ai.output.messages"].as_str().unwrap().contains("traced answer"), "{protocol}");
        }
        for step in ["admission", "cache_lookup"] {
            let s = named(&spans, step);
            assert_eq!(s.len(), 1, "{protocol}: one {step} span: {spans:#?}");
            assert_eq!(s[0]["parent_id"], request_span, "{protocol}: {step} is a child of the request span");
        }
        let attempts = named(&spans, "chat gpt-4o-mini");
        assert_eq!(attempts.len(), 1, "{protocol}: {spans:#?}");
        let attempt = attempts[0];
        assert_eq!(attempt["parent_id"], request_span, "{protocol}");
        assert_eq!(attempt["attributes"]["gen_ai.provider.name"], "openai", "{protocol}");
        assert_eq!(attempt["attributes"]["switchyard.provider"], "up", "{protocol}");
        assert_eq!(attempt["attributes"]["switchyard.attempt.index"], 0, "{protocol}");
        if failing {
            assert_eq!(attempt["attributes"]["http.response.status_code"], 503, "{protocol}");
            assert_eq!(attempt["attributes"]["error.type"], "overloaded", "{protocol}");
            assert_eq!(attempt["status_code"], "ERROR", "{protocol}");
            let fallback = named(&spans, "chat echo");
            assert_eq!(fallback.len(), 1, "{protocol}: the fallback attempt: {spans:#?}");
            assert_eq!(fallback[0]["attributes"]["switchyard.attempt.fallback_index"], 1, "{protocol}");
        } else {
            assert_eq!(attempt["attributes"]["http.response.status_code"], 200, "{protocol}");
        }
        // The upstream was told the trace, with the attempt's span as the parent.
        let sent = up.requests()[0].header("traceparent").map(str::to_string);
        let attempt_span = attempt["context"]["span_id"].as_str().unwrap();
        assert_eq!(sent, Some(format!("00-{trace_id}-{attempt_span}-01")), "{protocol}");
        assert_eq!(up.requests()[0].header("tracestate"), Some("vendor=abc"), "{protocol}");

        if !failing {
            // A streamed answer: its id and finish reason come from the chunks the client got.
            let stream_trace = format!("{:032x}", fastrand::u128(1..));
            let mut body = chat("mock/echo", "stream me");
            body["stream"] = json!(true);
            let r = client()
                .post(format!("{}/chat/completions", gw.base_url()))
                .header("traceparent", format!("00-{stream_trace}-{client_span}-01"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let text = r.text().await.unwrap();
            let first: Value = serde_json::from_str(&sse_data(&text)[0]).unwrap();
            let spans = spans_of(&phoenix, &stream_trace, 4).await;
            let request = named(&spans, "chat mock/echo");
            let attrs = &request[0]["attributes"];
            assert_eq!(attrs["switchyard.stream"], true, "{attrs}");
            assert_eq!(attrs["gen_ai.response.id"], first["id"], "{attrs}");
            assert!(attrs["gen_ai.response.finish_reasons"].to_string().contains("stop"), "{attrs}");
            assert!(attrs["gen_ai.output.messages"].as_str().unwrap().contains("stream me"), "the mock echoes: {attrs}");
        }
        let metrics = client().get(format!("http://{}/metrics", gw.addr())).send().await.unwrap().text().await.unwrap();
        assert!(metric(&metrics, "switchyard_trace_spans_exported_total") >= expected as f64, "{protocol}: {metrics}");
        assert_eq!(metric(&metrics, "switchyard_trace_spans_failed_total"), 0.0, "{protocol}");
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// A receiver that accepts connections and never answers, and a port nobody listens on: requests
/// answer as fast as without telemetry, and every span ends up counted as failed or dropped.
#[tokio::test]
async fn a_dead_or_hanging_otlp_endpoint_never_slows_requests() {
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_addr = hanging.local_addr().unwrap();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = hanging.accept().await {
            keep.lock().unwrap().push(socket);
        }
    });
    let dead = format!("http://127.0.0.1:{}", free_port());
    for (what, endpoint, protocol) in
        [("hanging", format!("http://{hanging_addr}"), "http/protobuf"), ("dead", dead.clone(), "http/protobuf"), ("dead", dead, "grpc")]
    {
        let telemetry = format!("{{ otlp_endpoint: \"{endpoint}\", protocol: {protocol} }}");
        let gw = GatewayProcess::spawn(bin(), &format!("providers: {{ mock: {{ type: mock }} }}\ntelemetry: {telemetry}\n")).await;
        let n = 40;
        let started = Instant::now();
        for i in 0..n {
            let r = post(&gw, &chat("mock/echo", &format!("request {i}"))).await;
            assert_eq!(r.status(), 200, "{what}/{protocol}");
        }
        let per_request = started.elapsed() / n;
        assert!(per_request < Duration::from_millis(200), "{what}/{protocol}: {per_request:?} per request");
        // Every span is accounted for once the exporter gave up (a post waits up to 5 s).
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let metrics = client().get(format!("http://{}/metrics", gw.addr())).send().await.unwrap().text().await.unwrap();
            let (failed, dropped) =
                (metric(&metrics, "switchyard_trace_spans_failed_total"), metric(&metrics, "switchyard_trace_spans_dropped_total"));
            // Each request: the request span, admission, cache lookup and one attempt.
            if failed + dropped >= f64::from(n * 4) {
                assert_eq!(metric(&metrics, "switchyard_trace_spans_exported_total"), 0.0);
                break;
            }
            assert!(Instant::now() < deadline, "{what}/{protocol}: spans not counted as failed: {failed} failed, {dropped} dropped");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The spans of the last requests are posted at shutdown, before the exporter's next tick, and
/// what reaches the receiver is OTLP/HTTP protobuf at `/v1/traces`.
#[tokio::test]
async fn shutdown_posts_the_spans_still_queued() {
    let sink = FakeUpstream::start_repeating(Reply::json("{}")).await;
    let telemetry = format!("{{ otlp_endpoint: \"http://{}\" }}", sink.addr());
    let mut gw = GatewayProcess::spawn(bin(), &format!("providers: {{ mock: {{ type: mock }} }}\ntelemetry: {telemetry}\n")).await;
    let r = post(&gw, &chat("mock/echo", "the last request")).await;
    assert_eq!(r.status(), 200);
    let request_id = header(&r, "x-request-id").to_string();
    gw.sigterm();
    assert!(gw.wait_exit(Duration::from_secs(10)).await.is_some_and(|s| s.success()), "{}", gw.output());
    let posts = sink.requests();
    assert_eq!(posts.len(), 1, "one batch, posted at shutdown");
    assert_eq!((posts[0].method.as_str(), posts[0].path.as_str()), ("POST", "/v1/traces"));
    assert_eq!(posts[0].header("content-type"), Some("application/x-protobuf"));
    let body = &posts[0].body;
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    assert!(has(request_id.as_bytes()) && has(b"chat mock/echo") && has(b"switchyard"), "the request's spans are in the batch");
}
