//! The canonical answer (an OpenAI `chat.completion`) → a Response object, and the pieces the
//! stream writer shares with it: item ids, output items, usage, status, and the answer as a
//! canonical assistant message (what a stored conversation continues from).

use serde_json::{json, Map, Value};

/// What one response's object needs besides the answer: its id, its creation time, and the
/// request fields it echoes.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseContext {
    /// `resp_…`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    pub echo: Map<String, Value>,
}

impl ResponseContext {
    /// An output item's id: `{prefix}_{the response id's own part}_{n}`.
    pub fn item_id(&self, prefix: &str, n: usize) -> String {
        format!("{prefix}_{}_{n}", self.own_id())
    }

    /// An input item's id (the client sent none): `{prefix}_{the response id's own part}_in{n}`.
    pub fn input_item_id(&self, prefix: &str, n: usize) -> String {
        format!("{prefix}_{}_in{n}", self.own_id())
    }

    fn own_id(&self) -> &str {
        self.id.strip_prefix("resp_").unwrap_or(&self.id)
    }

    /// The Response object around `output`.
    pub fn object(&self, model: &str, status: &str, output: Vec<Value>, usage: Option<Value>) -> Value {
        let mut o = json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": null,
            "incomplete_details": null,
            "model": model,
            "output": output,
            "usage": usage,
        });
        let map = o.as_object_mut().expect("an object literal");
        for (k, v) in &self.echo {
            map.insert(k.clone(), v.clone());
        }
        o
    }
}

/// The status and incomplete details a canonical `finish_reason` means.
pub fn status(finish: Option<&str>) -> (&'static str, Value) {
    match finish {
        Some("length") => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some("content_filter") => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// Responses usage from canonical (OpenAI Chat) usage.
pub fn usage(u: &Value) -> Value {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let (input, output) = (n(&u["prompt_tokens"]), n(&u["completion_tokens"]));
    json!({
        "input_tokens": input,
        "input_tokens_details": {
            "cached_tokens": n(&u["prompt_tokens_details"]["cached_tokens"]),
            "cache_write_tokens": n(&u["prompt_tokens_details"]["cache_write_tokens"]),
        },
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": n(&u["completion_tokens_details"]["reasoning_tokens"])},
        "total_tokens": u["total_tokens"].as_u64().unwrap_or(input + output),
    })
}

pub fn reasoning_item(id: &str, text: &str, signature: Option<&str>) -> Value {
    let summary = if text.is_empty() { json!([]) } else { json!([{"type": "summary_text", "text": text}]) };
    json!({"id": id, "type": "reasoning", "summary": summary, "encrypted_content": signature, "status": "completed"})
}

pub fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

pub fn message_item(id: &str, text: &str, status: &str) -> Value {
    let content = if status == "in_progress" { json!([]) } else { json!([text_part(text)]) };
    json!({"id": id, "type": "message", "status": status, "role": "assistant", "content": content})
}

pub fn function_call_item(id: &str, call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({"id": id, "type": "function_call", "call_id": call_id, "name": name, "arguments": arguments, "status": status})
}

/// The answer's output items: reasoning, the message, then function calls.
pub fn output(ctx: &ResponseContext, message: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let reasoning = message["reasoning_content"].as_str().unwrap_or("");
    let signature = message["reasoning_signature"].as_str();
    if !reasoning.is_empty() || signature.is_some() {
        out.push(reasoning_item(&ctx.item_id("rs", out.len()), reasoning, signature));
    }
    let text: String = ["content", "refusal"].iter().filter_map(|k| message[*k].as_str()).collect();
    let calls = message["tool_calls"].as_array().map_or(&[][..], Vec::as_slice);
    if !text.is_empty() || calls.is_empty() {
        out.push(message_item(&ctx.item_id("msg", out.len()), &text, "completed"));
    }
    for call in calls {
        let f = &call["function"];
        let (name, args) = (f["name"].as_str().unwrap_or(""), f["arguments"].as_str().unwrap_or(""));
        out.push(function_call_item(&ctx.item_id("fc", out.len()), call["id"].as_str().unwrap_or(""), name, args, "completed"));
    }
    out
}

/// The answer as the canonical assistant message a later turn is sent with.
pub fn assistant_message(message: &Value) -> Value {
    let text: String = ["content", "refusal"].iter().filter_map(|k| message[*k].as_str()).collect();
    let calls = message["tool_calls"].as_array().filter(|c| !c.is_empty());
    let mut m = json!({"role": "assistant", "content": if text.is_empty() && calls.is_some() { Value::Null } else { json!(text) }});
    if let Some(calls) = calls {
        let calls: Vec<Value> = calls
            .iter()
            .map(|c| json!({"id": c["id"], "type": "function", "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}}))
            .collect();
        m["tool_calls"] = Value::Array(calls);
    }
    for key in ["reasoning_content", "reasoning_signature"] {
        if let Some(v) = message[key].as_str().filter(|v| !v.is_empty()) {
            m[key] = json!(v);
        }
    }
    m
}

/// A complete answer, written as a Response, and the assistant message a stored conversation
/// keeps. A body that is not a completion (it cannot be: the pipeline wrote it) gives an empty
/// response rather than a panic.
pub fn from_completion(ctx: &ResponseContext, body: &[u8]) -> (Value, Value) {
    let c: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let choice = &c["choices"][0];
    let message = &choice["message"];
    let (status, incomplete) = status(choice["finish_reason"].as_str());
    let usage = c.get("usage").filter(|u| u.is_object()).map(usage);
    let mut object = ctx.object(c["model"].as_str().unwrap_or(""), status, output(ctx, message), usage);
    object["incomplete_details"] = incomplete;
    (object, assistant_message(message))
}

/// Input items as `GET /v1/responses/{id}/input_items` lists them: each with an id.
pub fn listed_input_items(ctx: &ResponseContext, items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut item = item.clone();
            if item.get("type").is_none() {
                item["type"] = json!("message");
            }
            if item["type"] == "message" {
                if let Some(text) = item["content"].as_str().map(str::to_string) {
                    item["content"] = json!([{"type": "input_text", "text": text}]);
                }
                if item.get("status").is_none() {
                    item["status"] = json!("completed");
                }
            }
            if item.get("id").is_none_or(Value::is_null) {
                let prefix = match item["type"].as_str() {
                    Some("function_call") => "fc",
                    Some("function_call_output") => "fco",
                    Some("reasoning") => "rs",
                    _ => "msg",
                };
                item["id"] = json!(ctx.input_item_id(prefix, i));
            }
            item
        })
        .collect()
}
