//! InvokeModel tests: a Messages request for Claude on Bedrock reaches `/invoke` (or
//! `/invoke-with-response-stream`) as the client wrote it, and Anthropic's recorded answers,
//! framed as Bedrock frames them, come out exactly as the Anthropic adapter reads them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use futures_util::StreamExt;
use serde_json::{json, Value};
use switchyard_protocol::openai::ChatRequest;
use switchyard_protocol::sse::{SseEvent, SseParser};
use switchyard_testkit::{fixture_bytes, FakeUpstream, Reply, Split};

use super::invoke::{is_anthropic, InvokeEvents};
use super::stream::EventStreamDecoder;
use super::tests::exception_frame;
use super::*;
use crate::anthropic::stream::AnthropicDecoder;
use crate::sse_stream::{Decoded, EventDecoder};
use crate::Chunk;

const CLAUDE: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
const CLAUDE_PATH: &str = "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0";

fn config(base: &str) -> BedrockConfig {
    BedrockConfig {
        base_url: Some(base.to_string()),
        region: Some("us-west-2".into()),
        access_key_id: Some(Secret::new("AKIDEXAMPLE")),
        secret_access_key: Some(Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")),
        ..BedrockConfig::default()
    }
}

fn provider(base: &str) -> Bedrock {
    Bedrock::with_env("bedrock", &config(base), &|_| None).expect("provider")
}

/// A Messages request as the gateway's Messages endpoint decodes it: translated, with the
/// original riding along.
fn messages_request(body: &str, beta: Option<&str>) -> ChatRequest {
    let mut request = ChatRequest::parse(&switchyard_protocol::anthropic::to_chat(body.as_bytes()).unwrap()).unwrap();
    request.set_native(switchyard_protocol::anthropic::native(body.as_bytes()).unwrap());
    request.set_native_beta(beta.map(str::to_string));
    request
}

/// A client body with what only the Messages API has (`cache_control`, `metadata`), spacing the
/// gateway must keep, and the `stream` flag InvokeModel refuses.
fn client_body(stream: bool) -> String {
    format!(
        r#"{{"model": "claude-sonnet-4-0", "max_tokens": 1024, "system": [{{"type": "text", "text": "Be brief.", "cache_control": {{"type": "ephemeral"}}}}], "messages": [{{"role": "user", "content": "What is 4200 + 42?"}}], "metadata": {{"user_id": "u-1"}}, "stream": {stream}}}"#
    )
}

/// What Bedrock must get for `client_body`: the same bytes, without `model` and `stream`, with
/// the version and the client's betas.
const SENT: &str = r#"{"max_tokens":1024,"system":[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],"messages":[{"role": "user", "content": "What is 4200 + 42?"}],"metadata":{"user_id": "u-1"},"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["context-1m-2025-08-07","interleaved-thinking-2025-05-14"]}"#;

/// `x-amz-date` (`20150830T123600Z`) as a time.
fn amz_time(s: &str) -> SystemTime {
    let n = |at: usize, len: usize| s[at..at + len].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(4, 2), n(6, 2));
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    UNIX_EPOCH + Duration::from_secs((days * 86_400 + n(9, 2) * 3600 + n(11, 2) * 60 + n(13, 2)) as u64)
}

fn without_created(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("created");
    v
}

#[test]
fn anthropic_models_are_told_by_their_id() {
    for model in [
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        CLAUDE,
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "apac.anthropic.claude-3-7-sonnet-20250219-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-1-20250805-v1:0",
    ] {
        assert!(is_anthropic(model), "{model}");
    }
    for model in ["amazon.nova-micro-v1:0", "us.meta.llama3-2-1b-instruct-v1:0", "anthropicx.claude", "amazon.anthropic-lookalike"] {
        assert!(!is_anthropic(model), "{model}");
    }
}

#[tokio::test]
async fn a_messages_request_reaches_invoke_as_sent_and_the_answer_reads_as_anthropic_s() {
    let upstream = FakeUpstream::start(vec![Reply::json(fixture_bytes("anthropic/text.json"))]).await;
    let base = format!("http://{}", upstream.addr());
    let p = provider(&base);
    let request = messages_request(&client_body(false), Some("context-1m-2025-08-07, interleaved-thinking-2025-05-14"));
    let ChatResponse::Complete { body, usage } = p.chat(&request, CLAUDE).await.unwrap() else { panic!("expected a whole answer") };
    let sent = upstream.last_request();
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", format!("{CLAUDE_PATH}/invoke").as_str()));
    assert_eq!(sent.body_str(), SENT);
    // Signed over the InvokeModel path: the same request signed at the same time gives the same signature.
    let url = reqwest::Url::parse(&format!("{base}{CLAUDE_PATH}/invoke")).unwrap();
    let signed = p.auth.headers(&url, SENT.as_bytes(), amz_time(sent.header("x-amz-date").unwrap())).unwrap();
    let authorization = signed.iter().find(|(n, _)| n == http::header::AUTHORIZATION).unwrap().1.to_str().unwrap();
    assert_eq!(sent.header("authorization"), Some(authorization));
    // Exactly what the Anthropic adapter makes of the same body.
    let Ok(ChatResponse::Complete { body: want, usage: want_usage }) =
        crate::anthropic::complete_answer("bedrock", &fixture_bytes("anthropic/text.json"))
    else {
        panic!("the recorded answer reads")
    };
    let got: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(without_created(got.clone()), without_created(serde_json::from_slice(&want).unwrap()));
    assert_eq!(usage, want_usage);
    assert_eq!(
        (got["choices"][0]["message"]["content"].as_str(), got["id"].as_str()),
        (Some("4200 + 42 = 4242"), Some("msg_01EXuhhFC9buDpjCcznFPSDs"))
    );
}

/// `event` as InvokeModelWithResponseStream sends it: a `chunk` event whose payload carries the
/// Anthropic event base64-encoded (and, as Bedrock does, a padding field to ignore).
fn chunk_frame(event: &[u8]) -> Vec<u8> {
    let payload = json!({"bytes": aws_smithy_types::base64::encode(event), "p": "abcdefghijklmn"});
    let frame = Message::new(payload.to_string())
        .add_header(Header::new(":event-type", HeaderValue::String("chunk".into())))
        .add_header(Header::new(":content-type", HeaderValue::String("application/json".into())))
        .add_header(Header::new(":message-type", HeaderValue::String("event".into())));
    let mut out = Vec::new();
    write_message_to(&frame, &mut out).unwrap();
    out
}

fn sse_events(rel: &str) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    parser.feed(&fixture_bytes(rel), &mut events);
    parser.finish(&mut events);
    events
}

/// A recorded Anthropic stream as Bedrock streams it; Bedrock's `message_stop` also carries its
/// invocation metrics.
fn invoke_stream(rel: &str) -> Vec<u8> {
    sse_events(rel)
        .iter()
        .flat_map(|e| {
            let data = String::from_utf8(e.data.to_vec()).unwrap();
            match data.contains("\"message_stop\"") {
                true => chunk_frame(
                    br#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":17,"outputTokenCount":15,"invocationLatency":900,"firstByteLatency":400}}"#,
                ),
                false => chunk_frame(data.as_bytes()),
            }
        })
        .collect()
}

/// The Anthropic decoder straight over the recorded SSE: (chunk JSON without `created`, usage-only).
fn reference(rel: &str) -> Vec<(Value, bool)> {
    let mut decoder = AnthropicDecoder::new("bedrock", CLAUDE, 0);
    let mut out = Vec::new();
    for event in sse_events(rel) {
        match decoder.decode(event).unwrap() {
            Decoded::Chunk(c) => out.push(c),
            Decoded::Chunks(cs) => out.extend(cs),
            Decoded::Skip | Decoded::Done => {}
        }
    }
    out.extend(decoder.on_eof().unwrap());
    out.iter().map(|c: &Chunk| (without_created(serde_json::from_slice(&c.data).unwrap()), c.usage_only)).collect()
}

#[tokio::test]
async fn a_streamed_messages_request_reads_as_the_anthropic_stream_it_carries() {
    for rel in ["anthropic/thinking-stream.sse", "anthropic/tool-call-parallel-stream.sse"] {
        let reply =
            Reply::json(invoke_stream(rel)).with_header("content-type", "application/vnd.amazon.eventstream").split(Split::EveryNBytes(23));
        let upstream = FakeUpstream::start(vec![reply]).await;
        let p = provider(&format!("http://{}", upstream.addr()));
        let request = messages_request(&client_body(true), Some("context-1m-2025-08-07,interleaved-thinking-2025-05-14"));
        let ChatResponse::Stream(stream) = p.chat(&request, CLAUDE).await.unwrap() else { panic!("expected a stream") };
        let got: Vec<(Value, bool)> =
            stream.map(|c| c.unwrap()).map(|c| (without_created(serde_json::from_slice(&c.data).unwrap()), c.usage_only)).collect().await;
        let sent = upstream.last_request();
        assert_eq!(sent.path, format!("{CLAUDE_PATH}/invoke-with-response-stream"), "{rel}");
        assert_eq!(sent.body_str(), SENT, "no `stream` field: {rel}");
        let want = reference(rel);
        assert!(want.len() > 5, "{rel}");
        assert_eq!(got, want, "{rel}");
    }
}

fn decode(body: &[u8]) -> Vec<Result<Chunk, ProviderError>> {
    let events = InvokeEvents::new("bedrock", AnthropicDecoder::new("bedrock", CLAUDE, 0));
    let mut decoder = EventStreamDecoder::new("bedrock", Arc::new(KeyRing::default()), events);
    let mut out = VecDeque::new();
    decoder.push(body, &mut out);
    decoder.end(&mut out);
    out.into()
}

#[test]
fn exceptions_errors_and_cuts_end_the_stream_with_a_classified_error() {
    let events = sse_events("anthropic/thinking-stream.sse");
    let head: Vec<u8> = events[..3].iter().flat_map(|e| chunk_frame(&e.data)).collect();
    let whole = decode(&head);
    assert_eq!(whole.len(), 2 + 1, "the role, one thinking fragment, then the error: {whole:?}");
    assert_eq!(whole.last().unwrap().as_ref().unwrap_err().kind, ErrorKind::Interrupted);
    for (kind, expected) in [
        ("throttlingException", ErrorKind::RateLimited),
        ("serviceUnavailableException", ErrorKind::Overloaded),
        ("modelStreamErrorException", ErrorKind::Server),
        ("modelTimeoutException", ErrorKind::Timeout),
        ("validationException", ErrorKind::BadRequest),
    ] {
        let mut body = head.clone();
        body.extend(exception_frame(kind, "Too many requests, please wait before trying again."));
        let out = decode(&body);
        assert_eq!(out.len(), 2 + 1, "{kind}");
        let err = out.last().unwrap().as_ref().unwrap_err();
        assert_eq!((err.kind, err.message.as_str()), (expected, "Too many requests, please wait before trying again."), "{kind}");
    }
    // Anthropic's own in-stream error, carried in a chunk.
    let mut body = head.clone();
    body.extend(chunk_frame(br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#));
    assert_eq!(decode(&body).last().unwrap().as_ref().unwrap_err().kind, ErrorKind::Overloaded);
    // A chunk that is not one.
    for payload in [r#"{"bytes":"not base64!"}"#, r#"{"byte":"e30="}"#] {
        let frame = Message::new(payload.to_string())
            .add_header(Header::new(":event-type", HeaderValue::String("chunk".into())))
            .add_header(Header::new(":message-type", HeaderValue::String("event".into())));
        let mut body = head.clone();
        write_message_to(&frame, &mut body).unwrap();
        assert_eq!(decode(&body).last().unwrap().as_ref().unwrap_err().kind, ErrorKind::Malformed, "{payload}");
    }
}

#[tokio::test]
async fn http_errors_on_invoke_are_classified_as_bedrock_s() {
    let reply = Reply::json_status(400, r#"{"message":"messages.0.content: Field required"}"#)
        .with_header("x-amzn-errortype", "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/");
    let upstream = FakeUpstream::start(vec![reply]).await;
    let err =
        provider(&format!("http://{}", upstream.addr())).chat(&messages_request(&client_body(false), None), CLAUDE).await.err().unwrap();
    assert_eq!((err.kind, err.message.as_str()), (ErrorKind::BadRequest, "messages.0.content: Field required"));
    assert_eq!(upstream.last_request().path, format!("{CLAUDE_PATH}/invoke"));
}

#[tokio::test]
async fn other_models_and_translated_requests_still_use_converse() {
    let upstream =
        FakeUpstream::start(vec![Reply::json(fixture_bytes("bedrock/text.json")), Reply::json(fixture_bytes("bedrock/text.json"))]).await;
    let p = provider(&format!("http://{}", upstream.addr()));
    // A Messages request for a model that is not Anthropic's is translated.
    p.chat(&messages_request(&client_body(false), None), "amazon.nova-micro-v1:0").await.unwrap();
    let sent = upstream.last_request();
    assert_eq!(sent.path, "/model/amazon.nova-micro-v1%3A0/converse");
    assert!(serde_json::from_slice::<Value>(&sent.body).unwrap()["messages"][0]["content"][0]["text"].is_string());
    // A Chat Completions request for Claude is translated too.
    let chat =
        ChatRequest::parse(json!({"model": CLAUDE, "messages": [{"role": "user", "content": "hi"}]}).to_string().as_bytes()).unwrap();
    p.chat(&chat, CLAUDE).await.unwrap();
    let sent = upstream.last_request();
    assert_eq!(sent.path, format!("{CLAUDE_PATH}/converse"));
    assert!(!sent.body_str().contains("anthropic_version"));
}
