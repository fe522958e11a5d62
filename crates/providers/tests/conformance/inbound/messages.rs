//! Anthropic Messages (`POST /v1/messages`): each scenario as an Anthropic client writes it,
//! decoded as the gateway does (`to_chat`, with the original riding along as `Native`), the
//! answer written back by `from_completion` / `Events` and read the way an Anthropic SDK reads
//! it — every rule of the Messages shape checked on the way.

use serde_json::{json, Value};
use switchyard_protocol::anthropic::{from_completion, native, to_chat, Event, Events};
use switchyard_protocol::openai::ChatRequest;
use switchyard_protocol::NativeApi;

use super::{Inbound, Request, ServedBy};
use crate::outcome::{Answer, Outcome};
use crate::scenarios::{PDF_B64, PDF_NAME, PNG_B64};

pub fn inbound() -> Inbound {
    Inbound {
        title: "Anthropic Messages — `POST /v1/messages`",
        reads: "the Anthropic-shaped answer `from_completion` / `Events` wrote, read as an Anthropic SDK reads it: text blocks → content, \
                thinking blocks → reasoning (the signature field present), `tool_use` blocks → tool calls (their `input` an object; streamed, the \
                `input_json_delta` fragments must parse), `stop_reason` `end_turn` / `tool_use` / `max_tokens` → `stop` / `tool_calls` / \
                `length`, `input_tokens` + `cache_read_input_tokens` + `cache_creation_input_tokens` → prompt tokens, `cache_read_input_tokens` \
                → cached. Reasoning tokens, which the Messages API has no field for, are the canonical answer's. A stream must be \
                `message_start`, then per block `content_block_start` / `_delta`… / `_stop` with indexes 0, 1, … and deltas of the block's \
                kind, then `message_delta` (stop reason, usage) and `message_stop` last — and neither of these two after an error",
        native: Some(NativeApi::AnthropicMessages),
        request,
        decode,
        read,
    }
}

/// As the gateway decodes `POST /v1/messages`.
fn decode(body: &[u8]) -> ChatRequest {
    let mut request = ChatRequest::parse(&to_chat(body).expect("scenario requests translate")).expect("the translation is a valid request");
    request.set_native(native(body).expect("scenario requests are objects"));
    request
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn tools() -> Value {
    json!([{"name": "secret_retrieval_tool", "description": "A tool that requires a password to retrieve a secret.",
        "input_schema": {"type": "object", "properties": {"password": {"type": "string"}}, "required": ["password"]}}])
}

fn plain() -> Value {
    json!({"model": "m", "max_tokens": 1024, "messages": user("What is 4200 + 42?")})
}
fn tool_request() -> Value {
    json!({"model": "m", "max_tokens": 1024, "tools": tools(), "tool_choice": {"type": "auto"},
        "messages": user("Retrieve the secrets for each password: mellon,radiance")})
}
fn round_trip() -> Value {
    json!({"model": "m", "max_tokens": 1024, "tools": tools(), "messages": [
        {"role": "user", "content": "Retrieve the secrets for each password: mellon,radiance"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "secret_retrieval_tool", "input": {"password": "mellon"}},
            {"type": "tool_use", "id": "toolu_2", "name": "secret_retrieval_tool", "input": {"password": "radiance"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Welcome to Moria!"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "Life before Death"}]}]}]})
}
fn reasoning() -> Value {
    // A budget of 8000 tokens is a `medium` reasoning effort for a target that takes efforts.
    json!({"model": "m", "max_tokens": 16000, "thinking": {"type": "enabled", "budget_tokens": 8000},
        "messages": user("How many primes below 400 contain 79 as a substring?")})
}
fn image() -> Value {
    json!({"model": "m", "max_tokens": 1024, "messages": [{"role": "user", "content": [{"type": "text", "text": "What is in this image?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}]}]})
}
fn pdf() -> Value {
    json!({"model": "m", "max_tokens": 1024, "messages": [{"role": "user", "content": [
        {"type": "document", "title": PDF_NAME, "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64}},
        {"type": "text", "text": "What does this document say?"}]}]})
}
/// Structured output is `output_config.format`, which only Anthropic's own API serves (not
/// Claude on Vertex AI, and nothing in the canonical request says it).
fn structured() -> Value {
    json!({"model": "m", "max_tokens": 1024, "messages": user("Extract the order item"), "output_config": {"format": {"type": "json_schema",
        "schema": {"type": "object", "properties": {"product_name": {"type": "string"}, "price": {"type": "number"}, "quantity": {"type": "integer"}},
                   "required": ["product_name", "price", "quantity"], "additionalProperties": false}}}})
}
/// What Claude Code sends, with every field the canonical request has no place for.
fn anthropic_own() -> Value {
    json!({"model": "m", "max_tokens": 1024, "container": "container_011CQ",
        "system": [{"type": "text", "text": "You are a careful assistant.", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}],
        "metadata": {"user_id": "user-42"},
        "messages": [
            {"role": "user", "content": "What is 4200?"},
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}, {"type": "text", "text": "4200."}]},
            {"role": "user", "content": [{"type": "text", "text": "And plus 42?", "cache_control": {"type": "ephemeral", "ttl": "5m"}}]}]})
}
fn streamed(mut v: Value) -> Value {
    v["stream"] = json!(true);
    v
}

fn request(scenario: &str) -> Option<Request> {
    match scenario {
        "structured" => Request::served_by(ServedBy::Provider("anthropic"), structured()),
        "forwarded" => Request::served_by(ServedBy::Native, anthropic_own()),
        _ => Request::translated(match scenario {
            "plain" | "cached" | "rate-limited" | "server-error" => plain(),
            "plain-stream" | "malformed-stream" | "mid-stream-error" => streamed(plain()),
            "tools" => tool_request(),
            "tools-stream" => streamed(tool_request()),
            "round-trip" => round_trip(),
            "reasoning" => reasoning(),
            "reasoning-stream" => streamed(reasoning()),
            "image" => image(),
            "pdf" => pdf(),
            _ => return None,
        }),
    }
}

fn read(_request: &[u8], answer: &Answer) -> Outcome {
    let mut o = Outcome::new();
    match answer {
        Answer::Failed(kind) => o.error = Some(*kind),
        Answer::Complete(body) => {
            o.reasoning_tokens = reasoning_tokens(body);
            match serde_json::from_slice::<Value>(&from_completion(body)) {
                Ok(m) => message(&mut o, &m),
                Err(_) => o.shape.push("the message is not JSON".into()),
            }
        }
        Answer::Stream { chunks, error } => {
            let mut events = Events::new();
            let mut out = Vec::new();
            for (data, _) in chunks {
                o.reasoning_tokens = o.reasoning_tokens.max(reasoning_tokens(data));
                events.chunk(data, &mut out);
            }
            o.error = *error;
            // The gateway ends the message only when the upstream finished properly.
            if error.is_none() {
                events.done(&mut out);
            }
            stream(&mut o, &out);
        }
    }
    o
}

/// The canonical answer's reasoning tokens, which the Messages API has no field for.
fn reasoning_tokens(canonical: &[u8]) -> u64 {
    serde_json::from_slice::<Value>(canonical)
        .ok()
        .and_then(|v| v["usage"]["completion_tokens_details"]["reasoning_tokens"].as_u64())
        .unwrap_or(0)
}

fn check(o: &mut Outcome, ok: bool, why: impl FnOnce() -> String) {
    if !ok {
        o.shape.push(why());
    }
}

const STOP_REASONS: &[&str] = &["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"];

/// `stop_reason` in OpenAI's terms, for the shared checks.
fn stop_reason(o: &mut Outcome, reason: &Value) {
    let r = reason.as_str().unwrap_or("");
    check(o, STOP_REASONS.contains(&r), || format!("stop_reason {reason} is not one of Anthropic's"));
    o.finish = Some(
        match r {
            "end_turn" | "stop_sequence" => "stop",
            "tool_use" => "tool_calls",
            "max_tokens" => "length",
            "refusal" => "content_filter",
            other => other,
        }
        .to_string(),
    );
}

fn usage(o: &mut Outcome, u: &Value) {
    let n = |k: &str| u[k].as_u64();
    check(o, n("input_tokens").is_some() && n("output_tokens").is_some(), || format!("usage lacks input_tokens or output_tokens: {u}"));
    let (read, write) = (n("cache_read_input_tokens").unwrap_or(0), n("cache_creation_input_tokens").unwrap_or(0));
    o.usage_in = n("input_tokens").unwrap_or(0) + read + write;
    o.usage_out = n("output_tokens").unwrap_or(0);
    o.cached = read;
}

/// One tool call from a `tool_use` block's id, name and (parsed) input.
fn tool_use(o: &mut Outcome, id: &Value, name: &Value, input: &Value) {
    check(o, id.as_str().is_some_and(|i| !i.is_empty()) && name.as_str().is_some_and(|n| !n.is_empty()), || {
        format!("a tool_use block without id or name: {id} {name}")
    });
    check(o, input.is_object(), || format!("tool_use input is not an object: {input}"));
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    o.calls.push((text(id), text(name), input.to_string()));
}

fn message(o: &mut Outcome, m: &Value) {
    check(o, m["type"] == "message" && m["role"] == "assistant", || format!("not an assistant message: {m}"));
    check(o, m["id"].as_str().is_some_and(|i| i.starts_with("msg_")), || format!("id {} is not a msg_ id", m["id"]));
    for block in m["content"].as_array().into_iter().flatten() {
        match block["type"].as_str().unwrap_or("") {
            "text" => o.content += block["text"].as_str().unwrap_or(""),
            "thinking" => {
                check(o, block["signature"].is_string(), || "a thinking block without its signature field".into());
                o.reasoning += block["thinking"].as_str().unwrap_or("");
            }
            "tool_use" => tool_use(o, &block["id"], &block["name"], &block["input"]),
            other => o.shape.push(format!("unexpected content block type `{other}`")),
        }
    }
    stop_reason(o, &m["stop_reason"]);
    usage(o, &m["usage"]);
}

/// Reads the events as an SDK does, checking their order.
fn stream(o: &mut Outcome, events: &[Event]) {
    let names: Vec<&str> = events.iter().map(|(n, _)| *n).collect();
    o.chunks = events.len();
    if events.is_empty() && o.error.is_some() {
        // Failed before the first chunk: the gateway answers with an error status, not a stream.
        return;
    }
    for (name, data) in events {
        check(o, data["type"] == *name, || format!("event `{name}` carries type {}", data["type"]));
    }
    check(o, names.first() == Some(&"message_start"), || format!("the stream does not begin with message_start: {names:?}"));
    if let Some((_, start)) = events.first() {
        let m = &start["message"];
        check(o, m["role"] == "assistant" && m["content"] == json!([]), || format!("message_start has no empty assistant message: {m}"));
        check(o, m["id"].as_str().is_some_and(|i| i.starts_with("msg_")), || format!("id {} is not a msg_ id", m["id"]));
    }
    let ended = names.ends_with(&["message_delta", "message_stop"]);
    if o.error.is_some() {
        check(o, !names.contains(&"message_stop") && !names.contains(&"message_delta"), || {
            "a failed stream was ended as a whole message".into()
        });
    } else {
        check(o, ended, || format!("the stream does not end with message_delta, message_stop: {names:?}"));
    }
    // (kind, index, accumulated tool input, id, name) of the open block.
    let mut open: Option<(String, u64, String, Value, Value)> = None;
    let mut next = 0;
    for (name, data) in events.iter().skip(1) {
        match *name {
            "content_block_start" => {
                let block = &data["content_block"];
                let kind = block["type"].as_str().unwrap_or("").to_string();
                if open.is_some() || data["index"].as_u64() != Some(next) {
                    o.indexes_in_order = false;
                }
                if kind == "tool_use" {
                    check(o, block["input"] == json!({}), || format!("tool_use starts with input {}", block["input"]));
                    if block["id"].as_str().is_none_or(str::is_empty) || !block["name"].is_string() {
                        o.indexes_in_order = false;
                    }
                }
                check(o, ["text", "thinking", "tool_use"].contains(&kind.as_str()), || format!("unexpected block type `{kind}`"));
                open = Some((kind, next, String::new(), block["id"].clone(), block["name"].clone()));
                next += 1;
            }
            "content_block_delta" => {
                let Some((kind, at, input, _, _)) = open.as_mut() else {
                    o.shape.push("a delta outside any block".into());
                    continue;
                };
                if data["index"].as_u64() != Some(*at) {
                    o.indexes_in_order = false;
                }
                let delta = &data["delta"];
                match (kind.as_str(), delta["type"].as_str().unwrap_or("")) {
                    ("text", "text_delta") => o.content += delta["text"].as_str().unwrap_or(""),
                    ("thinking", "thinking_delta") => o.reasoning += delta["thinking"].as_str().unwrap_or(""),
                    ("thinking", "signature_delta") => {}
                    ("tool_use", "input_json_delta") => input.push_str(delta["partial_json"].as_str().unwrap_or("")),
                    (kind, other) => o.shape.push(format!("a `{other}` delta in a {kind} block")),
                }
            }
            "content_block_stop" => match open.take() {
                Some((kind, at, input, id, name)) => {
                    check(o, data["index"].as_u64() == Some(at), || {
                        format!("content_block_stop for index {} closes block {at}", data["index"])
                    });
                    if kind == "tool_use" {
                        let parsed = if input.is_empty() { json!({}) } else { serde_json::from_str(&input).unwrap_or(Value::Null) };
                        tool_use(o, &id, &name, &parsed);
                    }
                }
                None => o.shape.push("content_block_stop with no block open".into()),
            },
            "message_delta" => {
                check(o, open.is_none(), || "message_delta with a block still open".into());
                stop_reason(o, &data["delta"]["stop_reason"]);
                if data["usage"].is_object() {
                    o.usage_seen = true;
                    usage(o, &data["usage"]);
                }
            }
            "message_stop" => o.usage_chunk_last = o.usage_seen && ended,
            other => o.shape.push(format!("unexpected event `{other}`")),
        }
    }
}
