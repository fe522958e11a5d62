//! The Responses request as it came, for a target that speaks the Responses API itself (OpenAI):
//! the client's body without the gateway's fields and without `previous_response_id`, since the
//! gateway keeps the conversation and sends it expanded in `input` instead. A request that
//! continues nothing keeps its `input` byte for byte.

use serde_json::{json, Value};

use super::Translated;
use crate::openai::RequestFormatError;
use crate::{Native, NativeApi, RawObject};

/// `body` as the native request; `history` is the stored conversation it continues (canonical
/// messages, instructions excluded), prepended to this turn's input items.
pub fn native(body: &[u8], translated: &Translated, history: &[Value]) -> Result<Native, RequestFormatError> {
    let mut object = RawObject::parse(body)?;
    for key in crate::inbound::GATEWAY_FIELDS {
        object.take(key);
    }
    // The gateway's own `metadata` (read by the pipeline), and the stored state it resolved.
    object.take("metadata");
    object.take("previous_response_id");
    if !history.is_empty() {
        let mut input = history_items(history);
        input.extend(translated.input_items.iter().cloned());
        object.set("input", serde_json::value::to_raw_value(&input).expect("a JSON value serialises"));
    }
    Ok(Native { api: NativeApi::OpenAiResponses, body: object, beta: None })
}

/// Canonical messages → Responses input items. Reasoning is left out: what the history holds may
/// be another provider's (a thinking signature is not OpenAI's `encrypted_content`), and OpenAI
/// answers without it.
pub fn history_items(messages: &[Value]) -> Vec<Value> {
    let mut items = Vec::with_capacity(messages.len());
    for m in messages {
        match m.get("role").and_then(Value::as_str).unwrap_or("") {
            "assistant" => {
                let text = text_of(m.get("content"));
                if !text.is_empty() {
                    items.push(json!({"type": "message", "role": "assistant", "content": text}));
                }
                for call in m.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                    let function = &call["function"];
                    items.push(json!({
                        "type": "function_call",
                        "call_id": call["id"],
                        "name": function["name"],
                        "arguments": function.get("arguments").and_then(Value::as_str).unwrap_or("{}"),
                    }));
                }
            }
            "tool" => items.push(json!({
                "type": "function_call_output",
                "call_id": m["tool_call_id"],
                "output": text_of(m.get("content")),
            })),
            role => {
                let content = match m.get("content") {
                    Some(Value::Array(parts)) => Value::Array(parts.iter().filter_map(input_part).collect()),
                    other => json!(text_of(other)),
                };
                items.push(json!({"type": "message", "role": role, "content": content}));
            }
        }
    }
    items
}

fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect(),
        _ => String::new(),
    }
}

/// A canonical content part as a Responses input part.
fn input_part(part: &Value) -> Option<Value> {
    match part.get("type").and_then(Value::as_str)? {
        "text" => Some(json!({"type": "input_text", "text": part.get("text")?})),
        "image_url" => {
            let image = part.get("image_url")?;
            let mut out = json!({"type": "input_image", "image_url": image.get("url")?, "detail": "auto"});
            if let Some(detail) = image.get("detail") {
                out["detail"] = detail.clone();
            }
            Some(out)
        }
        "file" => {
            let file = part.get("file")?;
            Some(json!({"type": "input_file", "file_data": file.get("file_data")?, "filename": file.get("filename")?}))
        }
        _ => None,
    }
}
