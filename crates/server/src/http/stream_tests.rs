//! Streams whose first token is slow, in-process on a paused clock: the response is committed
//! when the hold runs out and kept alive with SSE comments until the answer comes, and a failure
//! after the commit is an error event, logged once with the status the client got.

use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use switchyard_core::store::LogRecord;
use switchyard_core::Timeouts;
use switchyard_providers::mock::MockConfig;
use switchyard_store::{LogWriter, LogWriterConfig, MemoryLog};
use tokio::time::Instant;
use tower::ServiceExt;

use super::router;
use super::tests::test_app_with;

const STREAM: &str = r#"{"model":"mock/echo","stream":true,"messages":[{"role":"user","content":"a b c"}]}"#;

pub(super) fn timeouts(first_token: Duration) -> Timeouts {
    Timeouts { first_token, hold: Duration::from_secs(1), keep_alive: Duration::from_secs(2), ..Timeouts::default() }
}

/// Sends `STREAM` to a gateway whose mock waits `mock_first_token` before its first chunk: when
/// the head came, its status, each body frame with when it came, and the log.
async fn held_stream(mock_first_token: Duration, timeouts: Timeouts) -> (Duration, StatusCode, Vec<(Duration, String)>, Vec<LogRecord>) {
    held_stream_at("/v1/chat/completions", STREAM, mock_first_token, timeouts).await
}

/// `held_stream` for any streaming endpoint and body.
pub(super) async fn held_stream_at(
    path: &str,
    stream: &'static str,
    mock_first_token: Duration,
    timeouts: Timeouts,
) -> (Duration, StatusCode, Vec<(Duration, String)>, Vec<LogRecord>) {
    let dir = tempfile::tempdir().unwrap();
    let log = MemoryLog::default();
    let writer = LogWriter::start(log.clone(), LogWriterConfig::new(dir.path().join("spool"))).unwrap();
    let mock = MockConfig { first_token: Some(mock_first_token), ..MockConfig::default() };
    let app = router(test_app_with(&writer, mock, timeouts).await);
    let start = Instant::now();
    let request = Request::post(path).header("content-type", "application/json").body(Body::from(stream)).unwrap();
    let response = app.oneshot(request).await.unwrap();
    let head_at = start.elapsed();
    let status = response.status();
    let mut body = response.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            frames.push((start.elapsed(), String::from_utf8(data.to_vec()).unwrap()));
        }
    }
    writer.shutdown();
    (head_at, status, frames, log.records())
}

#[tokio::test(start_paused = true)]
async fn a_held_stream_sends_keep_alive_comments_while_waiting_for_the_first_token() {
    let (head_at, status, frames, records) = held_stream(Duration::from_millis(6500), timeouts(Duration::from_secs(30))).await;
    // The head goes out when the hold runs out, not when the first token comes.
    assert_eq!((head_at, status), (Duration::from_secs(1), StatusCode::OK));
    let keep_alives: Vec<Duration> = frames.iter().filter(|(_, f)| f == ": keep-alive\n\n").map(|(at, _)| *at).collect();
    assert_eq!(keep_alives, [Duration::from_secs(3), Duration::from_secs(5)], "{frames:?}");
    let data: Vec<&str> = frames.iter().filter(|(_, f)| f.starts_with("data: ")).map(|(_, f)| f.as_str()).collect();
    assert_eq!(data.len() + keep_alives.len(), frames.len(), "only data events and comments: {frames:?}");
    assert!(frames.iter().all(|(at, f)| !f.starts_with("data: ") || *at >= Duration::from_millis(6500)));
    assert_eq!(data.last(), Some(&"data: [DONE]\n\n"));
    let text: String = data
        .iter()
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(&d[6..]).ok())
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, "a b c");
    let summary: Vec<(u16, &str, u64)> = records.iter().map(|r| (r.status, r.outcome.as_str(), r.output_tokens)).collect();
    assert_eq!(summary, [(200, "ok", 3)]);
}

#[tokio::test(start_paused = true)]
async fn a_stream_answered_within_its_hold_sends_no_comment_and_keeps_its_http_error_status() {
    let (head_at, status, frames, _) = held_stream(Duration::from_millis(500), timeouts(Duration::from_secs(30))).await;
    assert_eq!((head_at, status), (Duration::from_millis(500), StatusCode::OK));
    assert!(frames.iter().all(|(_, f)| f.starts_with("data: ")), "{frames:?}");
    // A first-token timeout (with its retry) inside the hold is still a plain 504.
    let quick = Timeouts { hold: Duration::from_secs(10), ..timeouts(Duration::from_secs(2)) };
    let (_, status, frames, records) = held_stream(Duration::from_secs(60), quick).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{frames:?}");
    assert_eq!(records.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_held_stream_that_fails_ends_with_an_error_event_and_is_logged_once_with_status_200() {
    // No first token within 4 s: a timeout, after the commit (at 1 s) and a comment (at 3 s).
    let (head_at, status, frames, records) = held_stream(Duration::from_secs(60), timeouts(Duration::from_secs(4))).await;
    assert_eq!((head_at, status), (Duration::from_secs(1), StatusCode::OK));
    assert!(frames.iter().any(|(_, f)| f == ": keep-alive\n\n"), "{frames:?}");
    let (_, last) = frames.last().unwrap();
    let error: serde_json::Value = serde_json::from_str(last.strip_prefix("data: ").unwrap().trim_end()).unwrap();
    assert_eq!(error["error"]["code"], "upstream_timeout", "{frames:?}");
    assert!(!frames.iter().any(|(_, f)| f.contains("[DONE]")));
    let summary: Vec<(u16, &str, Option<&str>)> = records.iter().map(|r| (r.status, r.outcome.as_str(), r.error_type.as_deref())).collect();
    assert_eq!(summary, [(200, "error", Some("timeout"))]);
    let trail: Vec<Option<&str>> = records[0].attempt_log.iter().map(|a| a.error.map(|e| e.as_str())).collect();
    assert_eq!(trail, [Some("timeout")]);
}

#[tokio::test(start_paused = true)]
async fn a_started_stream_is_kept_alive_through_long_gaps_between_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LogWriter::start(MemoryLog::default(), LogWriterConfig::new(dir.path().join("spool"))).unwrap();
    let mock = MockConfig { chunk_delay: Some(Duration::from_secs(5)), ..MockConfig::default() };
    let app = router(test_app_with(&writer, mock, timeouts(Duration::from_secs(30))).await);
    let request = Request::post("/v1/chat/completions").header("content-type", "application/json").body(Body::from(STREAM)).unwrap();
    let body = app.oneshot(request).await.unwrap().into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8(body.to_vec()).unwrap();
    let gaps: Vec<&str> = body.split("data: ").skip(1).filter(|event| event.contains(": keep-alive\n\n")).collect();
    // Every chunk comes 5 s after the one before: each gap after the first gets its comment.
    assert!(gaps.len() >= 3, "{body}");
    assert!(body.ends_with("data: [DONE]\n\n"));
    writer.shutdown();
}
