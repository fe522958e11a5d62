//! The scenarios: what each one asks (the request itself is written once per inbound API, in
//! `inbound/`) and what its answer must show, checked on the `Outcome` every inbound API's
//! answer is read into.

use serde_json::{json, Value};
use switchyard_providers::ErrorKind;

use crate::outcome::Outcome;

pub struct Scenario {
    pub id: &'static str,
    pub title: &'static str,
    pub check: fn(&Outcome) -> Result<(), String>,
    pub checks: &'static str,
}

/// A 1×1 PNG.
pub const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// A valid one-page PDF (545 bytes, one line of Helvetica: "Hello PDF"), base64.
pub const PDF_B64: &str = "JVBERi0xLjQKMSAwIG9iago8PC9UeXBlL0NhdGFsb2cvUGFnZXMgMiAwIFI+PgplbmRvYmoKMiAwIG9iago8PC9UeXBlL1BhZ2VzL0tpZHNbMyAwIFJdL0NvdW50IDE+PgplbmRvYmoKMyAwIG9iago8PC9UeXBlL1BhZ2UvUGFyZW50IDIgMCBSL01lZGlhQm94WzAgMCAyMDAgNTBdL0NvbnRlbnRzIDQgMCBSL1Jlc291cmNlczw8L0ZvbnQ8PC9GMSA1IDAgUj4+Pj4+PgplbmRvYmoKNCAwIG9iago8PC9MZW5ndGggMzk+PnN0cmVhbQpCVCAvRjEgMTIgVGYgMTAgMjAgVGQgKEhlbGxvIFBERikgVGogRVQKZW5kc3RyZWFtCmVuZG9iago1IDAgb2JqCjw8L1R5cGUvRm9udC9TdWJ0eXBlL1R5cGUxL0Jhc2VGb250L0hlbHZldGljYT4+CmVuZG9iagp4cmVmCjAgNgowMDAwMDAwMDAwIDY1NTM1IGYgCjAwMDAwMDAwMDkgMDAwMDAgbiAKMDAwMDAwMDA1NCAwMDAwMCBuIAowMDAwMDAwMTA1IDAwMDAwIG4gCjAwMDAwMDAyMTYgMDAwMDAgbiAKMDAwMDAwMDMwMiAwMDAwMCBuIAp0cmFpbGVyCjw8L1NpemUgNi9Sb290IDEgMCBSPj4Kc3RhcnR4cmVmCjM2NQolJUVPRgo=";

/// The PDF's file name, as the client gives it.
pub const PDF_NAME: &str = "hello.pdf";

fn ensure(ok: bool, why: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(why.to_string())
    }
}

fn answered(o: &Outcome) -> Result<(), String> {
    ensure(o.error.is_none(), "the call failed")?;
    ensure(!o.content.trim().is_empty(), "no content")?;
    ensure(o.usage_in > 0 && o.usage_out > 0, "usage missing")
}

fn parallel_calls(o: &Outcome) -> Result<(), String> {
    ensure(o.error.is_none(), "the call failed")?;
    ensure(o.calls.len() >= 2, "fewer than two tool calls")?;
    for (id, name, args) in &o.calls {
        ensure(!id.is_empty() && name == "secret_retrieval_tool", "tool call without id or with the wrong name")?;
        let v: Value = serde_json::from_str(args).map_err(|_| format!("arguments are not JSON: {args}"))?;
        ensure(v.get("password").is_some_and(Value::is_string), "arguments lack the required `password`")?;
    }
    ensure(o.finish.as_deref() == Some("tool_calls"), "finish_reason is not tool_calls")
}

/// Streams: several chunks, and the usage chunk last whenever the provider reported usage (some
/// recordings were made without `include_usage`, which the gateway itself always asks for).
fn stream_shape(o: &Outcome) -> Result<(), String> {
    ensure(o.chunks > 2, "not streamed in several chunks")?;
    ensure(!o.usage_seen || o.usage_chunk_last, "the usage chunk is not last")
}

/// The form a provider takes documents in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// Anthropic: `{type: document, source: {type: base64, media_type: application/pdf, data}}`.
    AnthropicBlock,
    /// Gemini and Vertex: `{inlineData: {mimeType: application/pdf, data}}`.
    InlineData,
    /// Bedrock Converse: `{document: {format: pdf, name, source: {bytes}}}`.
    ConverseBlock,
    /// OpenAI and Azure: `{type: file, file: {file_data: data:application/pdf;base64,…, filename}}`.
    FilePart,
}

impl Document {
    /// Whether `v` is the PDF in this form.
    fn holds_pdf(self, v: &Value) -> bool {
        match self {
            Document::AnthropicBlock => {
                v["type"] == "document" && v["source"] == json!({"type": "base64", "media_type": "application/pdf", "data": PDF_B64})
            }
            Document::InlineData => v["inlineData"] == json!({"mimeType": "application/pdf", "data": PDF_B64}),
            Document::ConverseBlock => {
                let d = &v["document"];
                d["format"] == "pdf" && d["name"].as_str().is_some_and(|n| !n.is_empty()) && d["source"] == json!({"bytes": PDF_B64})
            }
            Document::FilePart => {
                v["type"] == "file"
                    && v["file"]["file_data"] == format!("data:application/pdf;base64,{PDF_B64}").as_str()
                    && v["file"]["filename"] == PDF_NAME
            }
        }
    }
}

/// Whether any object in `v` satisfies `found`.
fn anywhere(v: &Value, found: &dyn Fn(&Value) -> bool) -> bool {
    found(v)
        || match v {
            Value::Array(items) => items.iter().any(|i| anywhere(i, found)),
            Value::Object(fields) => fields.values().any(|f| anywhere(f, found)),
            _ => false,
        }
}

fn pdf_sent(o: &Outcome) -> Result<(), String> {
    let Some(form) = o.document else { return Err("the provider's document form is not declared".into()) };
    let sent: Value = serde_json::from_str(&o.sent).map_err(|_| "the upstream request is not JSON".to_string())?;
    ensure(anywhere(&sent, &|v| form.holds_pdf(v)), &format!("the PDF did not reach the provider as {form:?}"))
}

pub const SCENARIOS: &[Scenario] = &[
    Scenario { id: "plain", title: "plain text", check: answered, checks: "content, `finish_reason: stop`, usage" },
    Scenario {
        id: "plain-stream",
        title: "plain text · stream",
        check: |o| {
            ensure(o.error.is_none(), "the call failed")?;
            ensure(!o.content.trim().is_empty(), "no content")?;
            ensure(o.finish.is_some(), "no finish_reason")?;
            stream_shape(o)
        },
        checks: "deltas accumulate to the content; finish reason; the usage chunk last when usage was reported",
    },
    Scenario {
        id: "tools",
        title: "parallel tool calls",
        check: parallel_calls,
        checks: "≥ 2 tool calls with id, name and JSON arguments holding the required field; `finish_reason: tool_calls`",
    },
    Scenario {
        id: "tools-stream",
        title: "parallel tool calls · stream",
        check: |o| {
            parallel_calls(o)?;
            stream_shape(o)?;
            ensure(o.indexes_in_order, "tool-call indexes are not 0, 1, … in order of appearance with id and name on the first fragment")
        },
        checks: "the same, accumulated from fragments by `index`; id, type and name on each call's first fragment",
    },
    Scenario {
        id: "round-trip",
        title: "tool-result round trip",
        check: |o| {
            answered(o)?;
            ensure(o.sent.contains("Welcome to Moria!") && o.sent.contains("Life before Death"), "tool results not sent upstream")
        },
        checks: "assistant tool calls and both tool results reach the provider in its format; the final answer comes back",
    },
    Scenario {
        id: "reasoning",
        title: "reasoning",
        check: |o| {
            ensure(o.error.is_none(), "the call failed")?;
            ensure(!o.reasoning.is_empty() || o.reasoning_tokens > 0, "neither reasoning text nor reasoning tokens")
        },
        checks: "`reasoning_content` (or, where the provider hides it, reasoning tokens in usage)",
    },
    Scenario {
        id: "reasoning-stream",
        title: "reasoning · stream",
        check: |o| {
            ensure(o.error.is_none(), "the call failed")?;
            ensure(!o.reasoning.is_empty(), "no reasoning_content deltas")?;
            ensure(!o.content.is_empty(), "no answer after the reasoning")
        },
        checks: "`reasoning_content` deltas, then the answer",
    },
    Scenario {
        id: "image",
        title: "image input",
        check: |o| {
            answered(o)?;
            ensure(o.sent.contains(PNG_B64), "the image bytes did not reach the provider")
        },
        checks: "a data-URL image (Responses: `input_image`) reaches the provider in its own image format",
    },
    Scenario {
        id: "pdf",
        title: "PDF input",
        check: |o| {
            answered(o)?;
            pdf_sent(o)
        },
        checks: "a base64 PDF (OpenAI `file` part / Messages `document` block / Responses `input_file`) reaches the provider whole in its own document form \
                 (Anthropic `document` block, Gemini/Vertex `inlineData` application/pdf, Bedrock `document` {format pdf, name, \
                 source.bytes}, OpenAI/Azure the `file` part with its filename); the answer comes back",
    },
    Scenario {
        id: "structured",
        title: "structured output",
        check: |o| {
            answered(o)?;
            let v: Value = serde_json::from_str(o.content.trim()).map_err(|_| "content is not JSON".to_string())?;
            ensure(v.is_object(), "content is not a JSON object")
        },
        checks: "`response_format: json_schema` (Messages: `output_config.format`; Responses: `text.format`) is sent in the provider's form; the content parses \
                 as the JSON object",
    },
    Scenario {
        id: "cached",
        title: "usage with cached tokens",
        check: |o| {
            ensure(o.error.is_none(), "the call failed")?;
            ensure(o.cached > 0, "no cached tokens reported")?;
            ensure(o.usage_in >= o.cached, "prompt_tokens must include the cached tokens")
        },
        checks: "`prompt_tokens_details.cached_tokens` > 0 and included in `prompt_tokens`",
    },
    Scenario {
        id: "rate-limited",
        title: "429 rate limited",
        check: |o| ensure(o.error == Some(ErrorKind::RateLimited), "not classified as rate limited"),
        checks: "classified `rate_limited` (→ 429 with `Retry-After` when the provider sent one)",
    },
    Scenario {
        id: "server-error",
        title: "5xx",
        check: |o| ensure(matches!(o.error, Some(ErrorKind::Server | ErrorKind::Overloaded)), "not classified as a server failure"),
        checks: "classified `server` / `overloaded` (→ 502/503, retryable)",
    },
    Scenario {
        id: "malformed-stream",
        title: "malformed stream",
        check: |o| ensure(matches!(o.error, Some(ErrorKind::Malformed | ErrorKind::Interrupted)), "garbage in a stream was not an error"),
        checks: "unreadable stream data ends the stream with an error, never a clean end",
    },
    Scenario {
        id: "mid-stream-error",
        title: "mid-stream error event",
        check: |o| {
            ensure(
                matches!(o.error, Some(ErrorKind::Overloaded | ErrorKind::RateLimited | ErrorKind::Server)),
                "an error event was not surfaced",
            )
        },
        checks: "the provider's in-stream error event ends the stream with a classified error",
    },
    Scenario {
        id: "forwarded",
        title: "Messages body forwarded as sent",
        check: |o| {
            answered(o)?;
            ensure(o.forwarded, "the request was not compared with what the upstream received")
        },
        checks: "a Messages request full of what has no canonical equivalent (`cache_control`, a server tool, `container`, \
                 `metadata.user_id`, a `redacted_thinking` turn) reaches a target that speaks the Messages API byte for byte \
                 (`model` aside; Vertex and Bedrock also get `anthropic_version`, Bedrock's InvokeModel takes `stream` in its path). Every other \
                 Messages cell of such a target checks the same",
    },
];
