//! A web page against a gateway on the developer's machine: simple (preflight-free) POSTs of
//! text, forms and blobs, CORS preflights from origins allowed and not, and DNS rebinding (a
//! foreign `Host`) on the API and admin listeners. Requests are written byte for byte on a raw
//! socket, as a browser would send them; nothing refused may reach the provider or the log.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchyard_core::store::LogQuery;
use switchyard_store::SqliteLog;
use switchyard_testkit::{openai_completion, FakeUpstream, GatewayProcess, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::bin;

const ADMIN_KEY: &str = "admin-key-for-attack-tests-0123";
const CHAT: &str = r#"{"model":"up/gpt-4o-mini","messages":[{"role":"user","content":"spend the developer's credits"}]}"#;

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    /// A response header's value (names compared in lowercase).
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
    }

    fn code(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .map(|v| v["error"]["code"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    }
}

/// One HTTP/1.1 request on a fresh connection: `headers` are sent as given (Host included), then
/// `Content-Length` for `body`.
async fn send(addr: SocketAddr, head: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut request = format!("{head} HTTP/1.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()));
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut raw)).await.expect("the gateway answers").unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line in {text:?}"));
    Answer { status, head: head.to_string(), body: body.to_string() }
}

async fn gateway(up: &FakeUpstream, server: &str) -> GatewayProcess {
    let config = format!(
        "providers:\n  up: {{ type: openai, base_url: \"{}\", api_key: sk-test-secret-key-123456 }}\nadmin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\n{server}\n",
        up.base_url()
    );
    GatewayProcess::spawn(bin(), &config).await
}

fn admin_addr(gw: &GatewayProcess) -> SocketAddr {
    let out = gw.output();
    let url = out.lines().find_map(|l| l.strip_prefix("admin API on http://")).unwrap_or_else(|| panic!("no admin line in:\n{out}"));
    url.split_whitespace().next().unwrap().parse().unwrap()
}

/// Sends one JSON request that must go through, then checks that it alone reached the provider
/// and the request log: everything sent before it was refused without a trace of spending.
async fn only_the_control_request_is_spent(gw: &GatewayProcess, up: &FakeUpstream) {
    assert_eq!(up.request_count(), 0, "a refused request reached the provider");
    let host = format!("127.0.0.1:{}", gw.addr().port());
    let control = send(gw.addr(), "POST /v1/chat/completions", &[("host", &host), ("content-type", "application/json")], CHAT).await;
    assert_eq!(control.status, 200, "{}", control.body);
    let request_id = control.header("x-request-id").unwrap().to_string();
    assert_eq!(up.request_count(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let records = loop {
        let found = SqliteLog::open_read_only(&gw.data_dir().join("switchyard.db"))
            .and_then(|db| db.query(&LogQuery { limit: 1000, ..Default::default() }))
            .unwrap_or_default();
        if !found.is_empty() || Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ids: Vec<&str> = records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, [request_id.as_str()], "the log holds the control request only");
}

#[tokio::test]
async fn simple_posts_a_page_can_send_without_preflight_are_refused_and_spend_nothing() {
    let up = FakeUpstream::start_repeating(Reply::json(openai_completion("spent", 10, 5))).await;
    let gw = gateway(&up, "").await;
    let host = format!("127.0.0.1:{}", gw.addr().port());
    let form = "model=up%2Fgpt-4o-mini&messages=x";
    let multipart = "--b\r\ncontent-disposition: form-data; name=\"model\"\r\n\r\nup/gpt-4o-mini\r\n--b--\r\n";
    let cases =
        [("text/plain;charset=UTF-8", CHAT), ("application/x-www-form-urlencoded", form), ("multipart/form-data; boundary=b", multipart)];
    for path in ["/v1/chat/completions", "/api/v1/chat/completions", "/v1/embeddings"] {
        for (content_type, body) in cases {
            let head = format!("POST {path}");
            let answer = send(gw.addr(), &head, &[("host", &host), ("content-type", content_type)], body).await;
            assert_eq!((answer.status, answer.code().as_str()), (415, "unsupported_media_type"), "{path} {content_type}: {}", answer.body);
        }
        // `fetch(url, {method: "POST", body: new Blob([json])})` sends no Content-Type at all.
        let answer = send(gw.addr(), &format!("POST {path}"), &[("host", &host)], CHAT).await;
        assert_eq!(answer.status, 415, "{path} without a type: {}", answer.body);
    }
    // The same from a page, which says where it comes from: refused for its origin first.
    let answer = send(
        gw.addr(),
        "POST /v1/chat/completions",
        &[("host", &host), ("origin", "https://evil.example"), ("content-type", "text/plain")],
        CHAT,
    )
    .await;
    assert_eq!((answer.status, answer.code().as_str()), (403, "origin_not_allowed"), "{}", answer.body);
    assert!(answer.header("access-control-allow-origin").is_none());
    only_the_control_request_is_spent(&gw, &up).await;
}

#[tokio::test]
async fn a_page_from_an_origin_not_allowed_gets_no_preflight_and_no_answer() {
    let up = FakeUpstream::start_repeating(Reply::json(openai_completion("spent", 10, 5))).await;
    let gw = gateway(&up, "server: { allowed_origins: [\"https://app.example\"] }").await;
    let host = format!("localhost:{}", gw.addr().port());
    let preflight = [
        ("host", host.as_str()),
        ("origin", "https://evil.example"),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "authorization,content-type"),
    ];
    let answer = send(gw.addr(), "OPTIONS /v1/chat/completions", &preflight, "").await;
    assert_eq!((answer.status, answer.code().as_str()), (403, "origin_not_allowed"), "{}", answer.body);
    assert!(answer.body.contains("server.allowed_origins"), "{}", answer.body);
    assert!(answer.header("access-control-allow-origin").is_none());
    let answer = send(
        gw.addr(),
        "POST /v1/chat/completions",
        &[("host", &host), ("origin", "https://evil.example"), ("content-type", "application/json")],
        CHAT,
    )
    .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    only_the_control_request_is_spent(&gw, &up).await;
}

#[tokio::test]
async fn a_page_from_an_allowed_origin_is_answered_with_cors_headers() {
    let up = FakeUpstream::start_repeating(Reply::json(openai_completion("hello page", 10, 5))).await;
    let gw = gateway(&up, "server: { allowed_origins: [\"http://localhost:5173\"] }").await;
    let host = format!("localhost:{}", gw.addr().port());
    let preflight = [
        ("host", host.as_str()),
        ("origin", "http://localhost:5173"),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "authorization,content-type,x-stainless-os,x-stainless-retry-count"),
    ];
    let answer = send(gw.addr(), "OPTIONS /v1/chat/completions", &preflight, "").await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(answer.header("access-control-allow-origin"), Some("http://localhost:5173"));
    assert_eq!(answer.header("access-control-allow-headers"), Some("authorization, content-type, x-stainless-os, x-stainless-retry-count"));
    assert_eq!(answer.header("access-control-allow-methods"), Some("GET, POST"));
    assert_eq!(up.request_count(), 0, "a preflight runs nothing");
    let answer = send(
        gw.addr(),
        "POST /v1/chat/completions",
        &[("host", &host), ("origin", "http://localhost:5173"), ("content-type", "application/json")],
        CHAT,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("hello page"));
    assert_eq!(answer.header("access-control-allow-origin"), Some("http://localhost:5173"));
    assert!(answer.header("access-control-expose-headers").is_some_and(|h| h.contains("x-request-id")), "{}", answer.head);
    assert!(answer.header("access-control-allow-credentials").is_none());
}

#[tokio::test]
async fn a_rebound_host_name_is_refused_on_both_loopback_listeners() {
    let up = FakeUpstream::start_repeating(Reply::json(openai_completion("spent", 10, 5))).await;
    let gw = gateway(&up, "").await;
    let port = gw.addr().port();
    let rebound = format!("evil.example:{port}");
    for (head, body) in [("POST /v1/chat/completions", CHAT), ("GET /v1/models", ""), ("GET /metrics", "")] {
        let answer = send(gw.addr(), head, &[("host", &rebound), ("content-type", "application/json")], body).await;
        assert_eq!((answer.status, answer.code().as_str()), (403, "host_not_allowed"), "{head}: {}", answer.body);
        assert!(answer.body.contains("server.allowed_hosts"), "{}", answer.body);
    }
    for host in [format!("localhost:{port}"), format!("LOCALHOST.:{port}"), format!("[::1]:{port}")] {
        let answer = send(gw.addr(), "GET /v1/models", &[("host", &host)], "").await;
        assert_eq!(answer.status, 200, "{host}: {}", answer.body);
    }

    let admin = admin_addr(&gw);
    let rebound = format!("evil.example:{}", admin.port());
    let bearer = format!("Bearer {ADMIN_KEY}");
    let answer = send(admin, "GET /admin/keys", &[("host", &rebound), ("authorization", &bearer)], "").await;
    assert_eq!((answer.status, answer.code().as_str()), (403, "host_not_allowed"), "{}", answer.body);
    let answer = send(admin, "GET /admin/openapi.json", &[("host", &rebound)], "").await;
    assert_eq!(answer.status, 403);
    let local = format!("localhost:{}", admin.port());
    let answer = send(admin, "GET /admin/keys", &[("host", &local), ("authorization", &bearer)], "").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer =
        send(admin, "POST /admin/keys", &[("host", &local), ("authorization", &bearer), ("content-type", "text/plain")], r#"{"name":"k"}"#)
            .await;
    assert_eq!((answer.status, answer.code().as_str()), (415, "unsupported_media_type"), "{}", answer.body);
    only_the_control_request_is_spent(&gw, &up).await;
}
