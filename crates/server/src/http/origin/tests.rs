//! The API router in-process with a browser's requests: bodies that are not JSON, origins allowed
//! and not, and Host names on a loopback and on a public listener.

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use switchyard_store::{LogWriter, LogWriterConfig, MemoryLog};
use tower::ServiceExt;

use crate::config::Config;
use crate::http::router;
use crate::http::tests::test_app_edited;

const CHAT: &str = r#"{"model":"mock/echo","messages":[{"role":"user","content":"spend my credits"}]}"#;

struct Probe {
    app: axum::Router,
    writer: LogWriter,
    log: MemoryLog,
    _dir: tempfile::TempDir,
}

impl Probe {
    async fn new(edit: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = MemoryLog::default();
        let writer = LogWriter::start(log.clone(), LogWriterConfig::new(dir.path().join("spool"))).unwrap();
        let app = router(test_app_edited(&writer, edit).await);
        Self { app, writer, log, _dir: dir }
    }

    async fn send(&self, request: http::request::Builder, body: &str) -> (StatusCode, http::HeaderMap, serde_json::Value) {
        let response = self.app.clone().oneshot(request.body(Body::from(body.to_string())).unwrap()).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    /// How many requests reached the pipeline (each one is logged).
    fn logged(self) -> usize {
        drop(self.app);
        self.writer.shutdown();
        self.log.records().len()
    }
}

fn post(path: &str) -> http::request::Builder {
    Request::post(path)
}

fn code(body: &serde_json::Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_body_that_is_not_json_is_refused_415_before_the_pipeline_runs() {
    let probe = Probe::new(|_| {}).await;
    let types = [
        None,
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
    ];
    for path in ["/v1/chat/completions", "/api/v1/chat/completions", "/api/chat/completions", "/chat/completions", "/v1/embeddings"] {
        for content_type in types {
            let mut request = post(path);
            if let Some(t) = content_type {
                request = request.header("content-type", t);
            }
            let (status, _, body) = probe.send(request, CHAT).await;
            assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path} {content_type:?}: {body}");
            assert_eq!(code(&body), "unsupported_media_type");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("Content-Type: application/json"), "{message}");
        }
    }
    for ok in ["application/json", "Application/JSON; charset=utf-8"] {
        let (status, _, body) = probe.send(post("/v1/chat/completions").header("content-type", ok), CHAT).await;
        assert_eq!(status, StatusCode::OK, "{ok}: {body}");
    }
    assert_eq!(probe.logged(), 2, "only the two JSON requests reached the pipeline");
}

#[tokio::test]
async fn a_page_whose_origin_is_not_allowed_is_refused_403_preflight_and_all() {
    let probe = Probe::new(|_| {}).await;
    let evil = || post("/v1/chat/completions").header("origin", "https://evil.example").header("content-type", "application/json");
    let (status, headers, body) = probe.send(evil(), CHAT).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "origin_not_allowed");
    assert!(body["error"]["message"].as_str().unwrap().contains("server.allowed_origins"), "{body}");
    assert!(!headers.contains_key("access-control-allow-origin"));
    let preflight = Request::options("/v1/chat/completions")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type");
    let (status, headers, _) = probe.send(preflight, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!headers.contains_key("access-control-allow-origin"));
    // Server-side clients send no Origin and are not concerned.
    let (status, headers, _) = probe.send(post("/v1/chat/completions").header("content-type", "application/json"), CHAT).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!headers.contains_key("access-control-allow-origin"));
    assert_eq!(probe.logged(), 1);
}

#[tokio::test]
async fn an_allowed_origin_gets_its_preflight_answered_and_can_read_the_answer() {
    let probe = Probe::new(|c| c.server.allowed_origins = vec!["HTTPS://app.example:443".into()]).await;
    let preflight = Request::options("/v1/chat/completions")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type, x-stainless-os, x-stainless-retry-count, openai-organization, anthropic-version, x-switchyard-feature, x-secret-thing");
    let (status, headers, _) = probe.send(preflight, "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers["access-control-allow-origin"], "https://app.example");
    assert_eq!(headers["access-control-allow-methods"], "GET, POST");
    assert_eq!(
        headers["access-control-allow-headers"],
        "authorization, content-type, x-stainless-os, x-stainless-retry-count, openai-organization, anthropic-version, x-switchyard-feature"
    );
    assert_eq!(headers["access-control-max-age"], "600");
    assert!(headers.get_all("vary").iter().any(|v| v == "origin"));
    assert!(!headers.contains_key("access-control-allow-credentials"));

    let request = post("/v1/chat/completions").header("origin", "https://app.example").header("content-type", "application/json");
    let (status, headers, body) = probe.send(request, CHAT).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["access-control-allow-origin"], "https://app.example");
    let exposed = headers["access-control-expose-headers"].to_str().unwrap();
    assert!(exposed.contains("x-request-id") && exposed.contains("x-switchyard-provider"), "{exposed}");
    assert!(headers.get_all("vary").iter().any(|v| v == "origin"));
    // A refusal from further in is readable too: the page learns what it did wrong.
    let request = post("/v1/chat/completions").header("origin", "https://app.example").header("content-type", "text/plain");
    let (status, headers, _) = probe.send(request, CHAT).await;
    assert_eq!(
        (status, &headers["access-control-allow-origin"]),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, &"https://app.example".parse().unwrap())
    );
    // Another origin is still refused; an answer without Origin says it varies by origin.
    let (status, _, _) = probe.send(post("/v1/models").method("GET").header("origin", "https://app.example.evil"), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, headers, _) = probe.send(post("/v1/models").method("GET"), "").await;
    assert!(headers.get_all("vary").iter().any(|v| v == "origin"));
    assert_eq!(probe.logged(), 1);
}

#[tokio::test]
async fn a_wildcard_allows_every_origin_without_credentials() {
    let probe = Probe::new(|c| c.server.allowed_origins = vec!["*".into()]).await;
    let request = post("/v1/chat/completions").header("origin", "https://anyone.example").header("content-type", "application/json");
    let (status, headers, _) = probe.send(request, CHAT).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(!headers.contains_key("access-control-allow-credentials"));
    let preflight = Request::options("/v1/embeddings").header("origin", "null").header("access-control-request-method", "POST");
    let (status, headers, _) = probe.send(preflight, "").await;
    assert_eq!((status, &headers["access-control-allow-origin"]), (StatusCode::NO_CONTENT, &"*".parse().unwrap()));
}

#[tokio::test]
async fn a_loopback_listener_answers_loopback_names_and_allowed_hosts_only() {
    let probe = Probe::new(|c| c.server.allowed_hosts = vec!["gateway.internal".into()]).await;
    for host in ["evil.example", "evil.example:4000", "localhost.evil.example:4000", "10.1.2.3:4000"] {
        let (status, headers, body) =
            probe.send(post("/v1/chat/completions").header("host", host).header("content-type", "application/json"), CHAT).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{host}: {body}");
        assert_eq!(code(&body), "host_not_allowed");
        assert!(body["error"]["message"].as_str().unwrap().contains("server.allowed_hosts"), "{body}");
        assert!(!headers.contains_key("access-control-allow-origin"));
    }
    // An absolute URI names the host too (and wins over Host, for hyper and for RFC 9112).
    let (status, _, _) = probe.send(Request::get("http://evil.example:4000/healthz").header("host", "localhost:4000"), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for host in ["localhost:4000", "LOCALHOST", "127.0.0.1:4000", "[::1]:4000", "gateway.internal:4000"] {
        let (status, _, body) =
            probe.send(post("/v1/chat/completions").header("host", host).header("content-type", "application/json"), CHAT).await;
        assert_eq!(status, StatusCode::OK, "{host}: {body}");
    }
    assert_eq!(probe.logged(), 5);
}

#[tokio::test]
async fn a_listener_on_every_address_does_not_check_host() {
    let probe = Probe::new(|c| c.listen = "0.0.0.0:4000".parse().unwrap()).await;
    let (status, _, body) = probe
        .send(post("/v1/chat/completions").header("host", "gateway.example.com").header("content-type", "application/json"), CHAT)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
