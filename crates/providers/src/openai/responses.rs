//! OpenAI's Responses API as an upstream. A request that came in as a Responses request
//! (`NativeApi::OpenAiResponses`) goes to `{base}/responses` as the client sent it — only
//! `model`, `stream`, the token cap and `store: false` set by the gateway, which keeps the
//! conversation itself — and the answer comes back canonical: the Response object as a
//! `chat.completion`, its events as chunks, so that billing, the log and the cache see what every
//! other target gives them. Read leniently: unknown fields, items and events are passed over.

use serde::Deserialize;
use serde_json::Value;
use switchyard_protocol::openai::{CalledFunction, ChatRequest, ToolCall};
use switchyard_protocol::sse::SseEvent;
use switchyard_protocol::{NativeApi, Usage};

use crate::sse_stream::{cut_off, Decoded, EventDecoder};
use crate::translate::{ChunkWriter, Completion, FinishReason};
use crate::{Chunk, ErrorKind, ProviderError};

/// The official API, the only base URL where `responses` defaults to on.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// The body for `{base}/responses`, or `None` when the request did not come as a Responses
/// request (it is then translated to chat completions as always).
pub fn native_body(request: &ChatRequest, model: &str) -> Option<Vec<u8>> {
    let native = request.native().filter(|n| n.api == NativeApi::OpenAiResponses)?;
    let raw = |v: Value| serde_json::value::to_raw_value(&v).expect("a JSON value serialises");
    let mut body = native.body.clone();
    body.set("model", raw(model.into()));
    // The gateway stores the response and sends the whole conversation on the next turn.
    body.set("store", raw(false.into()));
    body.take("previous_response_id");
    if request.stream() {
        body.set("stream", raw(true.into()));
    } else {
        body.take("stream");
        body.take("stream_options");
    }
    // The client's cap, unless a cost cap lowered it on the canonical request.
    let cap =
        ["max_completion_tokens", "max_tokens"].iter().find_map(|k| request.get::<Option<u64>>(k, "a number").ok().flatten().flatten());
    if let Some(max) = cap {
        body.set("max_output_tokens", raw(max.into()));
    }
    Some(body.to_bytes())
}

/// The parts of a Response object (and of the `response` inside stream events) the gateway reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResponseObject {
    id: String,
    object: Option<String>,
    model: String,
    status: Option<String>,
    output: Option<Vec<Value>>,
    usage: Option<ResponsesUsage>,
    incomplete_details: Option<Incomplete>,
    error: Option<UpstreamError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResponsesUsage {
    input_tokens: u64,
    output_tokens: u64,
    input_tokens_details: Option<InputDetails>,
    output_tokens_details: Option<OutputDetails>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InputDetails {
    cached_tokens: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OutputDetails {
    reasoning_tokens: u64,
}

impl ResponsesUsage {
    fn canonical(&self) -> Usage {
        Usage {
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cached_input_tokens: self.input_tokens_details.as_ref().map_or(0, |d| d.cached_tokens),
            cache_write_tokens: 0,
            reasoning_tokens: self.output_tokens_details.as_ref().map_or(0, |d| d.reasoning_tokens),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Incomplete {
    reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UpstreamError {
    code: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    message: String,
}

impl UpstreamError {
    fn classified(&self, provider: &str) -> ProviderError {
        let code = self.code.as_deref().or(self.kind.as_deref()).unwrap_or("");
        let message = crate::credential::redact_key_shapes(&self.message);
        let mut err = ProviderError::new(error_kind(code), format!("provider `{provider}`: {message}"));
        err.code = self.code.clone();
        err
    }
}

/// A Responses error code (`response.failed`, the `error` event) as an error kind.
fn error_kind(code: &str) -> ErrorKind {
    match code {
        "rate_limit_exceeded" | "insufficient_quota" => ErrorKind::RateLimited,
        "context_length_exceeded" => ErrorKind::ContextLength,
        "content_filter" | "content_policy_violation" => ErrorKind::ContentFilter,
        "invalid_api_key" | "authentication_error" => ErrorKind::Auth,
        "model_not_found" => ErrorKind::NotFound,
        "vector_store_timeout" | "timeout" => ErrorKind::Timeout,
        "server_is_overloaded" | "overloaded" => ErrorKind::Overloaded,
        c if c.starts_with("invalid_") || c.starts_with("unsupported_") || c.ends_with("_too_large") || c.starts_with("empty_") => {
            ErrorKind::BadRequest
        }
        _ => ErrorKind::Server,
    }
}

fn finish_reason(status: Option<&str>, incomplete: Option<&Incomplete>) -> FinishReason {
    match (status, incomplete.and_then(|i| i.reason.as_deref())) {
        (Some("incomplete"), Some("content_filter")) => FinishReason::ContentFilter,
        (Some("incomplete"), _) => FinishReason::Length,
        _ => FinishReason::Stop,
    }
}

/// A whole 200 answer as a canonical `chat.completion` and its usage. A body that is not a
/// Response (`{}`, a chat completion from a misconfigured URL) is an upstream failure, and a
/// failed Response (or an error sent with a 200) a classified error, never an empty answer.
pub fn completion(provider: &str, body: &[u8], created: u64) -> Result<(bytes::Bytes, Usage), ProviderError> {
    let malformed = |what: String| {
        ProviderError::new(ErrorKind::Malformed, format!("provider `{provider}` answered with a body the gateway cannot read: {what}"))
    };
    let r: ResponseObject = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    if let Some(error) = &r.error {
        return Err(error.classified(provider));
    }
    let output = match (r.object.as_deref(), r.output) {
        (Some("response"), output) => output.unwrap_or_default(),
        (None, Some(output)) => output,
        (Some(other), _) => return Err(malformed(format!("an object of type `{other}` instead of a response"))),
        (None, None) => return Err(malformed("neither a response object nor output".into())),
    };
    if r.status.as_deref() == Some("failed") {
        return Err(ProviderError::new(ErrorKind::Server, format!("provider `{provider}`: the response failed")));
    }
    let usage = r.usage.as_ref().map(ResponsesUsage::canonical).unwrap_or_default();
    let mut c = Completion { id: r.id, model: r.model, created, usage, ..Completion::default() };
    for item in &output {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                for part in item.get("content").and_then(Value::as_array).into_iter().flatten() {
                    match part.get("type").and_then(Value::as_str) {
                        Some("output_text") => c.text.push_str(part.get("text").and_then(Value::as_str).unwrap_or("")),
                        Some("refusal") => {
                            let refusal = part.get("refusal").and_then(Value::as_str).unwrap_or("");
                            c.refusal.get_or_insert_with(String::new).push_str(refusal)
                        }
                        _ => {}
                    }
                }
            }
            Some("function_call") => {
                let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let arguments = Some(text("arguments")).filter(|a| !a.is_empty()).unwrap_or_else(|| "{}".into());
                c.tool_calls.push(ToolCall {
                    id: text("call_id"),
                    kind: "function".into(),
                    function: CalledFunction { name: text("name"), arguments },
                });
            }
            Some("reasoning") => {
                for s in item.get("summary").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(text) = s.get("text").and_then(Value::as_str) {
                        if !c.reasoning.is_empty() {
                            c.reasoning.push_str("\n\n");
                        }
                        c.reasoning.push_str(text);
                    }
                }
                if let Some(encrypted) = item.get("encrypted_content").and_then(Value::as_str) {
                    c.reasoning_signature = Some(encrypted.to_string());
                }
            }
            _ => {}
        }
    }
    let finish = finish_reason(r.status.as_deref(), r.incomplete_details.as_ref());
    c.finish_reason = Some(if finish == FinishReason::Stop && !c.tool_calls.is_empty() { FinishReason::ToolCalls } else { finish });
    Ok((c.to_openai(), usage))
}

/// One streamed event: its `type` and the fields the gateway reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StreamEvent {
    #[serde(rename = "type")]
    kind: String,
    output_index: u64,
    summary_index: u64,
    delta: Option<String>,
    item: Option<Value>,
    response: Option<ResponseObject>,
    code: Option<String>,
    message: Option<String>,
}

/// Responses SSE events → canonical chunks.
pub struct ResponsesDecoder {
    provider: String,
    writer: ChunkWriter,
    done: bool,
}

impl ResponsesDecoder {
    pub fn new(provider: &str, model: &str, created: u64) -> Self {
        Self { provider: provider.to_string(), writer: ChunkWriter::new("", model, created), done: false }
    }

    /// The end of the answer: the finish chunk, then usage.
    fn finish(&mut self, response: Option<ResponseObject>) -> Decoded {
        self.done = true;
        let r = response.unwrap_or_default();
        let reason = finish_reason(r.status.as_deref(), r.incomplete_details.as_ref());
        let usage = r.usage.as_ref().map(ResponsesUsage::canonical).unwrap_or_default();
        Decoded::Chunks(vec![self.writer.finish(reason), self.writer.usage(usage)])
    }
}

impl EventDecoder for ResponsesDecoder {
    fn decode(&mut self, event: SseEvent) -> Result<Decoded, ProviderError> {
        if self.done || event.data.as_ref() == b"[DONE]" {
            return Ok(Decoded::Skip);
        }
        let e: StreamEvent = serde_json::from_slice(&event.data).map_err(|err| {
            ProviderError::new(
                ErrorKind::Malformed,
                format!("provider `{}` sent a stream event the gateway cannot read: {err}", self.provider),
            )
        })?;
        let w = &mut self.writer;
        let delta = e.delta.as_deref().unwrap_or("");
        let chunk = match e.kind.as_str() {
            "response.created" => {
                if let Some(r) = &e.response {
                    w.set_identity(&r.id, &r.model);
                }
                w.start()
            }
            "response.output_text.delta" if !delta.is_empty() => w.text(delta),
            "response.reasoning_summary_text.delta" if !delta.is_empty() => w.reasoning(delta),
            // Summary parts are paragraphs, as in the whole answer.
            "response.reasoning_summary_part.added" if e.summary_index > 0 => w.reasoning("\n\n"),
            "response.output_item.added" => {
                match e.item.as_ref().filter(|i| i.get("type").and_then(Value::as_str) == Some("function_call")) {
                    Some(item) => {
                        let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
                        w.tool_start(e.output_index, text("call_id"), text("name"), text("arguments"))
                    }
                    None => return Ok(Decoded::Skip),
                }
            }
            "response.function_call_arguments.delta" if !delta.is_empty() => match w.tool_arguments(e.output_index, delta) {
                Some(c) => c,
                None => return Ok(Decoded::Skip),
            },
            "response.output_item.done" => {
                let item = e.item.as_ref().filter(|i| i.get("type").and_then(Value::as_str) == Some("reasoning"));
                match item.and_then(|i| i.get("encrypted_content")).and_then(Value::as_str) {
                    Some(encrypted) => w.reasoning_signature(encrypted),
                    None => return Ok(Decoded::Skip),
                }
            }
            "response.completed" | "response.incomplete" => return Ok(self.finish(e.response)),
            "response.failed" => {
                let error = e.response.and_then(|r| r.error).unwrap_or_default();
                return Err(error.classified(&self.provider));
            }
            "error" => {
                let error = UpstreamError { code: e.code, kind: None, message: e.message.unwrap_or_default() };
                return Err(error.classified(&self.provider));
            }
            _ => return Ok(Decoded::Skip),
        };
        Ok(Decoded::Chunk(chunk))
    }

    fn on_eof(&mut self) -> Result<Vec<Chunk>, ProviderError> {
        if self.done {
            Ok(Vec::new())
        } else {
            Err(cut_off(&self.provider))
        }
    }
}

#[cfg(test)]
mod tests;
