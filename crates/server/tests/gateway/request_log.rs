//! The request log under faults: the database locked mid-run loses and duplicates nothing; a
//! SIGTERM lets an in-flight stream finish and flushes the log; bodies only when configured.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use switchyard_testkit::GatewayProcess;

use crate::common::*;

const MOCK: &str = "providers:\n  mock: { type: mock }\n";

#[tokio::test]
async fn database_unavailable_mid_run_loses_and_duplicates_no_record() {
    let gw = GatewayProcess::spawn(bin(), MOCK).await;
    let client = client();
    let url = format!("{}/chat/completions", gw.base_url());
    let send = |i: usize| {
        let mut body = chat("mock/echo", &format!("request number {i}"));
        body["stream"] = json!(i.is_multiple_of(3));
        client.post(&url).json(&body).send()
    };
    let mut ids = HashSet::new();
    for i in 0..50 {
        let r = send(i).await.unwrap();
        assert_eq!(r.status(), 200);
        ids.insert(header(&r, "x-request-id").to_string());
        r.bytes().await.unwrap();
    }
    assert_eq!(records(gw.data_dir(), 50).await.len(), 50);

    // Another process-level connection takes the write lock: the gateway's writes now fail.
    let db = gw.data_dir().join("switchyard.db");
    let lock = rusqlite::Connection::open(&db).unwrap();
    lock.busy_timeout(Duration::from_secs(5)).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for i in 50..250 {
        let r = send(i).await.unwrap();
        assert_eq!(r.status(), 200, "requests keep flowing while the database is down");
        ids.insert(header(&r, "x-request-id").to_string());
        r.bytes().await.unwrap();
    }
    let spool = gw.data_dir().join("spool");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !spool.join("requests.jsonl").exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(spool.join("requests.jsonl").exists(), "records went to the spool while the database was locked");
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);

    let found = records(gw.data_dir(), 250).await;
    assert_eq!(found.len(), 250, "every request exactly once");
    let found_ids: HashSet<String> = found.iter().map(|r| r.request_id.clone()).collect();
    assert_eq!(found_ids, ids);
    let status: serde_json::Value = client.get(format!("{}/readyz", gw.root_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["log"]["database_ok"], true, "{status}");
    assert!(status["log"]["spooled"].as_u64().unwrap() > 0, "{status}");
}

#[tokio::test]
async fn sigterm_lets_a_running_stream_finish_and_flushes_the_log() {
    let config = "shutdown_grace: 10s\nproviders:\n  slow: { type: mock, chunks: 10, chunk_delay: 100ms }\n";
    let mut gw = GatewayProcess::spawn(bin(), config).await;
    let mut body = chat("slow/echo", "one two three four five six seven eight nine ten");
    body["stream"] = json!(true);
    let r = client().post(format!("{}/chat/completions", gw.base_url())).json(&body).send().await.unwrap();
    let id = header(&r, "x-request-id").to_string();
    let mut stream = r.bytes_stream();
    let mut text = String::from_utf8(stream.next().await.unwrap().unwrap().to_vec()).unwrap();
    gw.sigterm();
    // New connections are refused once the listener has closed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(reqwest::Client::new().get(format!("{}/healthz", gw.root_url())).send().await.is_err(), "listener closed");
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(text.ends_with("data: [DONE]\n\n"), "the in-flight stream completed: {text}");
    let status = gw.wait_exit(Duration::from_secs(10)).await.expect("exited");
    assert!(status.success(), "exit 0, got {status:?}\n{}", gw.output());
    let rec = record(gw.data_dir(), &id).await;
    assert_eq!((rec.outcome.as_str(), rec.output_tokens), ("ok", 10));
}

#[tokio::test]
async fn sigterm_past_the_grace_period_ends_streams_with_an_error_event() {
    let config = "shutdown_grace: 300ms\nproviders:\n  slow: { type: mock, chunks: 50, chunk_delay: 200ms }\n";
    let mut gw = GatewayProcess::spawn(bin(), config).await;
    let mut body = chat("slow/echo", &"word ".repeat(50));
    body["stream"] = json!(true);
    let r = client().post(format!("{}/chat/completions", gw.base_url())).json(&body).send().await.unwrap();
    let id = header(&r, "x-request-id").to_string();
    gw.sigterm();
    let text = r.text().await.unwrap();
    let last = sse_data(&text).pop().unwrap();
    assert!(last.contains("\"error\""), "explicit error event, not a silent cut: {last}");
    assert!(gw.wait_exit(Duration::from_secs(10)).await.expect("exited").success(), "{}", gw.output());
    assert_eq!(record(gw.data_dir(), &id).await.outcome, "incomplete");
}

#[tokio::test]
async fn bodies_are_stored_only_when_configured_and_never_with_disable_log() {
    let gw = GatewayProcess::spawn(bin(), "log: { bodies: true }\nproviders:\n  mock: { type: mock }\n").await;
    let kept = post(&gw, &chat("mock/echo", "keep me")).await;
    let kept_id = header(&kept, "x-request-id").to_string();
    let mut private = chat("mock/echo", "secret content");
    private["disable_log"] = json!(true);
    let dropped = post(&gw, &private).await;
    let dropped_id = header(&dropped, "x-request-id").to_string();
    let kept = record(gw.data_dir(), &kept_id).await;
    assert!(kept.request_body.unwrap().contains("keep me"));
    assert!(kept.response_body.unwrap().contains("keep me"));
    let dropped = record(gw.data_dir(), &dropped_id).await;
    assert_eq!((dropped.request_body, dropped.response_body), (None, None));
    assert_eq!(dropped.input_tokens, 5, "metadata is still logged");
}

#[tokio::test]
async fn the_database_and_its_journal_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let gw = GatewayProcess::spawn(bin(), MOCK).await;
    let r = client().post(format!("{}/chat/completions", gw.base_url())).json(&chat("mock/echo", "private")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    records(gw.data_dir(), 1).await;
    let mode = |name: &str| std::fs::metadata(gw.data_dir().join(name)).map(|m| m.permissions().mode() & 0o777).ok();
    assert_eq!(mode("switchyard.db"), Some(0o600), "SQLite creates it 0644 under the usual umask");
    // The write-ahead log exists while the gateway runs; SQLite gives it the database's mode.
    assert_eq!(mode("switchyard.db-wal"), Some(0o600));
}
