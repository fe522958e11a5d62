//! A Responses API request → the canonical (OpenAI Chat Completions) request: the top-level
//! fields here, the `input` items in `input.rs`. What the gateway cannot do on every provider
//! (built-in tools, files uploaded to OpenAI, background runs, conversations) is a 400 naming
//! the field, never silently dropped.

use serde_json::{json, Map, Value};

use super::input::{input_items, to_messages};
use crate::inbound::{carry_gateway_fields, field, json_object};
use crate::openai::RequestFormatError;

/// One Responses request, translated. The canonical body is built by `chat_body` once the
/// conversation it continues (`previous_response_id`) is known.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    /// The canonical request's fields, `messages` aside.
    pub chat: Map<String, Value>,
    /// `instructions`: the first (system) message of this turn only, as OpenAI does it.
    pub instructions: Option<String>,
    /// This turn's input as canonical messages.
    pub messages: Vec<Value>,
    /// This turn's input as Responses items (a string input as one user message item).
    pub input_items: Vec<Value>,
    pub previous_response_id: Option<String>,
    /// `store` (default true): keep the response for GET and `previous_response_id`.
    pub store: bool,
    pub stream: bool,
    /// The request fields a Response object echoes (tools, text, reasoning, …).
    pub echo: Map<String, Value>,
}

impl Translated {
    /// The canonical request: instructions, the stored conversation it continues, this turn.
    pub fn chat_body(&self, history: &[Value]) -> Vec<u8> {
        let mut messages = Vec::with_capacity(history.len() + self.messages.len() + 1);
        if let Some(text) = &self.instructions {
            messages.push(json!({"role": "system", "content": text}));
        }
        messages.extend(history.iter().cloned());
        messages.extend(self.messages.iter().cloned());
        let mut body = self.chat.clone();
        body.insert("messages".into(), Value::Array(messages));
        serde_json::to_vec(&Value::Object(body)).expect("a JSON value serialises")
    }
}

/// Fields with no canonical equivalent that the gateway refuses rather than ignores.
const REFUSED: &[(&str, &str)] = &[
    ("conversation", "conversations are not supported by the gateway; continue a conversation with `previous_response_id`"),
    ("prompt", "OpenAI's stored prompts are not supported by the gateway; use `prompt_id` for the gateway's own templates"),
];

/// Chat Completions fields that mean the same in both APIs: carried over as they are.
const SAME: &[&str] = &["service_tier", "prompt_cache_key", "top_logprobs"];

pub fn to_chat(body: &[u8]) -> Result<Translated, RequestFormatError> {
    let request = json_object(body)?;
    let mut chat = Map::new();
    match request.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => chat.insert("model".into(), json!(m)),
        _ => return Err(field("model", "`model` is required: a model name or alias")),
    };
    for (key, why) in REFUSED {
        if request.get(*key).is_some_and(|v| !v.is_null()) {
            return Err(field(*key, format!("`{key}`: {why}")));
        }
    }
    if request.get("background").and_then(Value::as_bool) == Some(true) {
        return Err(field("background", "`background`: background responses are not supported by the gateway; stream instead"));
    }
    let instructions = match request.get("instructions") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()).filter(|s| !s.is_empty()),
        Some(_) => return Err(field("instructions", "invalid `instructions`: expected a string")),
    };
    let items = input_items(request.get("input"))?;
    let messages = to_messages(&items)?;
    let stream = flag(&request, "stream")?.unwrap_or(false);
    if stream {
        chat.insert("stream".into(), json!(true));
        // response.completed carries usage: the canonical stream must end with it.
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let has_tools = tools(&request, &mut chat)?;
    if has_tools {
        if let Some(v) = flag(&request, "parallel_tool_calls")? {
            chat.insert("parallel_tool_calls".into(), json!(v));
        }
    }
    if let Some(effort) = reasoning_effort(request.get("reasoning"))? {
        chat.insert("reasoning_effort".into(), json!(effort));
    }
    text_format(request.get("text"), &mut chat)?;
    if let Some(max) = request.get("max_output_tokens").filter(|v| !v.is_null()) {
        if max.as_u64().is_none_or(|m| m < 1) {
            return Err(field("max_output_tokens", "invalid `max_output_tokens`: expected a whole number, 1 or more"));
        }
        chat.insert("max_completion_tokens".into(), max.clone());
    }
    for key in ["temperature", "top_p"] {
        if let Some(v) = request.get(key).filter(|v| !v.is_null()) {
            if !v.is_number() {
                return Err(field(key, format!("invalid `{key}`: expected a number")));
            }
            chat.insert(key.into(), v.clone());
        }
    }
    let user = ["user", "safety_identifier"].into_iter().find_map(|k| request.get(k).filter(|v| !v.is_null()).map(|v| (k, v)));
    if let Some((key, user)) = user {
        if !user.is_string() {
            return Err(field(key, format!("invalid `{key}`: expected a string")));
        }
        chat.insert("user".into(), user.clone());
    }
    if let Some(m) = request.get("metadata").filter(|v| !v.is_null()) {
        // The gateway's own `metadata` (an object of strings), checked by the pipeline.
        chat.insert("metadata".into(), m.clone());
    }
    for key in SAME {
        if let Some(v) = request.get(*key).filter(|v| !v.is_null()) {
            chat.insert((*key).into(), v.clone());
        }
    }
    carry_gateway_fields(&request, &mut chat);
    let previous_response_id = match request.get("previous_response_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => return Err(field("previous_response_id", "invalid `previous_response_id`: expected a response id (resp_…)")),
    };
    let store = flag(&request, "store")?.unwrap_or(true);
    let echo = echo(&request, &instructions);
    Ok(Translated { chat, instructions, messages, input_items: items, previous_response_id, store, stream, echo })
}

fn flag(request: &Map<String, Value>, key: &str) -> Result<Option<bool>, RequestFormatError> {
    match request.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(field(key, format!("invalid `{key}`: expected a boolean"))),
    }
}

/// `tools` (function tools only) and `tool_choice`; whether any tool is offered.
fn tools(request: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<bool, RequestFormatError> {
    let mut functions = Vec::new();
    if let Some(list) = request.get("tools").filter(|v| !v.is_null()) {
        let Some(list) = list.as_array() else { return Err(field("tools", "invalid `tools`: expected an array")) };
        for (i, tool) in list.iter().enumerate() {
            let at = format!("tools[{i}]");
            match tool.get("type").and_then(Value::as_str) {
                Some("function") => {}
                Some(other) => {
                    return Err(field(
                        format!("{at}.type"),
                        format!("`{at}.type`: the built-in tool `{other}` is not supported by the gateway; only `function` tools can be routed to any provider"),
                    ))
                }
                None => return Err(field(format!("{at}.type"), format!("`{at}.type` is required"))),
            }
            let name = tool
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| field(format!("{at}.name"), format!("`{at}.name` is required: a string")))?;
            let mut function = json!({"name": name});
            for key in ["description", "parameters", "strict"] {
                if let Some(v) = tool.get(key).filter(|v| !v.is_null()) {
                    function[key] = v.clone();
                }
            }
            functions.push(json!({"type": "function", "function": function}));
        }
    }
    let choice = match request.get("tool_choice").filter(|v| !v.is_null()) {
        None => None,
        Some(Value::String(mode)) if matches!(mode.as_str(), "auto" | "none" | "required") => Some(json!(mode)),
        Some(c) if c.get("type").and_then(Value::as_str) == Some("function") => match c.get("name").and_then(Value::as_str) {
            Some(name) => Some(json!({"type": "function", "function": {"name": name}})),
            None => return Err(field("tool_choice.name", "`tool_choice.name` is required with type \"function\"")),
        },
        Some(_) => {
            return Err(field(
                "tool_choice",
                "invalid `tool_choice`: expected \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"name\": …}",
            ))
        }
    };
    if functions.is_empty() {
        return Ok(false);
    }
    out.insert("tools".into(), Value::Array(functions));
    if let Some(choice) = choice {
        out.insert("tool_choice".into(), choice);
    }
    Ok(true)
}

/// `reasoning: {effort, summary}` → `reasoning_effort`.
fn reasoning_effort(reasoning: Option<&Value>) -> Result<Option<String>, RequestFormatError> {
    let Some(r) = reasoning.filter(|v| !v.is_null()) else { return Ok(None) };
    if !r.is_object() {
        return Err(field("reasoning", "invalid `reasoning`: expected an object like {\"effort\": \"medium\"}"));
    }
    match r.get("effort") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(e)) => Ok(Some(e.clone())),
        Some(_) => Err(field("reasoning.effort", "invalid `reasoning.effort`: expected a string such as \"low\", \"medium\" or \"high\"")),
    }
}

/// `text: {format, verbosity}` → `response_format` (and `verbosity`).
fn text_format(text: Option<&Value>, out: &mut Map<String, Value>) -> Result<(), RequestFormatError> {
    let Some(text) = text.filter(|v| !v.is_null()) else { return Ok(()) };
    if let Some(v) = text.get("verbosity").filter(|v| !v.is_null()) {
        out.insert("verbosity".into(), v.clone());
    }
    let Some(format) = text.get("format").filter(|v| !v.is_null()) else { return Ok(()) };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => {}
        Some("json_object") => {
            out.insert("response_format".into(), json!({"type": "json_object"}));
        }
        Some("json_schema") => {
            let name = format
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| field("text.format.name", "`text.format.name` is required with type \"json_schema\""))?;
            let schema = format
                .get("schema")
                .filter(|s| s.is_object())
                .ok_or_else(|| field("text.format.schema", "`text.format.schema` is required: a JSON Schema object"))?;
            let mut spec = json!({"name": name, "schema": schema});
            for key in ["strict", "description"] {
                if let Some(v) = format.get(key).filter(|v| !v.is_null()) {
                    spec[key] = v.clone();
                }
            }
            out.insert("response_format".into(), json!({"type": "json_schema", "json_schema": spec}));
        }
        _ => return Err(field("text.format.type", "invalid `text.format.type`: expected text, json_object or json_schema")),
    }
    Ok(())
}

/// What a Response object repeats of its request, with the API's defaults.
fn echo(request: &Map<String, Value>, instructions: &Option<String>) -> Map<String, Value> {
    let get = |key: &str, default: Value| request.get(key).filter(|v| !v.is_null()).cloned().unwrap_or(default);
    let mut echo = Map::new();
    echo.insert("instructions".into(), instructions.as_ref().map_or(Value::Null, |s| json!(s)));
    echo.insert("tools".into(), get("tools", json!([])));
    echo.insert("tool_choice".into(), get("tool_choice", json!("auto")));
    echo.insert("temperature".into(), get("temperature", json!(1.0)));
    echo.insert("top_p".into(), get("top_p", json!(1.0)));
    echo.insert("max_output_tokens".into(), get("max_output_tokens", Value::Null));
    echo.insert("previous_response_id".into(), get("previous_response_id", Value::Null));
    echo.insert("reasoning".into(), get("reasoning", json!({"effort": null, "summary": null})));
    echo.insert("text".into(), get("text", json!({"format": {"type": "text"}})));
    echo.insert("parallel_tool_calls".into(), get("parallel_tool_calls", json!(true)));
    echo.insert("store".into(), get("store", json!(true)));
    echo.insert("metadata".into(), get("metadata", json!({})));
    echo.insert("truncation".into(), get("truncation", json!("disabled")));
    for key in ["user", "safety_identifier", "service_tier"] {
        if let Some(v) = request.get(key).filter(|v| !v.is_null()) {
            echo.insert(key.into(), v.clone());
        }
    }
    echo
}
