//! Proves the fake upstream answers, splits, fails and notices disconnects as documented.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::*;
use crate::fixtures::{fixture_bytes, fixture_reply};
use crate::openai::{openai_completion, openai_stream};
use crate::reply::Split;

fn client() -> reqwest::Client {
    reqwest::Client::builder().build().expect("reqwest client")
}

/// Reads the body piece by piece as the client receives it.
async fn body_pieces(response: reqwest::Response) -> Result<Vec<Bytes>, reqwest::Error> {
    let mut stream = response.bytes_stream();
    let mut pieces = Vec::new();
    while let Some(piece) = stream.next().await {
        pieces.push(piece?);
    }
    Ok(pieces)
}

#[tokio::test]
async fn scripted_replies_come_in_order_then_the_last_repeats() {
    let fake = FakeUpstream::start(vec![
        Reply::json(openai_completion("first", 3, 1)),
        Reply::openai_error(429, "slow down", "rate_limit_error", "rate_limit_exceeded").with_header("Retry-After", "2"),
        Reply::json(openai_completion("last", 3, 1)),
    ])
    .await;
    let url = format!("{}/chat/completions?api-version=1", fake.base_url());
    let mut seen = Vec::new();
    for i in 0..4 {
        let response = client()
            .post(&url)
            .header("authorization", "Bearer sk-test")
            .json(&serde_json::json!({ "model": "m", "n": i }))
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().expect("ascii").to_owned());
        let body: Value = response.json().await.expect("json body");
        seen.push((status, retry_after, body));
    }
    assert_eq!(seen[0].0, 200);
    assert_eq!(seen[0].2["choices"][0]["message"]["content"], "first");
    assert_eq!((seen[1].0, seen[1].1.as_deref()), (429, Some("2")));
    assert_eq!(seen[2].2["choices"][0]["message"]["content"], "last");
    assert_eq!(seen[3].2["choices"][0]["message"]["content"], "last");

    let requests = fake.requests();
    assert_eq!(fake.request_count(), 4);
    assert_eq!(fake.request_started().len(), 4);
    assert_eq!(requests[1].method, "POST");
    assert_eq!(requests[1].path, "/v1/chat/completions");
    assert_eq!(requests[1].query.as_deref(), Some("api-version=1"));
    assert_eq!(requests[1].header("Authorization"), Some("Bearer sk-test"));
    assert_eq!(requests[1].json()["n"], 1);
}

#[tokio::test]
async fn models_path_is_served_too() {
    let fake = FakeUpstream::start_repeating(Reply::json(r#"{"object":"list","data":[]}"#)).await;
    let response = client().get(format!("{}/models", fake.base_url())).send().await.expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(fake.last_request().method, "GET");
    assert_eq!(fake.last_request().path, "/v1/models");
}

#[tokio::test]
async fn sse_arrives_one_event_per_piece_and_byte_exact() {
    let body = fixture_bytes("openai/text-stream.sse");
    let fake = FakeUpstream::start(vec![
        Reply::sse(body.clone()).pace(Duration::from_millis(20)),
        Reply::sse(body.clone()).split(Split::EveryNBytes(97)).pace(Duration::from_millis(1)),
    ])
    .await;

    let response = client().post(format!("{}/chat/completions", fake.base_url())).send().await.expect("send");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let pieces = body_pieces(response).await.expect("clean body");
    assert_eq!(pieces.concat(), body.to_vec());
    // The pause between writes keeps them apart on the wire, so each read is one event.
    assert_eq!(pieces.len(), crate::reply::split_events(&body).len());
    assert!(pieces.iter().all(|p| p.ends_with(b"\n\n")));

    let response = client().post(format!("{}/chat/completions", fake.base_url())).send().await.expect("send");
    let pieces = body_pieces(response).await.expect("clean body");
    assert_eq!(pieces.concat(), body.to_vec());
    assert!(pieces.len() > 10, "byte-split body arrived in {} reads", pieces.len());
    assert!(fake.aborts().is_empty(), "a completed stream is not an abort");
}

#[tokio::test]
async fn chunks_fixture_is_reframed_as_sse() {
    let fake = FakeUpstream::start_repeating(fixture_reply("azure/reasoning-content-stream.chunks.jsonl")).await;
    let text = client().post(fake.base_url()).send().await.expect("send").text().await.expect("body");
    assert!(text.starts_with("data: {\"id\":\"7334c29da064437e9d158710cdefbae6\""));
    assert!(text.ends_with("}\n\ndata: [DONE]\n\n"));
}

#[tokio::test]
async fn drop_after_events_ends_the_body_with_an_error() {
    let fake = FakeUpstream::start_repeating(Reply::drop_after_events(2, openai_stream(&["Hel", "lo"], true))).await;
    let response = client().post(format!("{}/chat/completions", fake.base_url())).send().await.expect("send");
    assert_eq!(response.status(), 200, "the head is sent before the failure");
    let mut stream = response.bytes_stream();
    let mut received = Vec::new();
    let error = loop {
        match stream.next().await {
            Some(Ok(piece)) => received.extend_from_slice(&piece),
            Some(Err(err)) => break err,
            None => panic!("body ended cleanly after {:?}", String::from_utf8_lossy(&received)),
        }
    };
    assert!(error.is_body() || error.is_decode(), "unexpected error kind: {error:?}");
    assert_eq!(String::from_utf8_lossy(&received).matches("\n\n").count(), 2);
    assert!(fake.aborts().is_empty(), "the fake's own failure is not a client abort");
}

#[tokio::test]
async fn abort_is_recorded_when_the_client_drops_a_stalled_stream() {
    let fake = FakeUpstream::start_repeating(Reply::stall_after_events(1, openai_stream(&["a"], false))).await;
    let response = client().post(format!("{}/chat/completions", fake.base_url())).send().await.expect("send");
    let mut stream = response.bytes_stream();
    let first = stream.next().await.expect("one event").expect("readable");
    assert!(first.ends_with(b"\n\n"));
    assert_abort_seen_within_100ms(&fake, stream).await;
}

#[tokio::test]
async fn abort_is_recorded_when_the_client_drops_a_paced_stream() {
    let body = openai_stream(&["a", "b", "c", "d", "e", "f"], true);
    let fake = FakeUpstream::start_repeating(Reply::sse(body).pace(Duration::from_millis(500))).await;
    let response = client().post(format!("{}/chat/completions", fake.base_url())).send().await.expect("send");
    let mut stream = response.bytes_stream();
    stream.next().await.expect("one event").expect("readable");
    assert_abort_seen_within_100ms(&fake, stream).await;
}

#[tokio::test]
async fn abort_is_recorded_when_the_client_gives_up_before_headers() {
    let fake = FakeUpstream::start_repeating(Reply::StallBeforeHeaders).await;
    let request = client().post(format!("{}/chat/completions", fake.base_url())).body("{}").send();
    let timed_out = tokio::time::timeout(Duration::from_millis(200), request).await;
    assert!(timed_out.is_err(), "a stalled upstream must not answer");
    let dropped_at = Instant::now();
    assert!(fake.wait_for_aborts(1, Duration::from_secs(2)).await, "no abort recorded");
    assert!(fake.last_abort_within(dropped_at, Duration::from_millis(100)), "abort too late: {:?}", fake.aborts());
    assert_eq!(fake.request_count(), 1, "the request was recorded before stalling");
}

#[tokio::test]
async fn delay_waits_before_answering() {
    let fake = FakeUpstream::start_repeating(Reply::json("{}").delayed(Duration::from_millis(150))).await;
    let sent = Instant::now();
    let response = client().get(fake.base_url()).send().await.expect("send");
    assert_eq!(response.status(), 200);
    assert!(sent.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn dropping_the_fake_releases_stalled_clients() {
    let fake = FakeUpstream::start_repeating(Reply::StallBeforeHeaders).await;
    let url = fake.base_url();
    let request = tokio::spawn(async move { client().get(url).send().await.map(|r| r.status().as_u16()) });
    assert!(fake.wait_for_requests(1, Duration::from_secs(2)).await);
    drop(fake);
    let outcome = tokio::time::timeout(Duration::from_secs(2), request).await.expect("released").expect("task");
    assert!(matches!(outcome, Ok(503) | Err(_)), "{outcome:?}");
}

/// Drops what keeps the connection open and checks that the fake records the abort in time.
async fn assert_abort_seen_within_100ms<T>(fake: &FakeUpstream, connection: T) {
    let dropped_at = Instant::now();
    drop(connection);
    assert!(fake.wait_for_aborts(1, Duration::from_secs(2)).await, "no abort recorded");
    assert!(fake.last_abort_within(dropped_at, Duration::from_millis(100)), "abort too late: {:?}", fake.aborts());
}
