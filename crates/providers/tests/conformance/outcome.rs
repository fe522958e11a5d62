//! Runs one scenario against one adapter behind a fake upstream: the request decoded as the
//! gateway decodes it for its inbound API, the adapter's canonical answer collected, then read
//! back through that API's encoder into one `Outcome` the shared checks look at.

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;
use switchyard_protocol::RawObject;
use switchyard_providers::{ChatResponse, ErrorKind};
use switchyard_testkit::{FakeUpstream, Reply};

use crate::inbound::Inbound;
use crate::recordings::ProviderUnderTest;
use crate::scenarios::Document;

/// What the adapter answered, in the canonical (OpenAI) shape, before any inbound encoding.
pub enum Answer {
    Failed(ErrorKind),
    Complete(Bytes),
    /// Chunk payloads with their `usage_only` flag; `error` ended the stream early.
    Stream {
        chunks: Vec<(Bytes, bool)>,
        error: Option<ErrorKind>,
    },
}

/// What a client of one inbound API saw, in terms every API shares.
#[derive(Debug, Default)]
pub struct Outcome {
    pub content: String,
    pub reasoning: String,
    pub reasoning_tokens: u64,
    /// (id, name, arguments as JSON text) in order.
    pub calls: Vec<(String, String, String)>,
    /// In OpenAI's terms (`stop`, `tool_calls`, `length`, …); other APIs' reasons are mapped.
    pub finish: Option<String>,
    /// Every prompt token, cached ones included.
    pub usage_in: u64,
    pub usage_out: u64,
    pub cached: u64,
    pub error: Option<ErrorKind>,
    /// Stream events (chunks, or the inbound API's own events).
    pub chunks: usize,
    pub usage_chunk_last: bool,
    pub usage_seen: bool,
    pub indexes_in_order: bool,
    /// Broken rules of the inbound API's own shape (event order, block types, stop reasons …);
    /// any makes the cell fail, whatever the scenario.
    pub shape: Vec<String>,
    /// The body the provider received.
    pub sent: String,
    /// The provider's own document form (for the PDF check).
    pub document: Option<Document>,
    /// The upstream received the inbound request itself, byte for byte (checked for a target
    /// that speaks the inbound API).
    pub forwarded: bool,
}

impl Outcome {
    pub fn new() -> Self {
        Outcome { indexes_in_order: true, ..Outcome::default() }
    }
}

pub async fn run(inbound: &Inbound, provider: &ProviderUnderTest, document: Document, body: &[u8], reply: Reply) -> Outcome {
    let up = FakeUpstream::start(vec![reply]).await;
    let adapter = (provider.build)(&up.base_url());
    let request = (inbound.decode)(body);
    let answer = match adapter.chat(&request, provider.model).await {
        Err(e) => Answer::Failed(e.kind),
        Ok(ChatResponse::Complete { body, .. }) => Answer::Complete(body),
        Ok(ChatResponse::Stream(mut stream)) => {
            let (mut chunks, mut error) = (Vec::new(), None);
            while let Some(item) = stream.next().await {
                match item {
                    Ok(chunk) => chunks.push((chunk.data, chunk.usage_only)),
                    Err(e) => {
                        error = Some(e.kind);
                        break;
                    }
                }
            }
            Answer::Stream { chunks, error }
        }
    };
    let mut o = (inbound.read)(body, &answer);
    let last = up.requests().last().cloned();
    o.sent = last.as_ref().map(|r| r.body_str()).unwrap_or_default();
    o.document = Some(document);
    if inbound.native.is_some() && inbound.native == provider.native {
        let path = last.map(|r| r.path).unwrap_or_default();
        match forwarded(body, &o.sent, &path) {
            Ok(()) => o.forwarded = true,
            Err(why) => o.shape.push(why),
        }
    }
    o
}

/// The upstream got the client's body: the same members, in the same order, with the same bytes —
/// except the `model` (the gateway's) and Vertex's and Bedrock's `anthropic_version`, which the
/// gateway sets, and `stream`, which Bedrock's InvokeModel (`path`) takes in the path.
fn forwarded(body: &[u8], sent: &str, path: &str) -> Result<(), String> {
    let mut expected = RawObject::parse(body).map_err(|e| e.message)?;
    expected.take("model");
    if path.ends_with("/invoke") || path.ends_with("/invoke-with-response-stream") {
        expected.take("stream");
    }
    let mut got = RawObject::parse(sent.as_bytes()).map_err(|_| format!("the upstream request is not a JSON object: {sent}"))?;
    got.take("model");
    got.take("anthropic_version");
    let (expected, got) =
        (String::from_utf8_lossy(&expected.to_bytes()).into_owned(), String::from_utf8_lossy(&got.to_bytes()).into_owned());
    if expected == got {
        Ok(())
    } else {
        Err(format!("the upstream did not get the request as sent:\n  sent by the client: {expected}\n  received upstream:  {got}"))
    }
}

/// `usage` of a canonical answer into the outcome.
pub fn canonical_usage(o: &mut Outcome, u: &Value) {
    o.usage_in = u["prompt_tokens"].as_u64().unwrap_or(0);
    o.usage_out = u["completion_tokens"].as_u64().unwrap_or(0);
    o.cached = u["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap_or(0);
    o.reasoning_tokens = u["completion_tokens_details"]["reasoning_tokens"].as_u64().unwrap_or(0);
}
