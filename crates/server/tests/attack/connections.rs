//! Connections that never finish a request, bodies that never end, and more requests than the
//! gateway takes: timeouts close the first two, the caps shed the last at once, real clients
//! keep being served, and shutdown is not held up.

use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_testkit::GatewayProcess;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::bin;

fn config(server: &str, mock: &str) -> String {
    format!("server: {{ {server} }}\nproviders:\n  mock: {{ type: mock{mock} }}\n")
}

async fn ask(gw: &GatewayProcess) -> reqwest::Response {
    ask_at(gw.base_url()).await
}

async fn ask_at(base_url: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base_url}/chat/completions"))
        .json(&json!({"model": "mock/echo", "messages": [{"role": "user", "content": "hello"}]}))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("the gateway answers a real client")
}

/// A connection that sent part of a request head and then nothing.
async fn hold(gw: &GatewayProcess, first_bytes: &[u8]) -> TcpStream {
    let mut tcp = TcpStream::connect(gw.addr()).await.unwrap();
    tcp.write_all(first_bytes).await.unwrap();
    tcp
}

/// True when the gateway has closed the connection (EOF or reset), false when it is still open
/// after `within`.
async fn closed_within(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // A response (a 503, a 408) before the close.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn held_and_slowloris_connections_do_not_lock_out_a_real_client_and_are_closed_by_the_header_timeout() {
    let gw = GatewayProcess::spawn(bin(), &config("header_timeout: 1s, max_connections: 100", "")).await;
    // Three times the cap of connections that sent one byte and stopped.
    let mut held = Vec::new();
    for _ in 0..300 {
        held.push(hold(&gw, b"P").await);
    }
    // And slowloris: a header line at a time, slower than the timeout allows in all.
    let mut slow = Vec::new();
    for _ in 0..20 {
        slow.push(hold(&gw, b"POST /v1/chat/completions HTTP/1.1\r\n").await);
    }
    let trickle = tokio::spawn(async move {
        for i in 0..6 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for tcp in &mut slow {
                let _ = tcp.write_all(format!("x-pad-{i}: y\r\n").as_bytes()).await;
            }
        }
        slow
    });
    for _ in 0..5 {
        assert_eq!(ask(&gw).await.status(), 200, "a real client is served while connections are held");
    }
    let mut slow = trickle.await.unwrap();
    for tcp in slow.iter_mut().chain(held.iter_mut().rev().take(50)) {
        assert!(closed_within(tcp, Duration::from_secs(3)).await, "a held connection outlived the header timeout");
    }
    assert_eq!(ask(&gw).await.status(), 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_and_not_before() {
    let gw = GatewayProcess::spawn(bin(), &config("idle_timeout: 2s, header_timeout: 1s", "")).await;
    let mut tcp = TcpStream::connect(gw.addr()).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 4096];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Idle longer than the header timeout: the idle timeout applies, not the header one.
    assert!(!closed_within(&mut tcp, Duration::from_millis(1500)).await, "an idle connection was cut by the header timeout");
    assert!(closed_within(&mut tcp, Duration::from_secs(3)).await, "an idle connection outlived the idle timeout");
}

#[tokio::test]
async fn a_body_sent_a_byte_at_a_time_is_cut_by_the_body_timeout_with_a_408() {
    let gw = GatewayProcess::spawn(bin(), &config("body_timeout: 1s", "")).await;
    let mut tcp = TcpStream::connect(gw.addr()).await.unwrap();
    tcp.write_all(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let (mut read, mut write) = tcp.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..40 {
            if write.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), read.read_to_end(&mut answer)).await;
    trickle.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("server.body_timeout"), "the error names the setting: {answer}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn half_sent_requests_do_not_delay_shutdown() {
    let mut gw = GatewayProcess::spawn(bin(), &format!("shutdown_grace: 30s\n{}", config("header_timeout: 60s", ""))).await;
    let mut held = Vec::new();
    for _ in 0..50 {
        held.push(hold(&gw, b"POST /v1/chat/completions HTTP/1.1\r\ncontent-le").await);
    }
    // The gateway has taken them all before it is told to stop.
    assert_eq!(ask(&gw).await.status(), 200);
    let started = Instant::now();
    gw.sigterm();
    let status = gw.wait_exit(Duration::from_secs(10)).await.expect("the gateway exits");
    assert!(status.success());
    assert!(started.elapsed() < Duration::from_secs(3), "shutdown took {:?}", started.elapsed());
}

#[tokio::test]
async fn past_the_in_flight_cap_api_requests_get_503_with_retry_after_at_once_and_health_still_answers() {
    let gw = GatewayProcess::spawn(bin(), &config("max_in_flight: 4", ", latency: 1500ms")).await;
    let slow: Vec<_> = (0..4).map(|_| ask_at(gw.base_url())).collect();
    let slow = tokio::spawn(futures_util::future::join_all(slow));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = reqwest::Client::new();
    for _ in 0..10 {
        let started = Instant::now();
        let shed = ask(&gw).await;
        assert_eq!(shed.status(), 503);
        assert!(started.elapsed() < Duration::from_millis(500), "shedding took {:?}", started.elapsed());
        assert_eq!(shed.headers()["retry-after"], "1");
        let body: serde_json::Value = shed.json().await.unwrap();
        assert_eq!(body["error"]["code"], "overloaded");
    }
    let health = client.get(format!("{}/healthz", gw.root_url())).send().await.unwrap();
    assert_eq!(health.status(), 200, "health answers at capacity");
    for answer in slow.await.unwrap() {
        assert_eq!(answer.status(), 200, "the requests in flight are unaffected");
    }
    assert_eq!(ask(&gw).await.status(), 200, "capacity is back at once");
}

#[tokio::test]
async fn past_the_connection_cap_with_every_connection_busy_a_newcomer_gets_503_and_is_closed() {
    let gw = GatewayProcess::spawn(bin(), &config("max_connections: 3", ", latency: 1500ms")).await;
    let busy: Vec<_> = (0..3).map(|_| ask_at(gw.base_url())).collect();
    let busy = tokio::spawn(futures_util::future::join_all(busy));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut tcp = TcpStream::connect(gw.addr()).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut answer)).await.expect("answered and closed at once").unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503") && answer.contains("retry-after: 1"), "{answer}");
    for answer in busy.await.unwrap() {
        assert_eq!(answer.status(), 200);
    }
}
