//! The scenarios: the OpenAI request a client sends and what its answer must show.

use serde_json::{json, Value};
use switchyard_providers::ErrorKind;

use crate::outcome::Outcome;

pub struct Scenario {
    pub id: &'static str,
    pub title: &'static str,
    pub request: fn() -> Value,
    pub check: fn(&Outcome) -> Result<(), String>,
    pub checks: &'static str,
}

fn ensure(ok: bool, why: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(why.to_string())
    }
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "secret_retrieval_tool", "description": "A tool that requires a password to retrieve a secret.",
        "parameters": {"type": "object", "properties": {"password": {"type": "string"}}, "required": ["password"]}}}])
}

/// A 1×1 PNG.
pub const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

fn plain() -> Value {
    json!({"model": "m", "messages": user("What is 4200 + 42?")})
}
fn tool_request() -> Value {
    json!({"model": "m", "max_tokens": 1024, "tools": tools(), "messages": user("Retrieve the secrets for each password: mellon,radiance")})
}
fn round_trip() -> Value {
    json!({"model": "m", "max_tokens": 1024, "tools": tools(), "messages": [
        {"role": "user", "content": "Retrieve the secrets for each password: mellon,radiance"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "secret_retrieval_tool", "arguments": "{\"password\":\"mellon\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "secret_retrieval_tool", "arguments": "{\"password\":\"radiance\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Welcome to Moria!"},
        {"role": "tool", "tool_call_id": "call_2", "content": "Life before Death"}]})
}
fn reasoning() -> Value {
    json!({"model": "m", "max_completion_tokens": 16000, "reasoning_effort": "medium", "messages": user("How many primes below 400 contain 79 as a substring?")})
}
fn image() -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG_B64}")}}]}]})
}
fn structured() -> Value {
    json!({"model": "m", "messages": user("Extract the order item"), "response_format": {"type": "json_schema", "json_schema": {"name": "OrderItem", "strict": true,
        "schema": {"type": "object", "properties": {"product_name": {"type": "string"}, "price": {"type": "number"}, "quantity": {"type": "integer"}},
                   "required": ["product_name", "price", "quantity"], "additionalProperties": false}}}})
}
fn streamed(mut v: Value) -> Value {
    v["stream"] = json!(true);
    v["stream_options"] = json!({"include_usage": true});
    v
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

pub const SCENARIOS: &[Scenario] = &[
    Scenario { id: "plain", title: "plain text", request: plain, check: answered, checks: "content, `finish_reason: stop`, usage" },
    Scenario {
        id: "plain-stream",
        title: "plain text · stream",
        request: || streamed(plain()),
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
        request: tool_request,
        check: parallel_calls,
        checks: "≥ 2 tool calls with id, name and JSON arguments holding the required field; `finish_reason: tool_calls`",
    },
    Scenario {
        id: "tools-stream",
        title: "parallel tool calls · stream",
        request: || streamed(tool_request()),
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
        request: round_trip,
        check: |o| {
            answered(o)?;
            ensure(o.sent.contains("Welcome to Moria!") && o.sent.contains("Life before Death"), "tool results not sent upstream")
        },
        checks: "assistant tool calls and both tool results reach the provider in its format; the final answer comes back",
    },
    Scenario {
        id: "reasoning",
        title: "reasoning",
        request: reasoning,
        check: |o| {
            ensure(o.error.is_none(), "the call failed")?;
            ensure(!o.reasoning.is_empty() || o.reasoning_tokens > 0, "neither reasoning text nor reasoning tokens")
        },
        checks: "`reasoning_content` (or, where the provider hides it, reasoning tokens in usage)",
    },
    Scenario {
        id: "reasoning-stream",
        title: "reasoning · stream",
        request: || streamed(reasoning()),
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
        request: image,
        check: |o| {
            answered(o)?;
            ensure(o.sent.contains(PNG_B64), "the image bytes did not reach the provider")
        },
        checks: "a data-URL image reaches the provider in its own image format",
    },
    Scenario {
        id: "structured",
        title: "structured output",
        request: structured,
        check: |o| {
            answered(o)?;
            let v: Value = serde_json::from_str(o.content.trim()).map_err(|_| "content is not JSON".to_string())?;
            ensure(v.is_object(), "content is not a JSON object")
        },
        checks: "`response_format: json_schema` is sent in the provider's form; the content parses as the JSON object",
    },
    Scenario {
        id: "cached",
        title: "usage with cached tokens",
        request: plain,
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
        request: plain,
        check: |o| ensure(o.error == Some(ErrorKind::RateLimited), "not classified as rate limited"),
        checks: "classified `rate_limited` (→ 429 with `Retry-After` when the provider sent one)",
    },
    Scenario {
        id: "server-error",
        title: "5xx",
        request: plain,
        check: |o| ensure(matches!(o.error, Some(ErrorKind::Server | ErrorKind::Overloaded)), "not classified as a server failure"),
        checks: "classified `server` / `overloaded` (→ 502/503, retryable)",
    },
    Scenario {
        id: "malformed-stream",
        title: "malformed stream",
        request: || streamed(plain()),
        check: |o| ensure(matches!(o.error, Some(ErrorKind::Malformed | ErrorKind::Interrupted)), "garbage in a stream was not an error"),
        checks: "unreadable stream data ends the stream with an error, never a clean end",
    },
    Scenario {
        id: "mid-stream-error",
        title: "mid-stream error event",
        request: || streamed(plain()),
        check: |o| {
            ensure(
                matches!(o.error, Some(ErrorKind::Overloaded | ErrorKind::RateLimited | ErrorKind::Server)),
                "an error event was not surfaced",
            )
        },
        checks: "the provider's in-stream error event ends the stream with a classified error",
    },
];
