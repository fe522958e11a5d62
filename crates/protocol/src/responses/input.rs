//! The Responses `input` → canonical messages. An assistant turn is several items in the
//! Responses API (reasoning, a message, function calls) and one message in the canonical one:
//! consecutive assistant items are merged, and a reasoning item's summary and encrypted content
//! go to the assistant message that follows it (`reasoning_content`, `reasoning_signature`).

use serde_json::{json, Value};

use crate::inbound::field;
use crate::openai::RequestFormatError;

/// `input` as items: a string is one user message.
pub fn input_items(input: Option<&Value>) -> Result<Vec<Value>, RequestFormatError> {
    match input {
        Some(Value::String(text)) => Ok(vec![json!({"type": "message", "role": "user", "content": text})]),
        Some(Value::Array(items)) if !items.is_empty() => Ok(items.clone()),
        Some(Value::Array(_)) => Err(field("input", "`input` must contain at least one item")),
        None | Some(Value::Null) => Err(field("input", "`input` is required: a string or an array of input items")),
        Some(_) => Err(field("input", "invalid `input`: expected a string or an array of input items")),
    }
}

/// Builds canonical messages item by item.
#[derive(Default)]
struct Conversation {
    messages: Vec<Value>,
    /// A reasoning item's (summary text, encrypted content), for the next assistant message.
    reasoning: Option<(String, Option<String>)>,
    /// Whether the last message is an assistant turn still open to more items.
    assistant_open: bool,
}

pub fn to_messages(items: &[Value]) -> Result<Vec<Value>, RequestFormatError> {
    let mut c = Conversation::default();
    for (i, item) in items.iter().enumerate() {
        let at = format!("input[{i}]");
        if !item.is_object() {
            return Err(field(at.clone(), format!("invalid `{at}`: expected an input item (an object)")));
        }
        let kind = item.get("type").and_then(Value::as_str).unwrap_or(if item.get("role").is_some() { "message" } else { "" });
        match kind {
            "message" => c.message(&at, item)?,
            "function_call" => c.function_call(&at, item)?,
            "function_call_output" => c.function_call_output(&at, item)?,
            "reasoning" => c.reasoning_item(item),
            "" => return Err(field(format!("{at}.type"), format!("`{at}.type` is required"))),
            "item_reference" => {
                return Err(field(
                    format!("{at}.type"),
                    format!(
                    "`{at}.type`: item references are not supported by the gateway; send the item itself, or use `previous_response_id`"
                ),
                ))
            }
            other => {
                return Err(field(format!("{at}.type"), format!("`{at}.type`: items of type `{other}` are not supported by the gateway")))
            }
        }
    }
    Ok(c.messages)
}

impl Conversation {
    fn message(&mut self, at: &str, item: &Value) -> Result<(), RequestFormatError> {
        let role = match item.get("role").and_then(Value::as_str) {
            Some(r @ ("user" | "assistant" | "system" | "developer")) => r,
            _ => return Err(field(format!("{at}.role"), format!("invalid `{at}.role`: expected user, assistant, system or developer"))),
        };
        let parts = content_parts(at, item.get("content"))?;
        if role == "assistant" {
            let text: String = parts.iter().filter_map(|p| p["text"].as_str()).collect();
            let message = self.assistant();
            match message.get("content").and_then(Value::as_str) {
                Some(before) if !before.is_empty() => message["content"] = json!(format!("{before}{text}")),
                _ => message["content"] = json!(text),
            }
            return Ok(());
        }
        self.assistant_open = false;
        let content = match parts.as_slice() {
            [only] if only["type"] == "text" => only["text"].clone(),
            _ => Value::Array(parts),
        };
        self.messages.push(json!({"role": role, "content": content}));
        Ok(())
    }

    fn function_call(&mut self, at: &str, item: &Value) -> Result<(), RequestFormatError> {
        let call_id = required_str(at, item, "call_id")?;
        let name = required_str(at, item, "name")?;
        let arguments = match item.get("arguments") {
            Some(Value::String(a)) => a.clone(),
            None | Some(Value::Null) => "{}".into(),
            Some(_) => return Err(field(format!("{at}.arguments"), format!("invalid `{at}.arguments`: expected a JSON string"))),
        };
        let call = json!({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}});
        let message = self.assistant();
        match message.get_mut("tool_calls").and_then(Value::as_array_mut) {
            Some(calls) => calls.push(call),
            None => message["tool_calls"] = json!([call]),
        }
        Ok(())
    }

    fn function_call_output(&mut self, at: &str, item: &Value) -> Result<(), RequestFormatError> {
        let call_id = required_str(at, item, "call_id")?;
        let output = match item.get("output") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n"),
            _ => return Err(field(format!("{at}.output"), format!("`{at}.output` is required: a string"))),
        };
        self.assistant_open = false;
        self.messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
        Ok(())
    }

    fn reasoning_item(&mut self, item: &Value) {
        let summary: Vec<&str> =
            item.get("summary").and_then(Value::as_array).into_iter().flatten().filter_map(|s| s.get("text")?.as_str()).collect();
        let encrypted = item.get("encrypted_content").and_then(Value::as_str).map(str::to_string);
        // Within an assistant turn without reasoning, the item is that turn's: the gateway's own
        // streams list a signature that comes with a call or text (Gemini's) after that item, and
        // a client sends the output back as it got it. Splitting the turn there would part
        // parallel calls from their results and move the signature off the first call.
        if self.assistant_open && self.reasoning.is_none() {
            let open = self.messages.last_mut().filter(|m| m.get("reasoning_content").is_none() && m.get("reasoning_signature").is_none());
            if let Some(message) = open {
                if !summary.is_empty() {
                    message["reasoning_content"] = json!(summary.join("\n\n"));
                }
                if let Some(sig) = encrypted {
                    message["reasoning_signature"] = json!(sig);
                }
                return;
            }
        }
        // Otherwise a reasoning item opens the next assistant turn.
        self.assistant_open = false;
        self.reasoning = Some((summary.join("\n\n"), encrypted));
    }

    /// The assistant message being built: the open one, or a new one carrying the reasoning
    /// that came before it.
    fn assistant(&mut self) -> &mut Value {
        if !self.assistant_open || self.reasoning.is_some() {
            let mut m = json!({"role": "assistant", "content": null});
            if let Some((text, signature)) = self.reasoning.take() {
                if !text.is_empty() {
                    m["reasoning_content"] = json!(text);
                }
                if let Some(sig) = signature {
                    m["reasoning_signature"] = json!(sig);
                }
            }
            self.messages.push(m);
            self.assistant_open = true;
        }
        self.messages.last_mut().expect("an assistant message was just pushed")
    }
}

fn required_str<'a>(at: &str, item: &'a Value, key: &str) -> Result<&'a str, RequestFormatError> {
    item.get(key).and_then(Value::as_str).ok_or_else(|| field(format!("{at}.{key}"), format!("`{at}.{key}` is required: a string")))
}

/// A message's content (a string or parts) as canonical content parts.
fn content_parts(at: &str, content: Option<&Value>) -> Result<Vec<Value>, RequestFormatError> {
    match content {
        Some(Value::String(s)) => Ok(vec![json!({"type": "text", "text": s})]),
        Some(Value::Array(parts)) => parts.iter().enumerate().map(|(j, p)| part(&format!("{at}.content[{j}]"), p)).collect(),
        _ => Err(field(format!("{at}.content"), format!("invalid `{at}.content`: expected a string or an array of content parts"))),
    }
}

fn part(at: &str, part: &Value) -> Result<Value, RequestFormatError> {
    let text = || required_str(at, part, "text");
    match part.get("type").and_then(Value::as_str) {
        Some("input_text" | "output_text" | "text") => Ok(json!({"type": "text", "text": text()?})),
        Some("refusal") => Ok(json!({"type": "text", "text": required_str(at, part, "refusal")?})),
        Some("input_image") => image(at, part),
        Some("input_file") => file(at, part),
        Some(other) => Err(field(format!("{at}.type"), format!("`{at}.type`: content of type `{other}` is not supported by the gateway"))),
        None => Err(field(format!("{at}.type"), format!("`{at}.type` is required"))),
    }
}

fn image(at: &str, part: &Value) -> Result<Value, RequestFormatError> {
    let Some(url) = part.get("image_url").and_then(Value::as_str) else {
        let why = if part.get("file_id").is_some_and(|f| !f.is_null()) {
            "images uploaded as files (`file_id`) cannot be sent through the gateway; send the image as a URL or a data: URL"
        } else {
            "a URL or a data: URL"
        };
        return Err(field(format!("{at}.image_url"), format!("`{at}.image_url` is required: {why}")));
    };
    let mut image = json!({"url": url});
    if let Some(detail) = part.get("detail").and_then(Value::as_str) {
        image["detail"] = json!(detail);
    }
    Ok(json!({"type": "image_url", "image_url": image}))
}

fn file(at: &str, part: &Value) -> Result<Value, RequestFormatError> {
    let Some(data) = part.get("file_data").and_then(Value::as_str) else {
        return Err(field(
            format!("{at}.file_data"),
            format!("`{at}.file_data` is required: only files sent inline (a data: URL) are supported by the gateway, not `file_id` or `file_url`"),
        ));
    };
    let name = part.get("filename").and_then(Value::as_str).unwrap_or("file.pdf");
    Ok(json!({"type": "file", "file": {"file_data": data, "filename": name}}))
}
