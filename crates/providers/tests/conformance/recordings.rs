//! Which recording answers which scenario, per provider, and how each adapter is built against
//! the fake upstream. Synthetic bodies are only used where no recording exists, and are written
//! in the provider's own wire format.

use std::sync::Arc;

use serde_json::json;
use switchyard_protocol::NativeApi;
use switchyard_providers::registry::{build, ProviderConfig};
use switchyard_providers::Provider;
use switchyard_testkit::{fixture_reply, Reply};

use crate::scenarios::Document;

pub enum Source {
    Recorded,
    Synthetic,
    /// Recorded from Anthropic's own API, replayed for Claude on Vertex AI or on Bedrock's
    /// InvokeModel, which answer in the same Messages wire format (no recording of either exists).
    RecordedOnAnthropic,
}

/// The answer (and where it came from) a target gives to a scenario, if any.
pub type Recording = fn(&str) -> Option<(Source, Reply)>;

pub struct ProviderUnderTest {
    pub name: &'static str,
    pub model: &'static str,
    /// The inbound API the target speaks itself: it is sent such a request as the client wrote it.
    pub native: Option<NativeApi>,
    pub document: Document,
    pub build: fn(&str) -> Arc<dyn Provider>,
    pub recording: Recording,
    /// For a target sent a request in the inbound API's own form over another API than
    /// `recording`'s (Bedrock: InvokeModel rather than Converse): the document form it then gets,
    /// and its answers.
    pub native_recording: Option<(Document, Recording)>,
}

fn adapter(name: &str, config: serde_json::Value) -> Arc<dyn Provider> {
    let config: ProviderConfig = serde_json::from_value(config).expect("valid test config");
    build(name, &config).expect("adapter builds")
}

/// The fake's `…/v1` base without the `/v1`, for providers whose paths start at the root.
fn root(base: &str) -> String {
    base.trim_end_matches("/v1").to_string()
}

fn recorded(rel: &str) -> Option<(Source, Reply)> {
    Some((Source::Recorded, fixture_reply(rel)))
}

fn synthetic(reply: Reply) -> Option<(Source, Reply)> {
    Some((Source::Synthetic, reply))
}

fn openai_like(scenario: &str, dir: &str) -> Option<(Source, Reply)> {
    let f = |name: &str| recorded(&format!("{dir}/{name}"));
    match scenario {
        "plain" | "image" | "pdf" => f("text.json"),
        "plain-stream" => f("text-stream.sse"),
        "tools" => f("tool-call-parallel.json"),
        "tools-stream" => f("tool-call-parallel-stream.sse"),
        "round-trip" => f("tool-result-followup.json"),
        "structured" => f("structured-output-json-schema.json"),
        "rate-limited" => {
            synthetic(Reply::openai_error(429, "Rate limit reached", "requests", "rate_limit_exceeded").with_header("retry-after", "3"))
        }
        "server-error" => synthetic(Reply::openai_error(500, "The server had an error", "server_error", "server_error")),
        "malformed-stream" => synthetic(Reply::sse("data: {\"choices\": [\n\n")),
        "mid-stream-error" => synthetic(Reply::sse(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n\
             data: {\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\"}}\n\n",
        )),
        _ => None,
    }
}

fn anthropic(s: &str) -> Option<(Source, Reply)> {
    match s {
                "plain" | "image" | "pdf" | "forwarded" => recorded("anthropic/text.json"),
                "plain-stream" => recorded("anthropic/text-stream.sse"),
                "tools" => recorded("anthropic/tool-call-parallel.json"),
                "tools-stream" => recorded("anthropic/tool-call-parallel-stream.sse"),
                "round-trip" => recorded("anthropic/tool-result-followup.json"),
                "reasoning" => recorded("anthropic/thinking.json"),
                "reasoning-stream" => recorded("anthropic/thinking-stream.sse"),
                "structured" => recorded("anthropic/structured-output-json-schema.json"),
                "cached" => recorded("anthropic/usage-cache-read.json"),
                "rate-limited" => recorded("anthropic/error-429-rate-limit.json"),
                "server-error" => synthetic(Reply::json_status(529, r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)),
                "malformed-stream" => synthetic(Reply::sse("event: message_start\ndata: {\"type\":\"message_start\",\"message\":\n\n")),
                "mid-stream-error" => synthetic(Reply::sse(
                    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-sonnet-4-0\",\"usage\":{\"input_tokens\":9}}}\n\n\
                     event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
                )),
                _ => None,
    }
}

/// Claude on Vertex answers in Anthropic's wire format: Anthropic's recordings, marked as such.
#[cfg(feature = "vertex")]
fn vertex_claude(s: &str) -> Option<(Source, Reply)> {
    anthropic(s).map(|(source, reply)| match source {
        Source::Recorded => (Source::RecordedOnAnthropic, reply),
        other => (other, reply),
    })
}

/// Bedrock's own answers on Converse (and its errors, the same on every Bedrock API).
#[cfg(feature = "bedrock")]
fn bedrock_converse(s: &str) -> Option<(Source, Reply)> {
    let json = |case: &str| Some((Source::Recorded, Reply::json(switchyard_testkit::fixture_bytes(&format!("bedrock/{case}.json")))));
    let error = |status: u16, kind: &str, message: &str| {
        synthetic(Reply::json_status(status, format!(r#"{{"message":"{message}"}}"#)).with_header("x-amzn-errortype", kind))
    };
    match s {
        "plain" | "image" | "pdf" => json("text"),
        "plain-stream" => bedrock_stream(
            Source::Recorded,
            aws_smithy_types::base64::decode(switchyard_testkit::fixture_str("bedrock/text-stream.eventstream.b64").trim())
                .expect("recorded base64"),
        ),
        "tools" => json("tool-call-parallel"),
        "tools-stream" => bedrock_stream(
            Source::Recorded,
            aws_smithy_types::base64::decode(switchyard_testkit::fixture_str("bedrock/tool-call-parallel-stream.eventstream.b64").trim())
                .expect("recorded base64"),
        ),
        "round-trip" => json("tool-result-followup"),
        "reasoning-stream" => bedrock_stream(
            Source::Recorded,
            aws_smithy_types::base64::decode(switchyard_testkit::fixture_str("bedrock/reasoning-stream.eventstream.b64").trim())
                .expect("recorded base64"),
        ),
        "structured" => json("structured-output-json-schema"),
        "cached" => json("usage-cache-read"),
        "rate-limited" => error(429, "ThrottlingException", "Too many requests, please wait before trying again."),
        "server-error" => error(500, "InternalServerException", "The server encountered an internal error."),
        "malformed-stream" => bedrock_stream(Source::Synthetic, b"\x00\x00\x00\x10not an event stream".to_vec()),
        _ => None,
    }
}

#[cfg(feature = "bedrock")]
fn bedrock_stream(source: Source, body: Vec<u8>) -> Option<(Source, Reply)> {
    Some((source, Reply::json(body).with_header("content-type", "application/vnd.amazon.eventstream")))
}

/// One event-stream frame with string headers.
#[cfg(feature = "bedrock")]
fn frame(headers: &[(&'static str, &str)], payload: String) -> Vec<u8> {
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    let message = headers
        .iter()
        .fold(Message::new(payload), |m, (name, value)| m.add_header(Header::new(*name, HeaderValue::String(value.to_string().into()))));
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out).expect("frame encodes");
    out
}

/// Anthropic SSE as InvokeModelWithResponseStream carries it: each event's JSON, base64-encoded,
/// in the `bytes` of a `chunk` event.
#[cfg(feature = "bedrock")]
fn invoke_chunks(sse: &[u8]) -> Vec<u8> {
    let mut events = Vec::new();
    let mut parser = switchyard_protocol::sse::SseParser::new();
    parser.feed(sse, &mut events);
    parser.finish(&mut events);
    let headers = [(":event-type", "chunk"), (":content-type", "application/json"), (":message-type", "event")];
    events.iter().flat_map(|e| frame(&headers, json!({"bytes": aws_smithy_types::base64::encode(&e.data)}).to_string())).collect()
}

/// Claude on Bedrock's InvokeModel answers in Anthropic's wire format: Anthropic's recordings,
/// marked as such, streams re-framed as Bedrock frames them; errors are Bedrock's.
#[cfg(feature = "bedrock")]
fn bedrock_invoke(s: &str) -> Option<(Source, Reply)> {
    let stream = |rel: &str| bedrock_stream(Source::RecordedOnAnthropic, invoke_chunks(&switchyard_testkit::fixture_bytes(rel)));
    match s {
        "plain-stream" => stream("anthropic/text-stream.sse"),
        "tools-stream" => stream("anthropic/tool-call-parallel-stream.sse"),
        "reasoning-stream" => stream("anthropic/thinking-stream.sse"),
        "rate-limited" | "server-error" | "malformed-stream" => bedrock_converse(s),
        "mid-stream-error" => {
            let mut body = invoke_chunks(
                b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_bdrk_1\",\"model\":\"claude-sonnet-4-20250514\",\"usage\":{\"input_tokens\":9}}}\n\n",
            );
            let headers =
                [(":message-type", "exception"), (":exception-type", "modelStreamErrorException"), (":content-type", "application/json")];
            body.extend(frame(&headers, json!({"message": "The model stream failed."}).to_string()));
            bedrock_stream(Source::Synthetic, body)
        }
        _ => anthropic(s).map(|(source, reply)| match source {
            Source::Recorded => (Source::RecordedOnAnthropic, reply),
            other => (other, reply),
        }),
    }
}

pub fn providers() -> Vec<ProviderUnderTest> {
    vec![
        ProviderUnderTest {
            name: "openai",
            model: "gpt-4o",
            native: None,
            document: Document::FilePart,
            build: |base| adapter("openai", json!({"type": "openai", "base_url": base, "api_key": "sk-conformance-0000000"})),
            recording: |s| match s {
                "reasoning" => recorded("openai/reasoning-usage.json"),
                "cached" => recorded("openai/usage-cached-tokens.json"),
                // Chat Completions never streams OpenAI's reasoning text.
                "reasoning-stream" => None,
                _ => openai_like(s, "openai"),
            },
            native_recording: None,
        },
        ProviderUnderTest {
            name: "azure",
            model: "gpt-4o-mini",
            native: None,
            document: Document::FilePart,
            build: |base| adapter("azure", json!({"type": "azure", "base_url": root(base), "api_key": "azure-conformance-key"})),
            recording: |s| match s {
                "reasoning" => recorded("azure/tool-call-reasoning-model-v1-api.json"),
                "reasoning-stream" => Some((
                    Source::Recorded,
                    Reply::sse_from_chunks(switchyard_testkit::fixture_bytes("azure/reasoning-content-stream.chunks.jsonl")),
                )),
                "cached" => None,
                _ => openai_like(s, "azure"),
            },
            native_recording: None,
        },
        ProviderUnderTest {
            name: "anthropic",
            model: "claude-sonnet-4-0",
            native: Some(NativeApi::AnthropicMessages),
            document: Document::AnthropicBlock,
            build: |base| adapter("anthropic", json!({"type": "anthropic", "base_url": root(base), "api_key": "sk-ant-conformance-000"})),
            recording: anthropic,
            native_recording: None,
        },
        #[cfg(feature = "bedrock")]
        ProviderUnderTest {
            name: "bedrock",
            model: "anthropic.claude-sonnet-4-20250514-v1:0",
            native: Some(NativeApi::AnthropicMessages),
            document: Document::ConverseBlock,
            build: |base| {
                adapter(
                    "bedrock",
                    json!({"type": "bedrock", "base_url": root(base), "region": "us-east-1", "access_key_id": "AKIDEXAMPLE", "secret_access_key": "conformance-secret"}),
                )
            },
            recording: bedrock_converse,
            native_recording: Some((Document::AnthropicBlock, bedrock_invoke)),
        },
        #[cfg(feature = "vertex")]
        ProviderUnderTest {
            name: "vertex (gemini)",
            model: "gemini-2.5-flash",
            native: None,
            document: Document::InlineData,
            build: |base| {
                adapter(
                    "vertex",
                    json!({"type": "vertex", "base_url": root(base), "project": "p", "location": "us-central1", "access_token": "ya29.conformance"}),
                )
            },
            recording: |s| match s {
                "plain" | "image" | "pdf" => recorded("vertex/text.json"),
                "plain-stream" => recorded("vertex/text-stream.sse"),
                "reasoning-stream" => recorded("vertex/thinking-stream.sse"),
                "rate-limited" => recorded("vertex/error-429-quota-exceeded.json"),
                "server-error" => synthetic(Reply::json_status(
                    503,
                    r#"{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}"#,
                )),
                "malformed-stream" => synthetic(Reply::sse("data: {\"candidates\": [\n\n")),
                _ => None,
            },
            native_recording: None,
        },
        #[cfg(feature = "vertex")]
        ProviderUnderTest {
            name: "vertex (claude)",
            model: "claude-sonnet-4@20250514",
            native: Some(NativeApi::AnthropicMessages),
            document: Document::AnthropicBlock,
            build: |base| {
                adapter(
                    "vertex",
                    json!({"type": "vertex", "base_url": root(base), "project": "p", "location": "us-east5", "access_token": "ya29.conformance"}),
                )
            },
            recording: vertex_claude,
            native_recording: None,
        },
        ProviderUnderTest {
            name: "gemini",
            model: "gemini-2.5-flash",
            native: None,
            document: Document::InlineData,
            build: |base| adapter("gemini", json!({"type": "gemini", "base_url": root(base), "api_key": "AIza-conformance-000"})),
            recording: |s| match s {
                "plain" | "image" | "pdf" => recorded("gemini/text.json"),
                "plain-stream" => recorded("gemini/text-stream.sse"),
                "tools" => recorded("gemini/tool-call-parallel.json"),
                "tools-stream" => recorded("gemini/tool-call-parallel-stream.sse"),
                "round-trip" => recorded("gemini/tool-result-followup.json"),
                "reasoning-stream" => recorded("gemini/thinking-stream.sse"),
                "structured" => recorded("gemini/structured-output-json-schema.json"),
                "cached" => recorded("gemini/usage-cached-tokens.json"),
                "rate-limited" => recorded("gemini/error-429-resource-exhausted.json"),
                "server-error" => synthetic(Reply::json_status(
                    500,
                    r#"{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}"#,
                )),
                "malformed-stream" => synthetic(Reply::sse("data: {\"candidates\": [\n\n")),
                "mid-stream-error" => synthetic(Reply::sse(
                    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],\"role\":\"model\"}}]}\n\n\
                     data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\n\n",
                )),
                _ => None,
            },
            native_recording: None,
        },
    ]
}
