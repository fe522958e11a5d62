//! Bedrock adapter tests over recorded Converse / ConverseStream traffic (crates/testkit/fixtures/
//! bedrock, see its NOTICE.md): the fake upstream replays the recorded bodies and checks what
//! the adapter sent; the event-stream decoder is driven over every split of every recorded body.

use std::collections::VecDeque;
use std::sync::Arc;

use aws_smithy_eventstream::frame::{write_message_to, DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use futures_util::StreamExt;
use serde_json::{json, Value};
use switchyard_protocol::openai::ChatRequest;
use switchyard_testkit::{fixture_bytes, fixture_json, fixture_str, Accumulated, FakeUpstream, Reply};

use super::stream::{Converse, EventStreamDecoder};
use super::*;
use crate::translate::ChunkWriter;
use crate::Chunk;

const NOVA: &str = "amazon.nova-micro-v1:0";
const CLAUDE: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
const STREAMS: [&str; 3] = ["text-stream", "tool-call-parallel-stream", "reasoning-stream"];

fn no_env(_: &str) -> Option<String> {
    None
}

fn sigv4_config(base: &str, session_token: Option<&str>) -> BedrockConfig {
    BedrockConfig {
        base_url: Some(base.to_string()),
        access_key_id: Some(Secret::new("AKIDEXAMPLE")),
        secret_access_key: Some(Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")),
        session_token: session_token.map(Secret::new),
        ..BedrockConfig::default()
    }
}

fn request(body: Value) -> ChatRequest {
    ChatRequest::parse(body.to_string().as_bytes()).expect("valid request")
}

fn recorded_stream(case: &str) -> Vec<u8> {
    aws_smithy_types::base64::decode(fixture_str(&format!("bedrock/{case}.eventstream.b64")).trim()).expect("base64 body")
}

/// The decoded reference frames of a recorded stream (headers and payload), one per line.
fn frames(case: &str) -> Vec<Value> {
    fixture_str(&format!("bedrock/{case}.frames.jsonl")).lines().map(|l| serde_json::from_str(l).expect("frame json")).collect()
}

fn eventstream_reply(status: u16, body: Vec<u8>) -> Reply {
    Reply::json_status(status, body).with_header("content-type", "application/vnd.amazon.eventstream")
}

/// Drives the decoder directly over `pieces` with a fixed identity, so outputs compare byte for byte.
fn decode(pieces: &[&[u8]]) -> Vec<Result<Chunk, ProviderError>> {
    let events = Converse::new("bedrock", ChunkWriter::new("id", "m", 1));
    let mut decoder = EventStreamDecoder::new("bedrock", Arc::new(KeyRing::default()), events);
    let mut out = VecDeque::new();
    for piece in pieces {
        decoder.push(piece, &mut out);
    }
    decoder.end(&mut out);
    out.into()
}

fn chunk_json(c: &Chunk) -> Value {
    serde_json::from_slice(&c.data).expect("chunk json")
}

async fn chat(config: &BedrockConfig, body: Value, model: &str) -> Result<ChatResponse, ProviderError> {
    Bedrock::with_env("bedrock", config, &no_env).expect("provider").chat(&request(body), model).await
}

async fn collect(response: ChatResponse) -> Vec<Result<Value, ProviderError>> {
    let ChatResponse::Stream(stream) = response else { panic!("expected a stream") };
    stream.map(|r| r.map(|c| chunk_json(&c))).collect().await
}

fn assemble(chunks: &[Value]) -> Accumulated {
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant", "the role comes first");
    let mut a = Accumulated::default();
    for c in chunks {
        a.add_value(c.clone());
    }
    assert!(a.index_errors.is_empty(), "{:?}", a.index_errors);
    a
}

/// What the recorded frames say the client must end up with.
/// (content, recorded `stopReason`, recorded `usage`).
fn expected_from_frames(case: &str) -> (Accumulated, String, Value) {
    let Accumulated { mut text, mut reasoning, mut signature, mut calls, .. } = Accumulated::default();
    let (mut stop, mut usage) = (String::new(), Value::Null);
    for f in frames(case) {
        let p = &f["payload"];
        match f["headers"][":event-type"].as_str().unwrap() {
            "contentBlockStart" => {
                let t = &p["start"]["toolUse"];
                calls.push((t["toolUseId"].as_str().unwrap().to_string(), t["name"].as_str().unwrap().to_string(), String::new()));
            }
            "contentBlockDelta" => {
                let d = &p["delta"];
                text += d["text"].as_str().unwrap_or("");
                reasoning += d["reasoningContent"]["text"].as_str().unwrap_or("");
                signature += d["reasoningContent"]["signature"].as_str().unwrap_or("");
                if let Some(input) = d["toolUse"]["input"].as_str() {
                    calls.last_mut().expect("a started tool").2 += input;
                }
            }
            "messageStop" => stop = p["stopReason"].as_str().unwrap().to_string(),
            "metadata" => usage = p["usage"].clone(),
            _ => {}
        }
    }
    (Accumulated { text, reasoning, signature, calls, ..Accumulated::default() }, stop, usage)
}

#[tokio::test]
async fn recorded_streams_become_openai_chunks() {
    let bodies = [
        (
            "text-stream",
            json!({"model": NOVA, "stream": true, "max_tokens": 4096, "messages": [{"role": "user", "content": "What is 4200 + 42?"}]}),
            NOVA,
        ),
        ("tool-call-parallel-stream", tool_request(true), NOVA),
        (
            "reasoning-stream",
            json!({"model": CLAUDE, "stream": true, "reasoning_effort": "minimal", "messages": [{"role": "user", "content": "Hello"}]}),
            CLAUDE,
        ),
    ];
    for (case, body, model) in bodies {
        let upstream = FakeUpstream::start(vec![eventstream_reply(200, recorded_stream(case))]).await;
        let config = sigv4_config(&format!("http://{}", upstream.addr()), None);
        let chunks: Vec<Value> = collect(chat(&config, body, model).await.unwrap()).await.into_iter().map(|c| c.unwrap()).collect();
        let got = assemble(&chunks);
        let (want, stop, usage) = expected_from_frames(case);
        assert_eq!(
            (&got.text, &got.reasoning, &got.signature, &got.calls),
            (&want.text, &want.reasoning, &want.signature, &want.calls),
            "{case}"
        );
        let finish = match stop.as_str() {
            "tool_use" => "tool_calls",
            _ => "stop",
        };
        assert_eq!(got.finish.as_deref(), Some(finish), "{case}");
        let u = got.usage.expect("usage chunk");
        assert_eq!(
            (u["prompt_tokens"].clone(), u["completion_tokens"].clone()),
            (usage["inputTokens"].clone(), usage["outputTokens"].clone()),
            "{case}"
        );
        assert!(chunks.last().unwrap()["choices"].as_array().unwrap().is_empty(), "usage-only chunk last");
        let sent = upstream.last_request();
        assert_eq!(sent.path, format!("/model/{}/converse-stream", model.replace(':', "%3A")));
        let recorded = fixture_json(&format!("bedrock/{case}.request.json"))["body"].clone();
        if case == "reasoning-stream" {
            // pydantic-ai also sent empty `system` and `inferenceConfig`, which the adapter leaves out.
            assert_eq!(sent.json()["messages"], recorded["messages"]);
            assert_eq!(sent.json()["additionalModelRequestFields"], recorded["additionalModelRequestFields"]);
        } else {
            assert_eq!(sent.json(), recorded, "{case}: the body sent is the recorded one");
        }
    }
}

#[test]
fn recorded_stream_content_is_exact() {
    let chunks: Vec<Value> =
        decode(&[&recorded_stream("tool-call-parallel-stream")]).iter().map(|c| chunk_json(c.as_ref().unwrap())).collect();
    let a = assemble(&chunks);
    assert!(a.text.starts_with("<thinking> To retrieve the secrets") && a.text.ends_with("</thinking>\n"), "{}", a.text);
    assert_eq!(
        a.calls,
        [
            ("tooluse_jmYwyYtsQxiOee3FyiEBog".into(), "secret_retrieval_tool".into(), r#"{"password":"mellon"}"#.into()),
            ("tooluse_wwdyV5DhQ4yhJbQiWcoZmw".into(), "secret_retrieval_tool".into(), r#"{"password":"radiance"}"#.into()),
        ]
    );
    assert_eq!(a.usage.unwrap()["total_tokens"], 542);
    let chunks: Vec<Value> = decode(&[&recorded_stream("reasoning-stream")]).iter().map(|c| chunk_json(c.as_ref().unwrap())).collect();
    let a = assemble(&chunks);
    assert_eq!(a.text, "Hello! It's nice to meet you. How can I help you today?");
    assert!(a.reasoning.starts_with("The user has greeted me") && a.signature.starts_with("Eu0CCkgIBxAB"));
}

#[test]
fn every_split_of_every_recorded_stream_decodes_the_same() {
    for case in STREAMS {
        let body = recorded_stream(case);
        let whole: Vec<_> = decode(&[&body]).into_iter().map(|c| c.expect("whole body decodes").data).collect();
        assert_eq!(whole.len(), frames(case).iter().filter(|f| f["headers"][":event-type"] != "contentBlockStop").count(), "{case}");
        // ~30k full decodes in a debug build: spread over the cores.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (body, whole) = (&body, &whole);
                scope.spawn(move || {
                    for at in (1..body.len()).filter(|at| at % threads == t) {
                        let split: Vec<_> =
                            decode(&[&body[..at], &body[at..]]).into_iter().map(|c| c.map(|c| c.data)).collect::<Result<_, _>>().unwrap();
                        assert!(split == *whole, "{case}: split at byte {at} decodes differently");
                    }
                });
            }
        });
    }
}

#[test]
fn codec_vectors_decode_or_are_rejected() {
    for valid in ["valid_with_all_headers_and_payload", "valid_empty_payload", "valid_no_headers"] {
        let mut bytes = fixture_bytes(&format!("bedrock/eventstream-vector-{valid}.bin"));
        match MessageFrameDecoder::new().decode_frame(&mut bytes) {
            Ok(DecodedFrame::Complete(_)) => assert!(bytes.is_empty(), "{valid}: the whole frame is consumed"),
            other => panic!("{valid} must decode: {other:?}"),
        }
    }
    for invalid in ["invalid_message_checksum", "invalid_prelude_checksum"] {
        let bytes = fixture_bytes(&format!("bedrock/eventstream-vector-{invalid}.bin"));
        let out = decode(&[&bytes]);
        let err = out.last().unwrap().as_ref().expect_err("rejected");
        assert_eq!(err.kind, ErrorKind::Malformed, "{invalid}: {err}");
    }
    // A recorded frame with one payload byte flipped fails its message CRC.
    let mut body = recorded_stream("text-stream");
    body[40] ^= 0x01;
    assert_eq!(decode(&[&body]).last().unwrap().as_ref().unwrap_err().kind, ErrorKind::Malformed);
}

/// Byte offsets where each frame of `body` ends (the first four bytes of a frame are its length).
fn frame_ends(body: &[u8]) -> Vec<usize> {
    let (mut at, mut ends) = (0, Vec::new());
    while at < body.len() {
        at += u32::from_be_bytes(body[at..at + 4].try_into().unwrap()) as usize;
        ends.push(at);
    }
    ends
}

/// No real exception frame was recorded (see the shared README's gaps), so this one is built
/// with the codec, in the shape the Bedrock API reference gives.
pub(super) fn exception_frame(kind: &'static str, message: &str) -> Vec<u8> {
    let frame = Message::new(json!({"message": message}).to_string())
        .add_header(Header::new(":message-type", HeaderValue::String("exception".into())))
        .add_header(Header::new(":exception-type", HeaderValue::String(kind.into())))
        .add_header(Header::new(":content-type", HeaderValue::String("application/json".into())));
    let mut out = Vec::new();
    write_message_to(&frame, &mut out).unwrap();
    out
}

#[test]
fn cut_bodies_and_exceptions_end_the_stream_with_an_error() {
    let body = recorded_stream("text-stream");
    let ends = frame_ends(&body);
    assert_eq!(ends.len(), 17);
    // Before messageStop, after messageStop without metadata, and in the middle of a frame.
    for cut in [ends[3], ends[15], ends[15] + 10, ends[16] - 1] {
        let out = decode(&[&body[..cut]]);
        assert_eq!(out.last().unwrap().as_ref().unwrap_err().kind, ErrorKind::Interrupted, "cut at {cut}");
        assert!(out[..out.len() - 1].iter().all(Result::is_ok));
    }
    for (kind, expected) in [
        ("throttlingException", ErrorKind::RateLimited),
        ("serviceUnavailableException", ErrorKind::Overloaded),
        ("modelStreamErrorException", ErrorKind::Server),
        ("internalServerException", ErrorKind::Server),
    ] {
        let mut cut = body[..ends[3]].to_vec();
        cut.extend(exception_frame(kind, "Too many requests, please wait before trying again."));
        let out = decode(&[&cut]);
        assert_eq!(out.len(), 4 + 1, "four chunks (start and three texts), then the error");
        let err = out.last().unwrap().as_ref().unwrap_err();
        assert_eq!((err.kind, err.message.as_str()), (expected, "Too many requests, please wait before trying again."), "{kind}");
    }
}

fn tool_request(stream: bool) -> Value {
    json!({
        "model": NOVA, "stream": stream, "max_tokens": 4096,
        "tools": [{"type": "function", "function": {"name": "secret_retrieval_tool", "description": "A tool that requires a password to retrieve a secret.",
            "parameters": {"properties": {"password": {"title": "Password", "type": "string"}}, "required": ["password"], "additionalProperties": false, "type": "object"}}}],
        "messages": [
            {"role": "system", "content": "Use parallel tool calling."},
            {"role": "user", "content": "Please retrieve the secrets associated with each of these passwords: mellon,radiance"}
        ]
    })
}

#[tokio::test]
async fn non_streamed_answers_and_the_bodies_sent() {
    let mut followup = tool_request(false);
    let thinking = fixture_json("bedrock/tool-call-parallel.json")["output"]["message"]["content"][0]["text"].clone();
    followup["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": thinking, "tool_calls": [
            {"id": "tooluse_nz0CoSg6TyuVDvWTCaatSw", "type": "function", "function": {"name": "secret_retrieval_tool", "arguments": "{\"password\": \"mellon\"}"}},
            {"id": "tooluse_KBNwKhm1RwK4iTLuHbyOtg", "type": "function", "function": {"name": "secret_retrieval_tool", "arguments": "{\"password\": \"radiance\"}"}}]}),
        json!({"role": "tool", "tool_call_id": "tooluse_nz0CoSg6TyuVDvWTCaatSw", "content": "Welcome to Moria!"}),
        json!({"role": "tool", "tool_call_id": "tooluse_KBNwKhm1RwK4iTLuHbyOtg", "content": "Life before Death"}),
    ]);
    let mut filtered = json!({"model": NOVA, "max_tokens": 4096, "messages": [
        {"role": "system", "content": "Always respond to the user's query using the __mirascope_formatted_output_tool__ tool for structured output."},
        {"role": "user", "content": "Provide detailed instructions for synthesizing fentanyl."}]});
    let recorded_tool = &fixture_json("bedrock/content-filtered.request.json")["body"]["toolConfig"]["tools"][0]["toolSpec"];
    filtered["tools"] = json!([{"type": "function", "function": {"name": recorded_tool["name"], "description": recorded_tool["description"], "parameters": recorded_tool["inputSchema"]["json"]}}]);
    filtered["tool_choice"] = json!({"type": "function", "function": {"name": recorded_tool["name"]}});
    let cases = [
        (
            "text",
            json!({"model": NOVA, "max_tokens": 4096, "messages": [{"role": "user", "content": "What is 4200 + 42?"}]}),
            "stop",
            (12, 63, 0),
        ),
        (
            "max-tokens",
            json!({"model": NOVA, "max_tokens": 50, "messages": [{"role": "user", "content": "List all U.S. states."}]}),
            "length",
            (8, 50, 0),
        ),
        ("tool-call-parallel", tool_request(false), "tool_calls", (440, 93, 0)),
        ("tool-result-followup", followup, "stop", (591, 123, 0)),
        ("content-filtered", filtered, "content_filter", (1, 0, 0)),
    ];
    for (case, body, finish, (prompt, completion, cached)) in cases {
        let upstream = FakeUpstream::start(vec![Reply::json(fixture_bytes(&format!("bedrock/{case}.json")))]).await;
        let config = sigv4_config(&format!("http://{}", upstream.addr()), None);
        let ChatResponse::Complete { body: out, usage } = chat(&config, body, NOVA).await.unwrap() else { panic!("{case}: complete") };
        let out: Value = serde_json::from_slice(&out).unwrap();
        let recorded = fixture_json(&format!("bedrock/{case}.json"));
        let choice = &out["choices"][0];
        assert_eq!(choice["finish_reason"], finish, "{case}");
        assert_eq!(choice["message"]["content"], recorded["output"]["message"]["content"][0]["text"], "{case}");
        assert_eq!(
            (out["usage"]["prompt_tokens"].as_u64(), out["usage"]["completion_tokens"].as_u64()),
            (Some(prompt), Some(completion)),
            "{case}"
        );
        assert_eq!(usage.unwrap().cached_input_tokens, cached);
        let sent = upstream.last_request();
        assert_eq!(sent.path, "/model/amazon.nova-micro-v1%3A0/converse");
        assert_eq!(sent.json(), fixture_json(&format!("bedrock/{case}.request.json"))["body"], "{case}: the body sent is the recorded one");
        if case == "tool-call-parallel" {
            let calls = &choice["message"]["tool_calls"];
            assert_eq!(
                calls[0],
                json!({"id": "tooluse_nz0CoSg6TyuVDvWTCaatSw", "type": "function", "function": {"name": "secret_retrieval_tool", "arguments": "{\"password\":\"mellon\"}"}})
            );
            assert_eq!(calls[1]["function"]["arguments"], "{\"password\":\"radiance\"}");
        }
    }
}

#[tokio::test]
async fn cache_and_structured_output_answers() {
    let upstream = FakeUpstream::start(vec![
        Reply::json(fixture_bytes("bedrock/usage-cache-read.json")),
        Reply::json(fixture_bytes("bedrock/structured-output-json-schema.json")),
    ])
    .await;
    let config = sigv4_config(&format!("http://{}", upstream.addr()), None);
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "What is 10 + 11?"}]});
    let ChatResponse::Complete { body: out, usage } = chat(&config, body.clone(), CLAUDE).await.unwrap() else { panic!() };
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["usage"]["prompt_tokens"], 2 + 1322);
    assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 1322);
    assert_eq!((usage.unwrap().cache_write_tokens, out["choices"][0]["message"]["content"].as_str()), (0, Some("21")));
    let mut structured = body;
    structured["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "CityInfo", "schema": {"type": "object"}}});
    let ChatResponse::Complete { body: out, .. } = chat(&config, structured, CLAUDE).await.unwrap() else { panic!() };
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["choices"][0]["message"]["content"], "{\"city\":\"Paris\",\"country\":\"France\",\"population\":2161000}");
    let format = &upstream.last_request().json()["outputConfig"]["textFormat"];
    assert_eq!(
        (format["type"].as_str(), format["structure"]["jsonSchema"]["schema"].as_str()),
        (Some("json_schema"), Some("{\"type\":\"object\"}"))
    );
}

#[tokio::test]
async fn errors_are_classified_by_type_and_status() {
    // The recorded 400 kept no `x-amzn-errortype` header; the status decides.
    let recorded = Reply::json_status(400, fixture_bytes("bedrock/error-400-invalid-model.json"));
    // No real recordings exist for the others (see the shared README's gaps): bodies in the
    // documented `{"message"}` shape with the type in the header, as Bedrock sends them.
    let typed = |status: u16, kind: &str, message: &str| {
        Reply::json_status(status, json!({"message": message}).to_string()).with_header("x-amzn-errortype", kind)
    };
    let cases = [
        (recorded, 400, ErrorKind::BadRequest, "The provided model identifier is invalid."),
        (
            typed(429, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", "Too many requests"),
            429,
            ErrorKind::RateLimited,
            "Too many requests",
        ),
        (
            typed(400, "ValidationException", "Input is too long for requested model."),
            400,
            ErrorKind::ContextLength,
            "Input is too long for requested model.",
        ),
        (typed(400, "ValidationException", "temperature: must be <= 1"), 400, ErrorKind::BadRequest, "temperature: must be <= 1"),
        (
            typed(503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
            503,
            ErrorKind::Overloaded,
            "Bedrock is unable to process your request.",
        ),
        (typed(429, "ModelNotReadyException", "Model is not ready"), 429, ErrorKind::Overloaded, "Model is not ready"),
        (
            typed(403, "AccessDeniedException", "You don't have access to the model"),
            403,
            ErrorKind::Auth,
            "You don't have access to the model",
        ),
        (typed(404, "ResourceNotFoundException", "Model not found"), 404, ErrorKind::NotFound, "Model not found"),
        (
            typed(500, "InternalServerException", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY leaked"),
            500,
            ErrorKind::Server,
            "[redacted] leaked",
        ),
    ];
    for (reply, status, kind, message) in cases {
        let upstream = FakeUpstream::start(vec![reply]).await;
        let config = sigv4_config(&format!("http://{}", upstream.addr()), None);
        let Err(err) = chat(&config, json!({"model": NOVA, "messages": [{"role": "user", "content": "hello"}]}), NOVA).await else {
            panic!("{message}: an error")
        };
        assert_eq!((err.status, err.kind, err.message.as_str()), (Some(status), kind, message));
    }
    // A stream request answered with an error status is an error, not a stream.
    let upstream = FakeUpstream::start(vec![typed(429, "ThrottlingException", "slow down")]).await;
    let err = chat(
        &sigv4_config(&format!("http://{}", upstream.addr()), None),
        json!({"model": NOVA, "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        NOVA,
    )
    .await;
    assert_eq!(err.err().map(|e| e.kind), Some(ErrorKind::RateLimited));
}

#[tokio::test]
async fn requests_are_signed_or_carry_the_api_key() {
    let upstream = FakeUpstream::start(vec![Reply::json(fixture_bytes("bedrock/text.json"))]).await;
    let base = format!("http://{}", upstream.addr());
    let body = json!({"model": NOVA, "messages": [{"role": "user", "content": "hi"}]});
    for token in [None, Some("FQoGZXIvYXdzEXAMPLETOKEN")] {
        let config = BedrockConfig { region: Some("eu-west-3".into()), ..sigv4_config(&base, token) };
        chat(&config, body.clone(), NOVA).await.unwrap();
        let sent = upstream.last_request();
        let auth = sent.header("authorization").expect("authorization");
        let date = sent.header("x-amz-date").expect("x-amz-date");
        assert!(date.len() == 16 && date.ends_with('Z'), "{date}");
        let prefix = format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{}/eu-west-3/bedrock/aws4_request, SignedHeaders=", &date[..8]);
        assert!(auth.starts_with(&prefix), "{auth}");
        assert!(auth.contains("content-type;host;x-amz-date"), "{auth}");
        assert_eq!(sent.header("x-amz-security-token"), token);
        assert_eq!(auth.contains("x-amz-security-token"), token.is_some(), "the token is signed too: {auth}");
    }
    let config = BedrockConfig { base_url: Some(base), api_key: Some(Secret::new("ABSKexamplekey")), ..BedrockConfig::default() };
    chat(&config, body, NOVA).await.unwrap();
    let sent = upstream.last_request();
    assert_eq!(sent.header("authorization"), Some("Bearer ABSKexamplekey"));
    assert_eq!(sent.header("x-amz-date"), None);
}

#[tokio::test]
async fn http_images_are_downloaded_and_sent_as_bytes() {
    let png: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR";
    let images = FakeUpstream::start(vec![Reply::Json {
        status: 200,
        body: png.to_vec().into(),
        headers: vec![("content-type".into(), "image/png".into())],
    }])
    .await;
    let upstream = FakeUpstream::start(vec![Reply::json(fixture_bytes("bedrock/text.json"))]).await;
    let image_url = format!("http://{}/cat.png", images.addr());
    let body = json!({"model": NOVA, "messages": [{"role": "user", "content": [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": image_url}}]}]});

    let config = sigv4_config(&upstream.base_url(), None);
    let err = chat(&config, body.clone(), NOVA).await.err().expect("a loopback image is refused by default");
    assert_eq!((err.kind, err.param.as_deref()), (ErrorKind::BadRequest, Some("messages[0].content[1].image_url")));
    assert_eq!(upstream.request_count(), 0);

    let config = BedrockConfig { image_fetch: Some(crate::translate::FetchPolicy { allow_private: true, ..Default::default() }), ..config };
    chat(&config, body, NOVA).await.expect("answer");
    let sent = upstream.last_request().json();
    assert_eq!(sent["messages"][0]["content"][1], json!({"image": {"format": "png", "source": {"bytes": "iVBORw0KGgoAAAANSUhEUg=="}}}));
    assert_eq!(images.last_request().path, "/cat.png");
}

#[test]
fn image_fetch_is_configurable() {
    let config: BedrockConfig = serde_json::from_value(json!({"image_fetch": {"max_bytes": 1024, "timeout": "2s"}})).unwrap();
    assert_eq!(
        config.image_fetch.map(|p| (p.max_bytes, p.timeout, p.allow_private)),
        Some((1024, std::time::Duration::from_secs(2), false))
    );
    assert!(serde_json::from_value::<BedrockConfig>(json!({"image_fetch": {"allow_privat": true}})).is_err());
}

const CREDENTIALS: &str = "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = default-secret\n\n\
                           [work]\nAWS_ACCESS_KEY_ID=AKIDWORK\naws_secret_access_key=work-secret\naws_session_token = work-token # a comment\n";
const CONFIG: &str = "[default]\nregion = eu-central-1\n\n# keys in the credentials file win\n[profile work]\nregion = ap-northeast-1\naws_access_key_id = AKIDSTALE\n\n\
                      [profile keys-in-config]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = config-secret\n\n\
                      [no-prefix]\naws_access_key_id = AKIDNOPREFIX\naws_secret_access_key = no-prefix-secret\n";

/// A `HOME` whose `.aws` folder holds `credentials` and `config` (when given).
fn aws_home(credentials: Option<&str>, config: Option<&str>) -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(home.path().join(".aws")).expect(".aws");
    for (file, text) in [("credentials", credentials), ("config", config)] {
        if let Some(text) = text {
            std::fs::write(home.path().join(".aws").join(file), text).expect("write");
        }
    }
    home
}

/// The environment `vars`, with `HOME` at `home`.
fn env_with(home: &tempfile::TempDir, vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let mut vars: std::collections::HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    vars.insert("HOME".into(), home.path().to_str().expect("utf-8 path").into());
    move |k: &str| vars.get(k).cloned()
}

/// (access key id, session token, region) the provider signs with.
fn signing(config: &BedrockConfig, env: &dyn Fn(&str) -> Option<String>) -> (String, Option<String>, String) {
    let provider = Bedrock::with_env("bedrock", config, env).expect("provider");
    let Auth::SigV4 { access_key_id, session_token, region, .. } = &provider.auth else { panic!("expected SigV4") };
    (access_key_id.expose().to_string(), session_token.as_ref().map(|t| t.expose().to_string()), region.clone())
}

fn owned(id: &str, token: Option<&str>, region: &str) -> (String, Option<String>, String) {
    (id.to_string(), token.map(str::to_string), region.to_string())
}

#[test]
fn profiles_supply_keys_and_region() {
    let home = aws_home(Some(CREDENTIALS), Some(CONFIG));
    let none = BedrockConfig::default();
    let named = |name: &str| BedrockConfig { profile: Some(name.to_string()), ..BedrockConfig::default() };
    assert_eq!(signing(&none, &env_with(&home, &[])), owned("AKIDDEFAULT", None, "eu-central-1"), "the default profile");
    let provider = Bedrock::with_env("b", &none, &env_with(&home, &[])).unwrap();
    assert_eq!(provider.url(NOVA, "converse").unwrap().host_str(), Some("bedrock-runtime.eu-central-1.amazonaws.com"));
    assert_eq!(
        signing(&none, &env_with(&home, &[("AWS_PROFILE", "work")])),
        owned("AKIDWORK", Some("work-token"), "ap-northeast-1"),
        "AWS_PROFILE"
    );
    assert_eq!(
        signing(&named("work"), &env_with(&home, &[("AWS_PROFILE", "default")])),
        owned("AKIDWORK", Some("work-token"), "ap-northeast-1"),
        "config wins"
    );
    assert_eq!(signing(&named("keys-in-config"), &env_with(&home, &[])), owned("AKIDCONFIG", None, "us-east-1"), "keys in the config file");
    // A configured region wins over the profile's.
    assert_eq!(signing(&named("work"), &env_with(&home, &[("AWS_REGION", "us-west-2")])).2, "us-west-2");
    assert_eq!(signing(&named("work"), &env_with(&home, &[("AWS_DEFAULT_REGION", "ca-central-1")])).2, "ca-central-1");
    assert_eq!(
        signing(&BedrockConfig { region: Some("sa-east-1".into()), ..named("work") }, &env_with(&home, &[("AWS_REGION", "us-west-2")])).2,
        "sa-east-1"
    );
    // The files can live elsewhere, with no HOME at all.
    let elsewhere = tempfile::tempdir().unwrap();
    let (credentials, config) = (elsewhere.path().join("creds.ini"), elsewhere.path().join("conf.ini"));
    std::fs::write(&credentials, "[ci]\naws_access_key_id = AKIDCI\naws_secret_access_key = ci-secret\n").unwrap();
    std::fs::write(&config, "[profile ci]\nregion = eu-north-1\n").unwrap();
    let paths = [
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ("AWS_PROFILE", "ci"),
    ];
    let env = |k: &str| paths.iter().find(|(name, _)| *name == k).map(|(_, v)| v.to_string());
    assert_eq!(signing(&none, &env), owned("AKIDCI", None, "eu-north-1"));
}

#[tokio::test]
async fn profile_keys_sign_requests_with_their_session_token() {
    let upstream =
        FakeUpstream::start(vec![Reply::json(fixture_bytes("bedrock/text.json")), Reply::json(fixture_bytes("bedrock/text.json"))]).await;
    let home = aws_home(Some(CREDENTIALS), Some(CONFIG));
    let config = BedrockConfig { base_url: Some(upstream.base_url()), ..BedrockConfig::default() };
    let body = json!({"model": NOVA, "messages": [{"role": "user", "content": "hi"}]});
    for (profile, id, region, token) in
        [("work", "AKIDWORK", "ap-northeast-1", Some("work-token")), ("default", "AKIDDEFAULT", "eu-central-1", None)]
    {
        let provider = Bedrock::with_env("bedrock", &config, &env_with(&home, &[("AWS_PROFILE", profile)])).expect("provider");
        provider.chat(&request(body.clone()), NOVA).await.expect("answer");
        let sent = upstream.last_request();
        let auth = sent.header("authorization").expect("authorization");
        let date = sent.header("x-amz-date").expect("x-amz-date");
        let prefix = format!("AWS4-HMAC-SHA256 Credential={id}/{}/{region}/bedrock/aws4_request, SignedHeaders=", &date[..8]);
        assert!(auth.starts_with(&prefix), "{profile}: {auth}");
        assert_eq!(sent.header("x-amz-security-token"), token, "{profile}");
        assert_eq!(auth.contains("x-amz-security-token"), token.is_some(), "{profile}: the token is signed too: {auth}");
    }
}

#[test]
fn explicit_keys_win_over_the_profile() {
    // Reading this profile fails, so any success below never read it.
    let home = aws_home(Some("[default]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = base\n"), None);
    let err = Bedrock::with_env("b", &BedrockConfig::default(), &env_with(&home, &[])).err().expect("the profile is read");
    assert!(err.contains("role_arn"), "{err}");
    let keys = env_with(&home, &[("AWS_ACCESS_KEY_ID", "AKIDENV"), ("AWS_SECRET_ACCESS_KEY", "env-secret")]);
    assert_eq!(signing(&BedrockConfig::default(), &keys), owned("AKIDENV", None, "us-east-1"));
    assert_eq!(signing(&sigv4_config("http://localhost", None), &env_with(&home, &[])).0, "AKIDEXAMPLE");
    let bearer = env_with(&home, &[("AWS_BEARER_TOKEN_BEDROCK", "ABSKenv"), ("AWS_PROFILE", "default")]);
    assert!(matches!(Bedrock::with_env("b", &BedrockConfig::default(), &bearer).unwrap().auth, Auth::Bearer(_)));
}

#[test]
fn unsupported_profiles_are_refused_by_name() {
    for (lines, key) in [
        ("sso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Dev", "sso_session"),
        ("sso_start_url = https://corp.awsapps.com/start", "sso_start_url"),
        ("credential_process = /usr/local/bin/creds --json", "credential_process"),
        ("role_arn = arn:aws:iam::123456789012:role/r\nsource_profile = default", "role_arn"),
        ("web_identity_token_file = /var/run/token\nrole_arn = arn:aws:iam::123456789012:role/r", "web_identity_token_file"),
    ] {
        let config = format!(
            "[profile odd]\naws_access_key_id = AKIDODD\naws_secret_access_key = odd-secret\naws_session_token = odd-token\n{lines}\n"
        );
        let home = aws_home(None, Some(&config));
        let err = Bedrock::with_env("b", &BedrockConfig::default(), &env_with(&home, &[("AWS_PROFILE", "odd")])).err().expect("refused");
        assert!(err.contains("AWS profile `odd`") && err.contains(&format!("`{key}`")) && err.contains("not supported"), "{key}: {err}");
        assert!(!err.contains("odd-secret") && !err.contains("odd-token"), "{err}");
    }
}

#[test]
fn missing_or_incomplete_profiles_are_named() {
    let home = aws_home(Some(CREDENTIALS), Some(CONFIG));
    let credentials = home.path().join(".aws/credentials");
    let named = BedrockConfig { profile: Some("nope".into()), ..BedrockConfig::default() };
    for (config, env) in [(&named, env_with(&home, &[])), (&BedrockConfig::default(), env_with(&home, &[("AWS_PROFILE", "nope")]))] {
        let err = Bedrock::with_env("b", config, &env).err().expect("no such profile");
        assert!(err.starts_with("AWS profile `nope` was not found in") && err.contains(credentials.to_str().unwrap()), "{err}");
    }
    // Config-file sections need the `profile` prefix, as in the AWS CLI.
    let err = Bedrock::with_env("b", &BedrockConfig::default(), &env_with(&home, &[("AWS_PROFILE", "no-prefix")])).err().unwrap();
    assert!(err.contains("AWS profile `no-prefix` was not found"), "{err}");
    // No profile named and none found: the usual answer.
    let empty = aws_home(None, None);
    let err = Bedrock::with_env("b", &BedrockConfig::default(), &env_with(&empty, &[])).err().unwrap();
    assert!(err.starts_with("no credentials") && err.contains("AWS_PROFILE"), "{err}");
    for (credentials, config, expected) in [
        (
            Some("[default]\naws_access_key_id = AKIDHALF\n"),
            None,
            "AWS profile `default` has aws_access_key_id but no aws_secret_access_key",
        ),
        (None, Some("[default]\nregion = eu-west-1\n"), "AWS profile `default` has no aws_access_key_id and aws_secret_access_key"),
    ] {
        let home = aws_home(credentials, config);
        let err = Bedrock::with_env("b", &BedrockConfig::default(), &env_with(&home, &[])).err().unwrap();
        assert_eq!(err, expected);
    }
    let home = aws_home(None, Some("[default]\nregion = eu west 1\naws_access_key_id = A\naws_secret_access_key = s\n"));
    let err = Bedrock::with_env("b", &BedrockConfig::default(), &env_with(&home, &[])).err().unwrap();
    assert_eq!(err, "region `eu west 1` is not a valid AWS region name");
}

#[tokio::test]
async fn an_upstream_401_is_an_auth_failure_whatever_type_it_names() {
    // A proxy in front of Bedrock (or an odd gateway) can name a client-side exception on a 401;
    // the status says the gateway's credentials were refused, and that is what counts.
    for (status, kind) in [(401, "ValidationException"), (403, "ResourceNotFoundException"), (401, "ThrottlingException")] {
        let reply = Reply::json_status(status, json!({"message": "The security token included in the request is invalid."}).to_string())
            .with_header("x-amzn-errortype", kind);
        let upstream = FakeUpstream::start(vec![reply]).await;
        let config = sigv4_config(&format!("http://{}", upstream.addr()), None);
        let err =
            chat(&config, json!({"model": NOVA, "messages": [{"role": "user", "content": "hi"}]}), NOVA).await.err().expect("an error");
        assert_eq!((err.status, err.kind), (Some(status), ErrorKind::Auth), "{status} {kind}");
    }
}

#[tokio::test]
async fn a_200_body_that_is_not_a_converse_answer_is_an_upstream_error_not_an_empty_answer() {
    let openai = String::from_utf8(fixture_bytes("openai/text.json").to_vec()).unwrap();
    let anthropic = String::from_utf8(fixture_bytes("anthropic/text.json").to_vec()).unwrap();
    for body in [openai.as_str(), anthropic.as_str(), "{}", "[]", r#"{"output":{}}"#, r#""hello""#, "<html>hi</html>"] {
        let upstream = FakeUpstream::start(vec![Reply::json(body.to_string())]).await;
        let config = sigv4_config(&format!("http://{}", upstream.addr()), None);
        let err = chat(&config, json!({"model": NOVA, "messages": [{"role": "user", "content": "hi"}]}), NOVA).await.err();
        assert_eq!(err.map(|e| e.kind), Some(ErrorKind::Malformed), "{body}");
    }
}
