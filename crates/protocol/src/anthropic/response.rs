//! The canonical answer (an OpenAI `chat.completion`) → an Anthropic `message`.

use serde_json::{json, Value};

/// Anthropic's `stop_reason` for a canonical `finish_reason`.
pub fn stop_reason(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// `msg_…` ids as Anthropic's clients expect them; an Anthropic upstream's id is kept.
pub fn message_id(id: &str) -> String {
    if id.starts_with("msg_") {
        id.to_string()
    } else {
        format!("msg_{id}")
    }
}

/// Anthropic's usage from OpenAI's: `input_tokens` excludes cache reads and writes, which are
/// reported apart.
pub fn usage(u: &Value) -> Value {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let details = &u["prompt_tokens_details"];
    let (read, write) = (n(&details["cached_tokens"]), n(&details["cache_write_tokens"]));
    json!({
        "input_tokens": n(&u["prompt_tokens"]).saturating_sub(read).saturating_sub(write),
        "output_tokens": n(&u["completion_tokens"]),
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
    })
}

/// A tool call's JSON arguments as the object Anthropic's `input` is; arguments that are not an
/// object (a model's broken JSON) are kept under `_raw` rather than lost.
pub fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ if arguments.trim().is_empty() => json!({}),
        _ => json!({"_raw": arguments}),
    }
}

/// The whole answer. A body that is not a completion (it cannot be: the pipeline wrote it) is
/// answered with an empty message rather than a panic.
pub fn from_completion(body: &[u8]) -> Vec<u8> {
    let c: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let choice = &c["choices"][0];
    let message = &choice["message"];
    let mut content = Vec::new();
    if let Some(thinking) = message["reasoning_content"].as_str().filter(|t| !t.is_empty()) {
        content.push(json!({"type": "thinking", "thinking": thinking, "signature": message["reasoning_signature"].as_str().unwrap_or("")}));
    }
    for data in message["reasoning_redacted"].as_array().into_iter().flatten() {
        content.push(json!({"type": "redacted_thinking", "data": data}));
    }
    for key in ["content", "refusal"] {
        if let Some(text) = message[key].as_str().filter(|t| !t.is_empty()) {
            content.push(json!({"type": "text", "text": text}));
        }
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let f = &call["function"];
        content.push(json!({
            "type": "tool_use",
            "id": call["id"].as_str().unwrap_or(""),
            "name": f["name"].as_str().unwrap_or(""),
            "input": tool_input(f["arguments"].as_str().unwrap_or("")),
        }));
    }
    let stop = if message["refusal"].is_string() { "refusal" } else { stop_reason(choice["finish_reason"].as_str()) };
    let out = json!({
        "id": message_id(c["id"].as_str().unwrap_or("")),
        "type": "message",
        "role": "assistant",
        "model": c["model"].as_str().unwrap_or(""),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": usage(&c["usage"]),
    });
    serde_json::to_vec(&out).expect("a JSON value serialises")
}
