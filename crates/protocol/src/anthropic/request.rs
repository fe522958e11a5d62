//! An Anthropic Messages request → the canonical (OpenAI Chat Completions) request.
//!
//! Read leniently: what has no canonical equivalent (server tools, `redacted_thinking`, citations,
//! `cache_control`, `container`, …) is left out of the translation — a target served by Anthropic
//! itself gets the original body instead (see `Native`), so nothing is lost there. What is
//! malformed (a message that is not an object, a block without its required field) is a 400
//! naming the field.

use serde_json::{json, Map, Value};

use crate::inbound::{carry_gateway_fields, field, json_object};
use crate::openai::RequestFormatError;
use crate::{Native, NativeApi, RawObject};

/// The translated body, and whether the client streams.
pub fn to_chat(body: &[u8]) -> Result<Vec<u8>, RequestFormatError> {
    let request = json_object(body)?;
    let mut out = Map::new();
    match request.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => out.insert("model".into(), json!(m)),
        _ => return Err(field("model", "`model` is required: a model name or alias")),
    };
    let mut messages = Vec::new();
    system(request.get("system"), &mut messages)?;
    let Some(Value::Array(turns)) = request.get("messages") else {
        return Err(field("messages", "`messages` is required: a non-empty array of messages"));
    };
    if turns.is_empty() {
        return Err(field("messages", "`messages` must contain at least one message"));
    }
    for (i, turn) in turns.iter().enumerate() {
        message(i, turn, &mut messages)?;
    }
    out.insert("messages".into(), Value::Array(messages));
    if let Some(max) = request.get("max_tokens").filter(|v| !v.is_null()) {
        if max.as_u64().is_none_or(|m| m < 1) {
            return Err(field("max_tokens", "invalid `max_tokens`: expected a whole number, 1 or more"));
        }
        out.insert("max_tokens".into(), max.clone());
    }
    for key in ["temperature", "top_p", "top_k"] {
        if let Some(v) = request.get(key).filter(|v| !v.is_null()) {
            if !v.is_number() {
                return Err(field(key, format!("invalid `{key}`: expected a number")));
            }
            out.insert(key.into(), v.clone());
        }
    }
    match request.get("stop_sequences") {
        None | Some(Value::Null) => {}
        Some(Value::Array(stops)) if stops.iter().all(Value::is_string) => {
            if !stops.is_empty() {
                out.insert("stop".into(), Value::Array(stops.clone()));
            }
        }
        Some(_) => return Err(field("stop_sequences", "invalid `stop_sequences`: expected an array of strings")),
    }
    if request.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), json!(true));
        // The message_delta event reports usage: the canonical stream must end with it.
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    tools(&request, &mut out)?;
    if let Some(effort) = thinking(request.get("thinking"))? {
        out.insert("reasoning_effort".into(), json!(effort));
    }
    metadata(request.get("metadata"), &mut out)?;
    carry_gateway_fields(&request, &mut out);
    Ok(serde_json::to_vec(&Value::Object(out)).expect("a JSON value serialises"))
}

/// The request as it came, for a target that speaks the Messages API itself: without the
/// gateway's fields, and with `metadata` reduced to Anthropic's own `user_id`.
pub fn native(body: &[u8]) -> Result<Native, RequestFormatError> {
    let mut object = RawObject::parse(body)?;
    for key in crate::inbound::GATEWAY_FIELDS {
        object.take(key);
    }
    // `metadata` stays where the client put it; it is rewritten only when it holds more than
    // Anthropic's `user_id`.
    if let Some(raw) = object.raw("metadata") {
        let metadata = serde_json::from_str::<Value>(raw.get()).ok();
        let user = metadata.as_ref().and_then(|m| m.get("user_id").cloned()).filter(|u| !u.is_null());
        match user {
            None => {
                object.take("metadata");
            }
            Some(user) if metadata.as_ref().and_then(Value::as_object).is_some_and(|m| m.len() > 1) => {
                let raw = serde_json::value::to_raw_value(&json!({"user_id": user})).expect("a JSON value serialises");
                object.set("metadata", raw);
            }
            Some(_) => {}
        }
    }
    Ok(Native { api: NativeApi::AnthropicMessages, body: object, beta: None })
}

/// `system`: a string or text blocks → one system message.
fn system(system: Option<&Value>, messages: &mut Vec<Value>) -> Result<(), RequestFormatError> {
    let text = match system {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => {
            let mut texts = Vec::new();
            for (i, b) in blocks.iter().enumerate() {
                match b.get("text").and_then(Value::as_str) {
                    Some(t) => texts.push(t),
                    None => return Err(field(format!("system[{i}]"), format!("invalid `system[{i}]`: expected a text block"))),
                }
            }
            texts.join("\n\n")
        }
        Some(_) => return Err(field("system", "invalid `system`: expected a string or an array of text blocks")),
    };
    if !text.is_empty() {
        messages.push(json!({"role": "system", "content": text}));
    }
    Ok(())
}

/// One Anthropic message → canonical messages: a user turn's tool results become `tool`
/// messages (before its other content, as OpenAI orders them); an assistant turn's thinking,
/// text and tool uses become one assistant message.
fn message(i: usize, turn: &Value, out: &mut Vec<Value>) -> Result<(), RequestFormatError> {
    let at = format!("messages[{i}]");
    let role = match turn.get("role").and_then(Value::as_str) {
        Some(r @ ("user" | "assistant")) => r,
        _ => return Err(field(format!("{at}.role"), format!("invalid `{at}.role`: expected \"user\" or \"assistant\""))),
    };
    let blocks: Vec<Value> = match turn.get("content") {
        Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
        Some(Value::Array(blocks)) => blocks.clone(),
        _ => {
            return Err(field(format!("{at}.content"), format!("invalid `{at}.content`: expected a string or an array of content blocks")))
        }
    };
    if role == "assistant" {
        out.push(assistant(&at, &blocks)?);
        return Ok(());
    }
    let mut parts = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        match kind(block) {
            "tool_result" => out.push(tool_result(&at, block)?),
            _ => {
                if let Some(part) = user_part(&at, block)? {
                    parts.push(part);
                }
            }
        }
    }
    if !parts.is_empty() {
        out.push(json!({"role": "user", "content": parts}));
    }
    Ok(())
}

fn kind(block: &Value) -> &str {
    block.get("type").and_then(Value::as_str).unwrap_or("")
}

fn text_of<'a>(at: &str, block: &'a Value) -> Result<&'a str, RequestFormatError> {
    block.get("text").and_then(Value::as_str).ok_or_else(|| field(format!("{at}.text"), format!("`{at}.text` is required: a string")))
}

/// A user content block → a canonical content part (`None`: no canonical equivalent).
fn user_part(at: &str, block: &Value) -> Result<Option<Value>, RequestFormatError> {
    Ok(match kind(block) {
        "text" => Some(json!({"type": "text", "text": text_of(at, block)?})),
        "image" => Some(json!({"type": "image_url", "image_url": {"url": source_url(at, block, "image/png")?}})),
        "document" => document(at, block)?,
        "" => return Err(field(format!("{at}.type"), format!("`{at}.type` is required"))),
        // search results, container uploads, server tool results: Anthropic's own.
        _ => None,
    })
}

/// An image or PDF source as a URL: base64 data as a `data:` URL, a URL as it is.
fn source_url(at: &str, block: &Value, default_type: &str) -> Result<String, RequestFormatError> {
    let source = block.get("source").unwrap_or(&Value::Null);
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => {
            let data = source
                .get("data")
                .and_then(Value::as_str)
                .ok_or_else(|| field(format!("{at}.source.data"), format!("`{at}.source.data` is required")))?;
            let media = source.get("media_type").and_then(Value::as_str).unwrap_or(default_type);
            Ok(format!("data:{media};base64,{data}"))
        }
        Some("url") => source
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| field(format!("{at}.source.url"), format!("`{at}.source.url` is required"))),
        _ => Err(field(format!("{at}.source"), format!("invalid `{at}.source`: expected a base64 or url source"))),
    }
}

fn document(at: &str, block: &Value) -> Result<Option<Value>, RequestFormatError> {
    let source = block.get("source").unwrap_or(&Value::Null);
    match source.get("type").and_then(Value::as_str) {
        Some("text") => Ok(source.get("data").and_then(Value::as_str).map(|t| json!({"type": "text", "text": t}))),
        Some("content") => {
            let texts: Vec<&str> =
                source.get("content").and_then(Value::as_array).into_iter().flatten().filter_map(|b| b.get("text")?.as_str()).collect();
            Ok(Some(json!({"type": "text", "text": texts.join("\n")})))
        }
        Some("base64") => {
            let name = block.get("title").and_then(Value::as_str).unwrap_or("document.pdf");
            Ok(Some(json!({"type": "file", "file": {"file_data": source_url(at, block, "application/pdf")?, "filename": name}})))
        }
        Some("url") => Err(field(
            format!("{at}.source"),
            format!("`{at}.source`: a document by URL can only be sent to a model served by Anthropic; send it as base64"),
        )),
        _ => Err(field(format!("{at}.source"), format!("invalid `{at}.source`: expected a base64, text, content or url source"))),
    }
}

/// `tool_result` → a `tool` message; its content (a string or blocks) as text.
fn tool_result(at: &str, block: &Value) -> Result<Value, RequestFormatError> {
    let id = block
        .get("tool_use_id")
        .and_then(Value::as_str)
        .ok_or_else(|| field(format!("{at}.tool_use_id"), format!("`{at}.tool_use_id` is required")))?;
    let text = match block.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n"),
        Some(_) => return Err(field(format!("{at}.content"), format!("invalid `{at}.content`: expected a string or blocks"))),
    };
    // Canonical tool messages have no error flag: say it in the text the model reads.
    let text = if block.get("is_error").and_then(Value::as_bool) == Some(true) { format!("Error: {text}") } else { text };
    Ok(json!({"role": "tool", "tool_call_id": id, "content": text}))
}

fn assistant(at: &str, blocks: &[Value]) -> Result<Value, RequestFormatError> {
    let (mut text, mut reasoning, mut signature, mut calls, mut redacted) = (String::new(), String::new(), None, Vec::new(), Vec::new());
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        match kind(block) {
            "text" => text.push_str(text_of(&at, block)?),
            "thinking" => {
                reasoning.push_str(block.get("thinking").and_then(Value::as_str).unwrap_or(""));
                signature = block.get("signature").and_then(Value::as_str).map(str::to_string).or(signature);
            }
            "tool_use" => {
                let id =
                    block.get("id").and_then(Value::as_str).ok_or_else(|| field(format!("{at}.id"), format!("`{at}.id` is required")))?;
                let name = block
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| field(format!("{at}.name"), format!("`{at}.name` is required")))?;
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(json!({"id": id, "type": "function", "function": {"name": name, "arguments": input.to_string()}}));
            }
            "redacted_thinking" => redacted.extend(block.get("data").cloned()),
            // Server tool uses and their results: Anthropic's own.
            _ => {}
        }
    }
    let mut m = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
    if !calls.is_empty() {
        m["tool_calls"] = Value::Array(calls);
    }
    if !reasoning.is_empty() {
        m["reasoning_content"] = json!(reasoning);
    }
    if let Some(sig) = signature {
        m["reasoning_signature"] = json!(sig);
    }
    if !redacted.is_empty() {
        m["reasoning_redacted"] = Value::Array(redacted);
    }
    Ok(m)
}

/// `tools` (client tools with an `input_schema`; server tools have no canonical equivalent) and
/// `tool_choice`.
fn tools(request: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), RequestFormatError> {
    let mut functions = Vec::new();
    if let Some(list) = request.get("tools").filter(|v| !v.is_null()) {
        let Some(list) = list.as_array() else { return Err(field("tools", "invalid `tools`: expected an array")) };
        for (i, tool) in list.iter().enumerate() {
            let Some(schema) = tool.get("input_schema") else { continue };
            let name = tool
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| field(format!("tools[{i}].name"), format!("`tools[{i}].name` is required")))?;
            let mut function = json!({"name": name, "parameters": schema});
            if let Some(d) = tool.get("description").and_then(Value::as_str) {
                function["description"] = json!(d);
            }
            functions.push(json!({"type": "function", "function": function}));
        }
    }
    let choice = request.get("tool_choice").filter(|v| !v.is_null());
    if let Some(choice) = choice {
        let mode = match choice.get("type").and_then(Value::as_str) {
            Some("auto") => json!("auto"),
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => match choice.get("name").and_then(Value::as_str) {
                Some(name) => json!({"type": "function", "function": {"name": name}}),
                None => return Err(field("tool_choice.name", "`tool_choice.name` is required with type \"tool\"")),
            },
            _ => return Err(field("tool_choice.type", "invalid `tool_choice.type`: expected auto, any, tool or none")),
        };
        if !functions.is_empty() {
            out.insert("tool_choice".into(), mode);
            if choice.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
                out.insert("parallel_tool_calls".into(), json!(false));
            }
        }
    }
    if !functions.is_empty() {
        out.insert("tools".into(), Value::Array(functions));
    }
    Ok(())
}

/// `thinking: {type: enabled, budget_tokens}` → a reasoning effort of about that budget.
fn thinking(thinking: Option<&Value>) -> Result<Option<&'static str>, RequestFormatError> {
    let Some(t) = thinking.filter(|v| !v.is_null()) else { return Ok(None) };
    match t.get("type").and_then(Value::as_str) {
        Some("enabled") => {
            let budget = t
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .ok_or_else(|| field("thinking.budget_tokens", "`thinking.budget_tokens` is required: a whole number"))?;
            Ok(Some(match budget {
                0..=2048 => "low",
                2049..=8192 => "medium",
                _ => "high",
            }))
        }
        Some("adaptive") => Ok(Some("medium")),
        Some("disabled") => Ok(None),
        _ => Err(field("thinking.type", "invalid `thinking.type`: expected enabled, adaptive or disabled")),
    }
}

/// Anthropic's `metadata.user_id` is the customer (OpenAI's `user`); other string keys are the
/// gateway's own `metadata`.
fn metadata(metadata: Option<&Value>, out: &mut Map<String, Value>) -> Result<(), RequestFormatError> {
    let Some(m) = metadata.filter(|v| !v.is_null()) else { return Ok(()) };
    let Some(m) = m.as_object() else { return Err(field("metadata", "invalid `metadata`: expected an object")) };
    let mut rest = m.clone();
    if let Some(user) = rest.remove("user_id") {
        match user {
            Value::String(u) => {
                out.insert("user".into(), json!(u));
            }
            Value::Null => {}
            _ => return Err(field("metadata.user_id", "invalid `metadata.user_id`: expected a string")),
        }
    }
    if !rest.is_empty() {
        out.insert("metadata".into(), Value::Object(rest));
    }
    Ok(())
}
