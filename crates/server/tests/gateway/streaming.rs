//! Streams: recorded upstream streams arrive at the client event for event, usage is captured
//! always but shown only when asked, a client that leaves cancels the upstream at once, and a
//! failure mid-stream ends in an explicit error event, never a clean-looking end.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use switchyard_testkit::{fixture_bytes, openai_stream, FakeUpstream, Reply, Split};

use crate::common::*;

fn stream_body(model: &str, include_usage: Option<bool>) -> Value {
    let mut body = chat(model, "What's the weather?");
    body["stream"] = json!(true);
    if let Some(u) = include_usage {
        body["stream_options"] = json!({"include_usage": u});
    }
    body
}

/// The data payloads of a recorded SSE fixture, parsed as JSON (the `[DONE]` marker excluded).
fn fixture_events(rel: &str) -> Vec<Value> {
    let text = String::from_utf8(fixture_bytes(rel).to_vec()).unwrap().replace("\r\n", "\n");
    sse_data(&text).into_iter().filter(|d| d != "[DONE]").map(|d| serde_json::from_str(&d).unwrap()).collect()
}

fn is_usage_only(v: &Value) -> bool {
    v["choices"].as_array().is_some_and(|c| c.is_empty()) && v["usage"].is_object()
}

#[tokio::test]
async fn recorded_streams_pass_through_event_for_event_at_any_split() {
    for (rel, split) in [
        ("openai/tool-call-parallel-stream.sse", Split::EveryNBytes(7)),
        ("openai/text-stream.sse", Split::EveryNBytes(1)),
        ("azure/text-stream.sse", Split::Events),
        ("azure/tool-call-parallel-stream.sse", Split::EveryNBytes(13)),
    ] {
        for include_usage in [None, Some(true)] {
            let up = FakeUpstream::start(vec![Reply::sse(fixture_bytes(rel)).split(split)]).await;
            let gw = gateway(&up.base_url()).await;
            let r = post(&gw, &stream_body("support-bot", include_usage)).await;
            assert_eq!(r.status(), 200);
            assert_eq!(header(&r, "content-type"), "text/event-stream");
            let id = header(&r, "x-request-id").to_string();
            let text = r.text().await.unwrap();
            let got = sse_data(&text);
            assert_eq!(got.last().map(String::as_str), Some("[DONE]"), "{rel}: ends with [DONE]");
            let got: Vec<Value> = got[..got.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
            let recorded = fixture_events(rel);
            let expected: Vec<Value> = recorded.iter().filter(|v| include_usage == Some(true) || !is_usage_only(v)).cloned().collect();
            assert_eq!(got, expected, "{rel} include_usage={include_usage:?}");

            // The gateway asked the upstream for usage even when the client did not.
            assert_eq!(up.last_request().json()["stream_options"]["include_usage"], true);
            let rec = record(gw.data_dir(), &id).await;
            assert_eq!((rec.outcome.as_str(), rec.stream), ("ok", true), "{rel}");
            if let Some(usage) = recorded.iter().rev().find_map(|v| v["usage"].as_object().cloned()) {
                assert_eq!(rec.output_tokens, usage["completion_tokens"].as_u64().unwrap(), "{rel}");
                assert_eq!(rec.input_tokens, usage["prompt_tokens"].as_u64().unwrap(), "{rel}");
            }
            assert!(rec.ttft_ms.is_some());
        }
    }
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_within_100ms() {
    let pieces: Vec<String> = (0..200).map(|i| format!("w{i} ")).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let up = FakeUpstream::start(vec![Reply::sse(openai_stream(&pieces, true)).pace(Duration::from_millis(20))]).await;
    let gw = gateway(&up.base_url()).await;
    let r = post(&gw, &stream_body("support-bot", None)).await;
    let id = header(&r, "x-request-id").to_string();
    let mut body = r.bytes_stream();
    let mut seen = 0;
    while seen < 3 {
        seen += body.next().await.expect("stream open").unwrap().windows(6).filter(|w| w == b"data: ").count();
    }
    let left = Instant::now();
    drop(body);
    assert!(up.wait_for_aborts(1, Duration::from_secs(2)).await, "upstream never saw the abort");
    let abort = *up.aborts().last().unwrap();
    let delay = abort.saturating_duration_since(left);
    assert!(delay <= Duration::from_millis(100), "upstream cancelled after {delay:?}");
    let rec = record(gw.data_dir(), &id).await;
    assert_eq!((rec.outcome.as_str(), rec.status), ("client_disconnected", 200));
}

#[tokio::test]
async fn upstream_cut_mid_stream_ends_with_an_error_event() {
    let body = openai_stream(&["one ", "two ", "three ", "four"], true);
    let first = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"one \"},\"finish_reason\":null}]}\n\n";
    let error = "data: {\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\"}}\n\n";
    let up = FakeUpstream::start(vec![
        // The connection breaks after three events.
        Reply::drop_after_events(3, body),
        // A 200 whose stream then reports an error (Anthropic-style overload).
        Reply::sse(format!("{first}{error}")),
        // A clean close of the connection, but no finish_reason and no [DONE].
        Reply::sse(first),
    ])
    .await;
    let gw = gateway(&up.base_url()).await;
    for expected_code in ["upstream_interrupted", "upstream_overloaded", "upstream_interrupted"] {
        let r = post(&gw, &stream_body("support-bot", Some(true))).await;
        assert_eq!(r.status(), 200);
        let id = header(&r, "x-request-id").to_string();
        let events = sse_data(&r.text().await.unwrap());
        assert!(!events.iter().any(|e| e == "[DONE]"), "a cut stream never claims completion: {events:?}");
        let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
        assert_eq!(last["error"]["code"], expected_code, "{events:?}");
        let rec = record(gw.data_dir(), &id).await;
        assert_eq!(rec.outcome, "incomplete");
    }
}

#[tokio::test]
async fn a_stall_after_the_first_chunk_is_ended_by_the_total_deadline() {
    let up = FakeUpstream::start(vec![Reply::stall_after_events(2, openai_stream(&["a ", "b"], true))]).await;
    let extra = "  tight:\n    targets: [ { provider: up, model: m } ]\n    timeouts: { first_token: 1s, total: 1500ms }\n";
    let gw = switchyard_testkit::GatewayProcess::spawn(bin(), &config(&up.base_url(), extra)).await;
    let started = Instant::now();
    let r = post(&gw, &stream_body("tight", None)).await;
    let events = sse_data(&r.text().await.unwrap());
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_timeout");
    assert!(up.wait_for_aborts(1, Duration::from_secs(2)).await, "the stalled upstream call was dropped");
}

#[tokio::test]
async fn a_failure_before_the_first_chunk_is_an_http_error() {
    let up = FakeUpstream::start(vec![Reply::openai_error(503, "overloaded", "server_error", "overloaded")]).await;
    let gw = gateway(&up.base_url()).await;
    let r = post(&gw, &stream_body("support-bot", None)).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "upstream_overloaded");
}

#[tokio::test]
async fn client_leaving_before_the_answer_cancels_the_upstream_within_100ms() {
    for stream in [false, true] {
        let up = FakeUpstream::start(vec![Reply::StallBeforeHeaders]).await;
        let gw = gateway(&up.base_url()).await;
        let mut body = chat("support-bot", "x");
        body["stream"] = json!(stream);
        let quick = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
        let sent = tokio::spawn(quick.post(format!("{}/chat/completions", gw.base_url())).json(&body).send());
        assert!(up.wait_for_requests(1, Duration::from_secs(2)).await);
        assert!(sent.await.unwrap().is_err(), "the client gave up");
        let left = Instant::now();
        assert!(up.wait_for_aborts(1, Duration::from_secs(2)).await, "stream={stream}: upstream never saw the abort");
        let delay = up.aborts()[0].saturating_duration_since(left);
        assert!(delay <= Duration::from_millis(100), "stream={stream}: upstream cancelled after {delay:?}");
        let rec = records(gw.data_dir(), 1).await;
        assert_eq!((rec[0].outcome.as_str(), rec[0].status), ("client_disconnected", 499), "stream={stream}");
    }
}

/// Three content events, no usage: what a cut stream delivered before it stopped.
fn cut_body() -> bytes::Bytes {
    openai_stream(&["one two ", "three four ", "five six ", "seven"], false)
}

#[tokio::test]
async fn a_stream_cut_midway_logs_what_was_delivered_and_why() {
    let up = FakeUpstream::start(vec![
        // Role and two content events, then the connection breaks.
        Reply::drop_after_events(3, cut_body()),
        // Role and two content events, then silence past the idle timeout.
        Reply::stall_after_events(3, cut_body()),
        // Role and two content events, then silence while the client leaves.
        Reply::stall_after_events(3, cut_body()),
    ])
    .await;
    let extra =
        "  idle:\n    targets: [ { provider: up, model: gpt-4o-mini } ]\n    timeouts: { first_token: 2s, total: 10s, idle: 300ms }\n";
    let gw = switchyard_testkit::GatewayProcess::spawn(bin(), &config(&up.base_url(), extra)).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = post(&gw, &stream_body("idle", None)).await;
        ids.push(header(&r, "x-request-id").to_string());
        let events = sse_data(&r.text().await.unwrap());
        assert!(events.iter().any(|e| e.contains("three four")), "{events:?}");
    }
    let r = post(&gw, &stream_body("idle", None)).await;
    ids.push(header(&r, "x-request-id").to_string());
    let mut body = r.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("three four") {
        seen.push_str(&String::from_utf8_lossy(&body.next().await.expect("stream open").unwrap()));
    }
    drop(body);

    for (id, outcome, reason) in [
        (&ids[0], "incomplete", "interrupted"),
        (&ids[1], "incomplete", "idle_timeout"),
        (&ids[2], "client_disconnected", "client_disconnected"),
    ] {
        let rec = record(gw.data_dir(), id).await;
        assert_eq!((rec.outcome.as_str(), rec.status), (outcome, 200), "{reason}");
        let trail: Vec<Option<&str>> = rec.attempt_log.iter().map(|a| a.error.map(|e| e.as_str())).collect();
        assert_eq!(trail, [Some(reason)], "the serving attempt says why its stream stopped");
        // "one two three four " was delivered: counted (BPE or characters / 4), never 0, and
        // billed with the prompt's estimate since the upstream never reported usage.
        assert!((4..=6).contains(&rec.output_tokens), "{reason}: output_tokens {}", rec.output_tokens);
        assert!(rec.input_tokens > 0, "{reason}");
        assert_eq!(rec.cost_source.as_deref(), Some("usage_estimated"), "{reason}");
        assert!(rec.cost_usd.is_some_and(|c| c > 0.0), "{reason}");
    }
}
