//! A typed, lenient view of an OpenAI Chat Completions request, in the terms every native API
//! shares: system text, alternating turns with parts, tool calls and results, tools, tool
//! choice, output format, reasoning effort and sampling settings.

use serde_json::Value;
use switchyard_protocol::openai::{ChatRequest, Message, MessageContent, ToolCall, ToolChoice};

use crate::{ErrorKind, ProviderError};

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// A `data:` URL or an http(s) URL, as the client sent it.
    Image {
        url: String,
    },
    /// A base64 document (`type: file`), with its media type.
    File {
        media_type: String,
        data: String,
        filename: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    User(Vec<Part>),
    Assistant {
        text: String,
        reasoning: Option<String>,
        reasoning_signature: Option<String>,
        /// Encrypted thinking blocks, opaque (Anthropic's `redacted_thinking`).
        reasoning_redacted: Vec<String>,
        tool_calls: Vec<ToolCall>,
    },
    ToolResult {
        call_id: String,
        content: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoiceMode {
    Auto,
    None,
    Required,
    Named(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    JsonObject,
    JsonSchema { name: String, schema: Value },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conversation {
    /// System and developer messages, in order.
    pub system: Vec<String>,
    pub turns: Vec<Turn>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: Option<ToolChoiceMode>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    pub reasoning_effort: Option<String>,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    /// For each turn, the index in `messages` it came from, so later errors can name `messages[i]`.
    pub turn_messages: Vec<usize>,
}

fn bad(param: &str, message: String) -> ProviderError {
    ProviderError { param: Some(param.to_string()), ..ProviderError::new(ErrorKind::BadRequest, message) }
}

impl Conversation {
    pub fn from_request(request: &ChatRequest) -> Result<Self, ProviderError> {
        let get = |key: &str, expected: &str| -> Result<Option<Value>, ProviderError> {
            request.get::<Option<Value>>(key, expected).map(Option::flatten).map_err(|e| bad(key, e.message))
        };
        let number = |key: &str| -> Result<Option<f64>, ProviderError> {
            match get(key, "a number")? {
                None => Ok(None),
                Some(v) => v.as_f64().map(Some).ok_or_else(|| bad(key, format!("`{key}` must be a number"))),
            }
        };
        let mut conversation = Conversation {
            tools: request
                .tools()
                .map_err(|e| bad("tools", e.message))?
                .into_iter()
                .map(|t| ToolDef {
                    name: t.function.name,
                    description: t.function.description,
                    parameters: t.function.parameters.unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
                })
                .collect(),
            tool_choice: request.tool_choice().map_err(|e| bad("tool_choice", e.message))?.map(|c| match c {
                ToolChoice::Named { function } => ToolChoiceMode::Named(function.name),
                ToolChoice::Mode(m) if m == "none" => ToolChoiceMode::None,
                ToolChoice::Mode(m) if m == "required" => ToolChoiceMode::Required,
                ToolChoice::Mode(_) => ToolChoiceMode::Auto,
            }),
            parallel_tool_calls: get("parallel_tool_calls", "a boolean")?.and_then(|v| v.as_bool()),
            response_format: response_format(get("response_format", "an object")?)?,
            reasoning_effort: get("reasoning_effort", "a string")?.and_then(|v| v.as_str().map(str::to_string)),
            max_tokens: match get("max_completion_tokens", "an integer")?.or(get("max_tokens", "an integer")?) {
                None => None,
                Some(v) => Some(v.as_u64().ok_or_else(|| bad("max_tokens", "`max_tokens` must be a positive integer".into()))?),
            },
            temperature: number("temperature")?,
            top_p: number("top_p")?,
            stop: match get("stop", "a string or an array of strings")? {
                None => Vec::new(),
                Some(Value::String(s)) => vec![s],
                Some(Value::Array(a)) => a.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
                Some(_) => return Err(bad("stop", "`stop` must be a string or an array of strings".into())),
            },
            ..Conversation::default()
        };
        for (i, message) in request.messages().iter().enumerate() {
            conversation.push(i, message)?;
        }
        Ok(conversation)
    }

    fn push(&mut self, i: usize, m: &Message) -> Result<(), ProviderError> {
        match m.role.as_str() {
            "system" | "developer" => self.system.push(m.text()),
            "user" => self.turns.push(Turn::User(parts(i, m)?)),
            "assistant" => self.turns.push(Turn::Assistant {
                text: m.text(),
                reasoning: m.reasoning_content.clone().filter(|r| !r.is_empty()),
                reasoning_signature: m.reasoning_signature.clone(),
                reasoning_redacted: m.reasoning_redacted.clone().unwrap_or_default(),
                tool_calls: m.tool_calls.clone().unwrap_or_default(),
            }),
            "tool" | "function" => self.turns.push(Turn::ToolResult {
                call_id: m
                    .tool_call_id
                    .clone()
                    .ok_or_else(|| bad(&format!("messages[{i}].tool_call_id"), "a tool message needs `tool_call_id`".into()))?,
                content: m.text(),
            }),
            other => return Err(bad(&format!("messages[{i}].role"), format!("unknown role `{other}`"))),
        }
        if self.turn_messages.len() < self.turns.len() {
            self.turn_messages.push(i);
        }
        Ok(())
    }
}

fn parts(i: usize, m: &Message) -> Result<Vec<Part>, ProviderError> {
    let Some(MessageContent::Parts(parts)) = &m.content else { return Ok(vec![Part::Text(m.text())]) };
    parts
        .iter()
        .enumerate()
        .map(|(j, p)| match p.kind.as_str() {
            "text" => Ok(Part::Text(p.text.clone().unwrap_or_default())),
            "image_url" => p
                .image_url
                .as_ref()
                .map(|u| Part::Image { url: u.url.clone() })
                .ok_or_else(|| bad(&format!("messages[{i}].content[{j}].image_url"), "an image part needs `image_url.url`".into())),
            "file" => {
                let data = p.file.as_ref().and_then(|f| f.file_data.as_deref()).ok_or_else(|| {
                    bad(
                        &format!("messages[{i}].content[{j}].file"),
                        "file parts need `file.file_data` (uploaded file ids are not supported)".into(),
                    )
                })?;
                let (media_type, data) = split_data_url(data).unwrap_or(("application/pdf", data));
                Ok(Part::File {
                    media_type: media_type.to_string(),
                    data: data.to_string(),
                    filename: p.file.as_ref().and_then(|f| f.filename.clone()),
                })
            }
            other => Err(bad(&format!("messages[{i}].content[{j}].type"), format!("content part type `{other}` is not supported here"))),
        })
        .collect()
}

/// `data:image/png;base64,AAAA` → (`image/png`, `AAAA`).
pub fn split_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    Some((meta.strip_suffix(";base64")?, data))
}

fn response_format(value: Option<Value>) -> Result<Option<ResponseFormat>, ProviderError> {
    let Some(v) = value else { return Ok(None) };
    match v.get("type").and_then(Value::as_str) {
        Some("text") | None => Ok(None),
        Some("json_object") => Ok(Some(ResponseFormat::JsonObject)),
        Some("json_schema") => {
            let js = v.get("json_schema").ok_or_else(|| bad("response_format.json_schema", "`json_schema` is required".into()))?;
            Ok(Some(ResponseFormat::JsonSchema {
                name: js.get("name").and_then(Value::as_str).unwrap_or("response").to_string(),
                schema: js.get("schema").cloned().unwrap_or_else(|| serde_json::json!({"type": "object"})),
            }))
        }
        Some(other) => Err(bad("response_format.type", format!("unknown response_format type `{other}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conv(body: Value) -> Conversation {
        Conversation::from_request(&ChatRequest::parse(body.to_string().as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn reads_every_part_of_a_request() {
        let c = conv(json!({
            "model": "m", "max_completion_tokens": 300, "temperature": 0.2, "stop": "END", "reasoning_effort": "low",
            "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}},
            "tools": [{"type": "function", "function": {"name": "get", "description": "d", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "get"}},
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "developer", "content": "use tools"},
                {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}}]},
                {"role": "assistant", "content": null, "reasoning_content": "hmm", "reasoning_signature": "sig",
                 "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"}
            ]
        }));
        assert_eq!(c.system, ["be brief", "use tools"]);
        assert_eq!((c.max_tokens, c.temperature, c.stop.clone()), (Some(300), Some(0.2), vec!["END".to_string()]));
        assert_eq!(c.tool_choice, Some(ToolChoiceMode::Named("get".into())));
        assert!(matches!(&c.response_format, Some(ResponseFormat::JsonSchema { name, .. }) if name == "out"));
        assert_eq!(c.turns.len(), 3);
        assert_eq!(c.turn_messages, [2, 3, 4], "system and developer messages make no turn");
        let Turn::User(parts) = &c.turns[0] else { panic!() };
        assert_eq!(parts[1], Part::Image { url: "data:image/png;base64,AAAA".into() });
        assert_eq!(parts[2], Part::File { media_type: "application/pdf".into(), data: "JVBE".into(), filename: Some("a.pdf".into()) });
        let Turn::Assistant { reasoning, reasoning_signature, tool_calls, .. } = &c.turns[1] else { panic!() };
        assert_eq!(
            (reasoning.as_deref(), reasoning_signature.as_deref(), tool_calls[0].function.arguments.as_str()),
            (Some("hmm"), Some("sig"), "{\"a\":1}")
        );
        assert_eq!(c.turns[2], Turn::ToolResult { call_id: "c1".into(), content: "42".into() });
    }

    #[test]
    fn names_what_cannot_be_translated() {
        let req = ChatRequest::parse(json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}).to_string().as_bytes()).unwrap();
        assert_eq!(Conversation::from_request(&req).unwrap_err().param.as_deref(), Some("messages[0].tool_call_id"));
        let req = ChatRequest::parse(
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}).to_string().as_bytes(),
        )
        .unwrap();
        assert_eq!(Conversation::from_request(&req).unwrap_err().param.as_deref(), Some("messages[0].content[0].type"));
    }
}
