//! The Messages codec in-process: Anthropic's shapes on every path a chat answer takes — held
//! streams with keep-alives, a failure after the 200 as Anthropic's `error` event, refusals.

use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use switchyard_store::{LogWriter, LogWriterConfig, MemoryLog};
use tower::ServiceExt;

use super::router;
use super::stream_tests::{held_stream_at, timeouts};
use super::tests::test_app;

const STREAM: &str = r#"{"model":"mock/echo","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"a b c"}]}"#;

/// The `event:` names and data of an Anthropic stream body, comments left out.
fn events(frames: &[(Duration, String)]) -> Vec<(String, Value)> {
    frames
        .iter()
        .flat_map(|(_, f)| f.split("\n\n"))
        .filter(|e| e.starts_with("event: "))
        .map(|e| {
            let (name, data) = e.split_once('\n').unwrap();
            (name["event: ".len()..].to_string(), serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap())
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_held_messages_stream_is_kept_alive_then_written_as_anthropic_events() {
    let (head_at, status, frames, records) =
        held_stream_at("/v1/messages", STREAM, Duration::from_millis(6500), timeouts(Duration::from_secs(30))).await;
    assert_eq!((head_at, status), (Duration::from_secs(1), StatusCode::OK));
    assert!(frames.iter().any(|(_, f)| f == ": keep-alive\n\n"), "{frames:?}");
    let events = events(&frames);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);
    let text: String = events.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect();
    assert_eq!(text, "a b c");
    assert_eq!(events[events.len() - 2].1["usage"]["output_tokens"], 3);
    assert!(!frames.iter().any(|(_, f)| f.contains("data: [DONE]") || f.contains("chat.completion")));
    assert_eq!(records.iter().map(|r| (r.status, r.outcome.as_str())).collect::<Vec<_>>(), [(200, "ok")]);
}

#[tokio::test(start_paused = true)]
async fn a_messages_stream_that_fails_after_its_200_ends_with_anthropics_error_event() {
    let (_, status, frames, records) =
        held_stream_at("/v1/messages", STREAM, Duration::from_secs(60), timeouts(Duration::from_secs(4))).await;
    assert_eq!(status, StatusCode::OK);
    let events = events(&frames);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{frames:?}");
    assert_eq!((data["type"].as_str(), data["error"]["type"].as_str()), (Some("error"), Some("timeout_error")));
    assert!(!events.iter().any(|(n, _)| n == "message_stop"), "a failure never looks like a clean end");
    assert_eq!(records.iter().map(|r| (r.status, r.outcome.as_str())).collect::<Vec<_>>(), [(200, "error")]);
}

#[tokio::test]
async fn refusals_are_anthropic_errors_with_anthropics_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let log = MemoryLog::default();
    let writer = LogWriter::start(log.clone(), LogWriterConfig::new(dir.path().join("spool"))).unwrap();
    let app = router(test_app(&writer).await);
    let send = |path: &'static str, body: &'static str| {
        let app = app.clone();
        async move {
            let request = Request::post(path).header("content-type", "application/json").body(Body::from(body)).unwrap();
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let body: Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
            (status, body)
        }
    };
    let (status, body) = send("/v1/messages", r#"{"model":"mock/echo","max_tokens":5,"messages":[{"role":"robot","content":"x"}]}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!((body["type"].as_str(), body["error"]["type"].as_str()), (Some("error"), Some("invalid_request_error")));
    assert!(body["error"]["message"].as_str().unwrap().contains("messages[0].role"), "{body}");
    let (status, body) =
        send("/anthropic/v1/messages", r#"{"model":"nope/x","max_tokens":5,"messages":[{"role":"user","content":"x"}]}"#).await;
    assert_eq!((status, body["error"]["type"].as_str()), (StatusCode::NOT_FOUND, Some("not_found_error")));
    let (status, body) =
        send("/v1/messages/count_tokens", r#"{"model":"mock/echo","messages":[{"role":"user","content":"hello there"}]}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["input_tokens"].as_u64().unwrap() > 0);
    writer.shutdown();
    // Two refusals logged once each; counting tokens is not a call and is not logged.
    assert_eq!(log.records().iter().map(|r| r.status).collect::<Vec<_>>(), [400, 404]);
}
