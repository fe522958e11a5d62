//! Runs one fuzz case through a real adapter: the fake upstream answers with the case's bytes,
//! the adapter's `chat` translates them, and the result is reduced to what a client would see.

use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::{json, Value};
use switchyard_protocol::openai::ChatRequest;
use switchyard_providers::registry::{build, ProviderConfig};
use switchyard_providers::{ChatResponse, ErrorKind, Provider};
use switchyard_testkit::{fuzz, FakeUpstream, Reply};
use tokio::runtime::Runtime;

/// One adapter under fuzz, and the recorded traffic that seeds it.
pub struct Target {
    pub name: &'static str,
    pub model: &'static str,
    /// Its config, given the fake upstream's `http://127.0.0.1:PORT` (no `/v1`).
    pub config: fn(&str) -> Value,
    /// Fixture folders holding answers in this adapter's wire format.
    pub fixtures: &'static [&'static str],
    /// Streams are AWS event-stream frames rather than SSE.
    pub event_stream: bool,
    /// Translates the wire format into OpenAI's (rather than passing OpenAI's through).
    pub translates: bool,
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "openai",
        model: "gpt-4o",
        config: |root| json!({"type": "openai", "base_url": format!("{root}/v1"), "api_key": "sk-fuzz-000000000000"}),
        fixtures: &["openai", "azure"],
        event_stream: false,
        translates: false,
    },
    Target {
        name: "azure",
        model: "gpt-4o-mini",
        config: |root| json!({"type": "azure", "base_url": root, "api_key": "azure-fuzz-key"}),
        fixtures: &["azure", "openai"],
        event_stream: false,
        translates: false,
    },
    Target {
        name: "anthropic",
        model: "claude-sonnet-4-0",
        config: |root| json!({"type": "anthropic", "base_url": root, "api_key": "sk-ant-fuzz-000000"}),
        fixtures: &["anthropic"],
        event_stream: false,
        translates: true,
    },
    Target {
        name: "gemini",
        model: "gemini-2.5-flash",
        config: |root| json!({"type": "gemini", "base_url": root, "api_key": "AIza-fuzz-000000"}),
        fixtures: &["gemini", "vertex"],
        event_stream: false,
        translates: true,
    },
    Target {
        name: "vertex-gemini",
        model: "gemini-2.5-flash",
        config: |root| json!({"type": "vertex", "base_url": root, "project": "p", "location": "us-central1", "access_token": "ya29.fuzz"}),
        fixtures: &["vertex", "gemini"],
        event_stream: false,
        translates: true,
    },
    Target {
        name: "vertex-claude",
        model: "claude-sonnet-4@20250514",
        config: |root| json!({"type": "vertex", "base_url": root, "project": "p", "location": "us-east5", "access_token": "ya29.fuzz"}),
        fixtures: &["anthropic"],
        event_stream: false,
        translates: true,
    },
    Target {
        name: "bedrock",
        model: "anthropic.claude-sonnet-4-20250514-v1:0",
        config: |root| json!({"type": "bedrock", "base_url": root, "region": "us-east-1", "access_key_id": "AKIDEXAMPLE", "secret_access_key": "fuzz-secret"}),
        fixtures: &["bedrock"],
        event_stream: true,
        translates: true,
    },
];

pub fn target(name: &str) -> &'static Target {
    TARGETS.iter().find(|t| t.name == name).expect("a listed target")
}

/// What a client would see of one answer. Generated ids and timestamps are left out, so that
/// two runs over the same bytes compare equal.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Error(ErrorKind),
    Complete(Value),
    /// The chunks, then how the stream ended (`None`: cleanly).
    Stream(Vec<Value>, Option<ErrorKind>),
}

/// An adapter wired to its own fake upstream, on a runtime of its own.
pub struct Harness {
    pub target: &'static Target,
    runtime: Runtime,
    upstream: FakeUpstream,
    adapter: Arc<dyn Provider>,
}

impl Harness {
    pub fn new(target: &'static Target) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime");
        let upstream = runtime.block_on(FakeUpstream::start(vec![Reply::json("{}")]));
        let root = upstream.base_url().trim_end_matches("/v1").to_string();
        let config: ProviderConfig = serde_json::from_value((target.config)(&root)).expect("a valid fuzz config");
        let adapter = build(target.name, &config).expect("the adapter builds");
        Self { target, runtime, upstream, adapter }
    }

    /// Sends `request` and answers it with `reply`; panics (failing the case) on a hang.
    pub fn run(&self, request: &ChatRequest, reply: Reply) -> Seen {
        self.upstream.answer_from_now_on(reply);
        let (adapter, request, model) = (Arc::clone(&self.adapter), request.clone(), self.target.model);
        let handle = self.runtime.handle().clone();
        let passes_through = !self.target.translates;
        fuzz::within_deadline(move || handle.block_on(async move { see(adapter.chat(&request, model).await, passes_through).await }))
    }
}

async fn see(answer: Result<ChatResponse, switchyard_providers::ProviderError>, passes_through: bool) -> Seen {
    match answer {
        Err(e) => Seen::Error(e.kind),
        Ok(ChatResponse::Complete { body, .. }) => match serde_json::from_slice::<Value>(&body) {
            Ok(v) => Seen::Complete(without_generated(v)),
            // OpenAI-compatible answers are forwarded as sent, with what a `Value` cannot hold
            // (`1e400`, lone surrogates, nesting past 128) that the lenient first read accepted;
            // a translation is built by the gateway and always strict JSON.
            Err(_) if passes_through && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok() => {
                Seen::Complete(Value::from("(as sent)"))
            }
            Err(e) => panic!("a complete answer that is not JSON ({e}): {}", shorten(&body)),
        },
        Ok(ChatResponse::Stream(mut stream)) => {
            let mut chunks = Vec::new();
            while let Some(item) = stream.next().await {
                match item {
                    Ok(chunk) => match serde_json::from_slice::<Value>(&chunk.data) {
                        Ok(v) => chunks.push(without_generated(v)),
                        Err(_) if passes_through && serde_json::from_slice::<serde::de::IgnoredAny>(&chunk.data).is_ok() => {
                            chunks.push(Value::from("(as sent)"))
                        }
                        Err(e) => panic!("a chunk that is not JSON ({e}): {}", shorten(&chunk.data)),
                    },
                    Err(e) => return Seen::Stream(chunks, Some(e.kind)),
                }
            }
            Seen::Stream(chunks, None)
        }
    }
}

/// The start of a body, for failure messages that stay readable.
fn shorten(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned()
}

fn without_generated(mut v: Value) -> Value {
    if let Some(map) = v.as_object_mut() {
        map.remove("id");
        map.remove("created");
    }
    v
}

/// A chat request for the response-side targets.
pub fn request(stream: bool) -> ChatRequest {
    let body = json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "What is 4200 + 42?"}]});
    ChatRequest::parse(body.to_string().as_bytes()).expect("a valid request")
}

/// Whether a completion has the shape every OpenAI client reads.
pub fn is_chat_completion(v: &Value) -> bool {
    v["object"] == "chat.completion" && v["choices"].as_array().is_some_and(|c| c.iter().all(|c| c["message"].is_object()))
}
