//! Translation between the canonical `Conversation` / `Completion` and Gemini's wire shapes, and
//! the classification of Gemini's google.rpc.Status errors.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use switchyard_protocol::Usage;

use super::wire::{
    Blob, Content, ErrorBody, FileData, FunctionCall, FunctionCallingConfig, FunctionDeclaration, FunctionResponse, GenerateContentRequest,
    GenerateContentResponse, GenerationConfig, Part, PromptFeedback, Status, ThinkingConfig, Tool, ToolConfig, UsageMetadata,
};
use crate::translate::{
    reasoning_budget, CalledFunction, Completion, Conversation, FinishReason, ResponseFormat, ToolCall, ToolChoiceMode, ToolDef, Turn,
};
use crate::{ErrorKind, ProviderError};

/// JSON-schema keys Gemini's `parameters` (an OpenAPI subset) rejects.
const REJECTED_SCHEMA_KEYS: [&str; 3] = ["additionalProperties", "$schema", "strict"];

fn bad(param: &str, message: String) -> ProviderError {
    ProviderError { param: Some(param.to_string()), ..ProviderError::new(ErrorKind::BadRequest, message) }
}

/// Builds the `generateContent` body. Gemini wants `user` and `model` turns to alternate, so
/// neighbouring turns of one role (a tool result followed by a user message, say) are merged.
pub fn to_wire(conversation: &Conversation) -> Result<GenerateContentRequest, ProviderError> {
    // Gemini answers a call by function name, OpenAI by call id: remember which id named what.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    let mut contents: Vec<Content> = Vec::new();
    for turn in &conversation.turns {
        let (role, parts) = match turn {
            Turn::User(parts) => ("user", parts.iter().map(user_part).filter_map(Result::transpose).collect::<Result<Vec<_>, _>>()?),
            Turn::Assistant { text, reasoning_signature, tool_calls, .. } => {
                for call in tool_calls {
                    call_names.insert(&call.id, &call.function.name);
                }
                ("model", model_parts(text, reasoning_signature.as_deref(), tool_calls)?)
            }
            Turn::ToolResult { call_id, content } => {
                let name = call_names
                    .get(call_id.as_str())
                    .ok_or_else(|| bad("messages", format!("the tool result for `{call_id}` answers no earlier assistant tool call")))?;
                let response = FunctionResponse { name: name.to_string(), response: json!({ "content": content }) };
                ("user", vec![Part { function_response: Some(response), ..Part::default() }])
            }
        };
        if parts.is_empty() {
            continue; // Gemini rejects a turn without parts
        }
        match contents.last_mut() {
            Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
            _ => contents.push(Content { role: Some(role.to_string()), parts }),
        }
    }
    let system: Vec<Part> = conversation.system.iter().filter(|s| !s.is_empty()).map(|s| text_part(s.clone())).collect();
    Ok(GenerateContentRequest {
        contents,
        system_instruction: (!system.is_empty()).then_some(Content { role: None, parts: system }),
        tools: tools(&conversation.tools),
        tool_config: conversation.tool_choice.as_ref().map(tool_config),
        generation_config: generation_config(conversation),
    })
}

fn text_part(text: String) -> Part {
    Part { text: Some(text), ..Part::default() }
}

/// One user content part; `None` for empty text, which Gemini refuses.
fn user_part(part: &crate::translate::Part) -> Result<Option<Part>, ProviderError> {
    use crate::translate::Part as In;
    Ok(Some(match part {
        In::Text(t) if t.is_empty() => return Ok(None),
        In::Text(t) => text_part(t.clone()),
        In::Image { url } => match split_data_url(url) {
            Some((mime, data)) => {
                Part { inline_data: Some(Blob { mime_type: mime.to_string(), data: data.to_string() }), ..Part::default() }
            }
            None if url.starts_with("http://") || url.starts_with("https://") => {
                Part { file_data: Some(FileData { file_uri: url.clone(), mime_type: image_mime(url).to_string() }), ..Part::default() }
            }
            None => return Err(bad("messages", "an image URL must be a base64 `data:` URL or an http(s) URL".into())),
        },
        In::File { media_type, data, .. } => {
            Part { inline_data: Some(Blob { mime_type: media_type.clone(), data: data.clone() }), ..Part::default() }
        }
    }))
}

/// `data:image/png;base64,AAAA` → (`image/png`, `AAAA`).
fn split_data_url(url: &str) -> Option<(&str, &str)> {
    let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
    Some((meta.strip_suffix(";base64")?, data))
}

/// Gemini needs a MIME type for a file URI; guess it from the extension.
fn image_mime(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url).to_ascii_lowercase();
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("heic") => "image/heic",
        Some("heif") => "image/heif",
        _ => "image/jpeg",
    }
}

fn model_parts(text: &str, signature: Option<&str>, tool_calls: &[ToolCall]) -> Result<Vec<Part>, ProviderError> {
    let mut parts = Vec::new();
    if !text.is_empty() {
        parts.push(text_part(text.to_string()));
    }
    for call in tool_calls {
        let arguments = call.function.arguments.trim();
        let args: Value = if arguments.is_empty() {
            json!({})
        } else {
            serde_json::from_str(arguments)
                .map_err(|e| bad("messages", format!("the arguments of tool call `{}` are not JSON: {e}", call.id)))?
        };
        let function_call = FunctionCall { name: call.function.name.clone(), args, ..FunctionCall::default() };
        parts.push(Part { function_call: Some(function_call), ..Part::default() });
    }
    // Gemini validates the signature on the part it was issued with: the first function call
    // of the turn, or its first part when there is no call.
    if let Some(signature) = signature.filter(|s| !s.is_empty()) {
        let index = parts.iter().position(|p| p.function_call.is_some()).unwrap_or(0);
        if let Some(part) = parts.get_mut(index) {
            part.thought_signature = Some(signature.to_string());
        }
    }
    Ok(parts)
}

fn tools(defs: &[ToolDef]) -> Vec<Tool> {
    if defs.is_empty() {
        return Vec::new();
    }
    let function_declarations = defs
        .iter()
        .map(|d| FunctionDeclaration { name: d.name.clone(), description: d.description.clone(), parameters: parameters(&d.parameters) })
        .collect();
    vec![Tool { function_declarations }]
}

/// The tool's schema without the keys Gemini rejects; `None` for a parameterless function,
/// since Gemini refuses an OBJECT schema with no properties.
fn parameters(schema: &Value) -> Option<Value> {
    let mut schema = schema.clone();
    clean_schema(&mut schema);
    let no_properties = schema.get("properties").and_then(Value::as_object).is_none_or(|p| p.is_empty());
    let is_object = schema.get("type").and_then(Value::as_str).is_none_or(|t| t.eq_ignore_ascii_case("object"));
    (!(no_properties && is_object)).then_some(schema)
}

fn clean_schema(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            for key in REJECTED_SCHEMA_KEYS {
                map.remove(key);
            }
            for (key, value) in map.iter_mut() {
                // The keys of these maps are property names, not schema keywords.
                match (key.as_str(), value) {
                    ("properties" | "$defs" | "definitions", Value::Object(named)) => named.values_mut().for_each(clean_schema),
                    (_, value) => clean_schema(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean_schema),
        _ => {}
    }
}

fn tool_config(choice: &ToolChoiceMode) -> ToolConfig {
    let (mode, allowed_function_names) = match choice {
        ToolChoiceMode::Auto => ("AUTO", Vec::new()),
        ToolChoiceMode::None => ("NONE", Vec::new()),
        ToolChoiceMode::Required => ("ANY", Vec::new()),
        ToolChoiceMode::Named(name) => ("ANY", vec![name.clone()]),
    };
    ToolConfig { function_calling_config: FunctionCallingConfig { mode, allowed_function_names } }
}

fn generation_config(c: &Conversation) -> GenerationConfig {
    let (response_mime_type, response_json_schema) = match &c.response_format {
        None => (None, None),
        Some(ResponseFormat::JsonObject) => (Some("application/json"), None),
        Some(ResponseFormat::JsonSchema { schema, .. }) => (Some("application/json"), Some(schema.clone())),
    };
    GenerationConfig {
        temperature: c.temperature,
        top_p: c.top_p,
        max_output_tokens: c.max_tokens,
        stop_sequences: c.stop.clone(),
        response_mime_type,
        response_json_schema,
        thinking_config: reasoning_budget(c.reasoning_effort.as_deref())
            .map(|thinking_budget| ThinkingConfig { thinking_budget, include_thoughts: true }),
    }
}

/// A whole `generateContent` answer as a canonical completion. Only the first candidate is
/// read: the gateway never asks for more.
pub fn completion(response: GenerateContentResponse, model: &str, provider: &str) -> Result<Completion, ProviderError> {
    let Some(candidate) = response.candidates.into_iter().next() else {
        return Err(match response.prompt_feedback {
            Some(feedback) if feedback.block_reason.is_some() => prompt_blocked(provider, &feedback),
            _ => ProviderError::new(ErrorKind::Malformed, format!("provider `{provider}` answered without a candidate")),
        });
    };
    let mut out = Completion {
        id: response.response_id.unwrap_or_else(new_id),
        model: response.model_version.unwrap_or_else(|| model.to_string()),
        created: crate::unix_now(),
        usage: response.usage_metadata.as_ref().map(usage).unwrap_or_default(),
        ..Completion::default()
    };
    for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
        if out.reasoning_signature.is_none() {
            out.reasoning_signature = part.thought_signature.clone();
        }
        match (part.function_call, part.text) {
            (Some(call), _) => {
                let n = out.tool_calls.len();
                out.tool_calls.push(tool_call(call, n));
            }
            (None, Some(text)) if part.thought == Some(true) => out.reasoning.push_str(&text),
            (None, Some(text)) => out.text.push_str(&text),
            (None, None) => {}
        }
    }
    out.finish_reason = candidate.finish_reason.as_deref().map(finish_reason);
    if out.finish_reason == Some(FinishReason::Stop) && !out.tool_calls.is_empty() {
        out.finish_reason = Some(FinishReason::ToolCalls);
    }
    Ok(out)
}

/// An OpenAI tool call from a whole Gemini call; `n` numbers the calls of one answer.
pub fn tool_call(call: FunctionCall, n: usize) -> ToolCall {
    let arguments = if call.args.is_null() { "{}".to_string() } else { call.args.to_string() };
    ToolCall { id: call_id(call.id, n), kind: "function".to_string(), function: CalledFunction { name: call.name, arguments } }
}

/// Gemini's call id when it sends one, else `call_{n}`.
pub fn call_id(id: Option<String>, n: usize) -> String {
    id.filter(|id| !id.is_empty()).unwrap_or_else(|| format!("call_{n}"))
}

/// Gemini's `finishReason` in OpenAI's terms. Output withheld by a safety filter, a blocklist,
/// a recitation check or Vertex AI's Model Armor is `content_filter`; the reasons that are not
/// about the content (`OTHER`, `MALFORMED_FUNCTION_CALL`, unknown ones) end it as `stop`.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "MODEL_ARMOR"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// Gemini's `candidatesTokenCount` leaves out thinking tokens; OpenAI's `completion_tokens`
/// includes them.
pub fn usage(u: &UsageMetadata) -> Usage {
    Usage {
        input_tokens: u.prompt_token_count,
        // Saturating: the counts come from the upstream, which can send any number.
        output_tokens: u.candidates_token_count.saturating_add(u.thoughts_token_count),
        cached_input_tokens: u.cached_content_token_count,
        cache_write_tokens: 0,
        reasoning_tokens: u.thoughts_token_count,
    }
}

pub fn prompt_blocked(provider: &str, feedback: &PromptFeedback) -> ProviderError {
    let reason = feedback.block_reason.as_deref().unwrap_or("unspecified");
    let detail = feedback.block_reason_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
    ProviderError::new(ErrorKind::ContentFilter, format!("provider `{provider}` blocked the prompt ({reason}){detail}"))
}

pub fn new_id() -> String {
    format!("chatcmpl-{:016x}", fastrand::u64(..))
}

/// Classifies a non-success answer: the generic HTTP mapping, refined by Gemini's `status`
/// name, error reason and `RetryInfo`.
pub fn error_from_http(status: u16, body: &[u8], retry_after: Option<Duration>, redact: impl Fn(&str) -> String) -> ProviderError {
    let mut err = ProviderError::from_http(status, body, retry_after, &redact);
    if let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(body) {
        refine(&mut err, &error);
    }
    err
}

/// An `{"error": …}` event inside a stream.
pub fn stream_error(provider: &str, status: &Status) -> ProviderError {
    let message = crate::credential::redact_key_shapes(&status.message);
    let mut err = ProviderError::new(ErrorKind::Server, format!("provider `{provider}`: {message}"));
    err.status = status.code;
    refine(&mut err, status);
    err
}

fn refine(err: &mut ProviderError, rpc: &Status) {
    let reason = detail(&rpc.details, "google.rpc.ErrorInfo", "reason");
    let http = rpc.code.or(err.status).unwrap_or(0);
    let kind = match (rpc.status.as_deref(), reason) {
        (Some("RESOURCE_EXHAUSTED"), _) => Some(ErrorKind::RateLimited),
        (Some("UNAVAILABLE"), _) => Some(ErrorKind::Overloaded),
        (Some("UNAUTHENTICATED" | "PERMISSION_DENIED"), _) | (_, Some("API_KEY_INVALID")) => Some(ErrorKind::Auth),
        _ if http == 400 && mentions_context_limit(&rpc.message) => Some(ErrorKind::ContextLength),
        _ if http >= 500 && err.kind == ErrorKind::BadRequest => Some(ErrorKind::Server),
        _ => None,
    };
    if let Some(kind) = kind {
        err.refine(kind);
    }
    err.retry_after = err.retry_after.or_else(|| detail(&rpc.details, "google.rpc.RetryInfo", "retryDelay").and_then(parse_delay));
    err.upstream_type = rpc.status.clone();
    err.code = reason.map(str::to_string);
}

/// "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
fn mentions_context_limit(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    (m.contains("token") && (m.contains("exceeds") || m.contains("limit") || m.contains("maximum"))) || m.contains("context")
}

/// A string field of the first `details` entry of the given `@type`.
fn detail<'a>(details: &'a [Value], kind: &str, field: &str) -> Option<&'a str> {
    details
        .iter()
        .find(|d| d.get("@type").and_then(Value::as_str).is_some_and(|t| t.ends_with(kind)))
        .and_then(|d| d.get(field))
        .and_then(Value::as_str)
}

/// A protobuf Duration in JSON: `"34.4s"`.
fn parse_delay(text: &str) -> Option<Duration> {
    let secs: f64 = text.strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use switchyard_protocol::openai::ChatRequest;

    use super::*;

    #[test]
    fn untranslatable_history_is_a_bad_request() {
        let orphan =
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "1"}]});
        let bad_args = json!({"model": "m", "messages": [{"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]});
        for body in [orphan, bad_args] {
            let conversation = Conversation::from_request(&ChatRequest::parse(body.to_string().as_bytes()).unwrap()).unwrap();
            assert_eq!(to_wire(&conversation).unwrap_err().kind, ErrorKind::BadRequest);
        }
    }

    #[test]
    fn signature_on_a_text_part_is_returned() {
        // Gemini 3 signs plain text (vertex/text-stream.sse); call ids are kept when Gemini sends them.
        let answer: GenerateContentResponse = serde_json::from_value(json!({"candidates": [{"content": {"role": "model", "parts": [
            {"text": "OK", "thoughtSignature": "c2ln"}, {"functionCall": {"id": "fc-9", "name": "f"}}]}, "finishReason": "STOP"}]}))
        .unwrap();
        let completion = completion(answer, "m", "gem").unwrap();
        assert_eq!((completion.text.as_str(), completion.reasoning_signature.as_deref()), ("OK", Some("c2ln")));
        assert_eq!((completion.tool_calls[0].id.as_str(), completion.tool_calls[0].function.arguments.as_str()), ("fc-9", "{}"));
        assert_eq!(completion.finish_reason, Some(FinishReason::ToolCalls));
        assert!(completion.id.starts_with("chatcmpl-") && completion.model == "m", "generated id, requested model");
    }
}
