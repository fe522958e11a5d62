//! OpenAI request (as a `Conversation`) → Converse request, and Converse answers and errors →
//! canonical completions, usage, finish reasons and `ProviderError`s.

use std::time::Duration;

use serde_json::{json, Value};
use switchyard_protocol::Usage;

use super::wire::*;
use crate::translate::{
    reasoning_budget, split_data_url, CalledFunction, Completion, Conversation, FinishReason, Part, ResponseFormat, ToolCall,
    ToolChoiceMode, Turn,
};
use crate::{ErrorKind, ProviderError};

fn bad(param: &str, message: impl Into<String>) -> ProviderError {
    ProviderError { param: Some(param.to_string()), ..ProviderError::new(ErrorKind::BadRequest, message) }
}

pub fn to_wire(c: &Conversation, model: &str) -> Result<ConverseRequest, ProviderError> {
    let mut messages: Vec<WireMessage> = Vec::new();
    for turn in &c.turns {
        let (role, blocks) = match turn {
            Turn::User(parts) => ("user", parts.iter().enumerate().map(|(i, p)| user_block(i, p)).collect::<Result<Vec<_>, _>>()?),
            // Redacted thinking from Anthropic itself is not sent in Converse form (its `redactedContent`
            // is not produced by this adapter either).
            Turn::Assistant { text, reasoning, reasoning_signature, tool_calls, .. } => {
                let mut blocks = Vec::new();
                // Claude rejects thinking it cannot verify, so unsigned reasoning is not sent back.
                if let (Some(text), Some(signature)) = (reasoning, reasoning_signature) {
                    blocks.push(ContentBlock::ReasoningContent(ReasoningBlock {
                        reasoning_text: ReasoningText { text: text.clone(), signature: signature.clone() },
                    }));
                }
                if !text.trim().is_empty() {
                    blocks.push(ContentBlock::Text(text.clone()));
                }
                for call in tool_calls {
                    blocks.push(ContentBlock::ToolUse(ToolUseBlock {
                        tool_use_id: call.id.clone(),
                        name: call.function.name.clone(),
                        input: arguments(&call.function.arguments)?,
                    }));
                }
                ("assistant", blocks)
            }
            Turn::ToolResult { call_id, content } => (
                "user",
                vec![ContentBlock::ToolResult(ToolResultBlock {
                    tool_use_id: call_id.clone(),
                    content: vec![ToolResultContent { text: content.clone() }],
                })],
            ),
        };
        if blocks.is_empty() {
            continue;
        }
        // Bedrock wants strictly alternating roles: tool results and the user text after them
        // (or two user messages in a row) become one message.
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => messages.push(WireMessage { role, content: blocks }),
        }
    }
    Ok(ConverseRequest {
        messages,
        system: c.system.iter().filter(|s| !s.is_empty()).map(|s| SystemBlock { text: s.clone() }).collect(),
        inference_config: InferenceConfig {
            max_tokens: c.max_tokens,
            temperature: c.temperature,
            top_p: c.top_p,
            stop_sequences: c.stop.clone(),
        },
        tool_config: tool_config(c),
        output_config: match &c.response_format {
            Some(ResponseFormat::JsonSchema { name, schema }) => Some(json!({
                "textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"name": name, "schema": schema.to_string()}}}
            })),
            // Converse has no plain JSON mode; the prompt has to ask for JSON.
            Some(ResponseFormat::JsonObject) | None => None,
        },
        additional_model_request_fields: match reasoning_budget(c.reasoning_effort.as_deref()) {
            Some(budget) if model.contains("anthropic") => Some(json!({"thinking": {"type": "enabled", "budget_tokens": budget}})),
            _ => None,
        },
    })
}

fn tool_config(c: &Conversation) -> Option<ToolConfig> {
    if c.tools.is_empty() {
        return None;
    }
    let tools = c
        .tools
        .iter()
        .map(|t| ToolEntry {
            tool_spec: ToolSpec {
                name: t.name.clone(),
                description: t.description.clone(),
                input_schema: InputSchema { json: t.parameters.clone() },
            },
        })
        .collect();
    let tool_choice = match &c.tool_choice {
        Some(ToolChoiceMode::Auto) => Some(json!({"auto": {}})),
        Some(ToolChoiceMode::Required) => Some(json!({"any": {}})),
        Some(ToolChoiceMode::Named(name)) => Some(json!({"tool": {"name": name}})),
        // Bedrock has no "none": the tools stay declared (earlier turns may hold toolUse blocks,
        // which Bedrock only accepts with a toolConfig) and no choice is sent, i.e. auto.
        Some(ToolChoiceMode::None) | None => None,
    };
    Some(ToolConfig { tools, tool_choice })
}

fn user_block(i: usize, part: &Part) -> Result<ContentBlock, ProviderError> {
    Ok(match part {
        Part::Text(text) => ContentBlock::Text(text.clone()),
        Part::Image { url } => {
            let Some((media_type, data)) = split_data_url(url) else {
                return Err(bad("messages.content.image_url", "an image URL must be a base64 `data:` URL or an http(s) URL"));
            };
            let format = match media_type {
                "image/png" => "png",
                "image/jpeg" | "image/jpg" => "jpeg",
                "image/gif" => "gif",
                "image/webp" => "webp",
                other => {
                    return Err(bad(
                        "messages.content.image_url",
                        format!("Bedrock does not accept images of type `{other}` (png, jpeg, gif, webp)"),
                    ))
                }
            };
            ContentBlock::Image(MediaBlock { format, source: BytesSource { bytes: data.to_string() } })
        }
        Part::File { media_type, data, filename } => {
            let format = match media_type.as_str() {
                "application/pdf" => "pdf",
                "text/plain" => "txt",
                "text/csv" => "csv",
                "text/html" => "html",
                "text/markdown" => "md",
                other => return Err(bad("messages.content.file", format!("Bedrock does not accept documents of type `{other}`"))),
            };
            let name = document_name(filename.as_deref(), i);
            ContentBlock::Document(DocumentBlock { format, name, source: BytesSource { bytes: data.clone() } })
        }
    })
}

/// Bedrock allows only letters, digits, single spaces, hyphens, parentheses and brackets in a
/// document name (no dots), and names must differ within a request.
fn document_name(filename: Option<&str>, i: usize) -> String {
    let stem = filename.map(|f| f.rsplit_once('.').map_or(f, |(s, _)| s)).unwrap_or("");
    let mut name = String::new();
    for c in stem.chars() {
        let c = if c.is_ascii_alphanumeric() || "-()[]".contains(c) { c } else { ' ' };
        if !(c == ' ' && (name.is_empty() || name.ends_with(' '))) {
            name.push(c);
        }
    }
    let name = name.trim_end();
    if name.is_empty() {
        format!("document {}", i + 1)
    } else {
        name.to_string()
    }
}

fn arguments(text: &str) -> Result<Value, ProviderError> {
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(text).map_err(|e| bad("messages.tool_calls.function.arguments", format!("tool call arguments are not JSON: {e}")))
}

pub fn finish_reason(stop: &str) -> FinishReason {
    match stop {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        // end_turn, stop_sequence and anything new.
        _ => FinishReason::Stop,
    }
}

/// Canonical usage counts every prompt token as input, cached or not, as OpenAI's does.
pub fn usage(u: &WireUsage) -> Usage {
    Usage {
        // Saturating: the counts come from the upstream, which can send any number.
        input_tokens: u.input_tokens.saturating_add(u.cache_read_input_tokens).saturating_add(u.cache_write_input_tokens),
        output_tokens: u.output_tokens,
        cached_input_tokens: u.cache_read_input_tokens,
        cache_write_tokens: u.cache_write_input_tokens,
        reasoning_tokens: 0,
    }
}

pub fn from_wire(response: ConverseResponse, id: String, model: &str, created: u64) -> Completion {
    let mut completion = Completion { id, model: model.to_string(), created, ..Completion::default() };
    let blocks = response.output.and_then(|o| o.message).map(|m| m.content).unwrap_or_default();
    for block in blocks {
        if let Some(text) = block.text {
            completion.text.push_str(&text);
        }
        if let Some(tool) = block.tool_use {
            completion.tool_calls.push(ToolCall {
                id: tool.tool_use_id,
                kind: "function".to_string(),
                function: CalledFunction { name: tool.name, arguments: tool.input.to_string() },
            });
        }
        if let Some(reasoning) = block.reasoning_content.and_then(|r| r.reasoning_text) {
            completion.reasoning.push_str(&reasoning.text);
            completion.reasoning_signature = reasoning.signature.or(completion.reasoning_signature);
        }
    }
    completion.finish_reason = response.stop_reason.as_deref().map(finish_reason);
    completion.usage = response.usage.as_ref().map(usage).unwrap_or_default();
    completion
}

/// Classifies a Bedrock error from its type (`x-amzn-errortype` header, or the exception type of
/// a stream frame) and message; without a type the HTTP status decides.
pub fn error(
    status: Option<u16>,
    error_type: Option<&str>,
    body: &[u8],
    retry_after: Option<Duration>,
    redact: impl Fn(&str) -> String,
) -> ProviderError {
    // The header can carry a suffix: `ValidationException:http://internal.amazon.com/…`.
    let error_type = error_type.map(|t| t.split(':').next().unwrap_or(t).trim()).filter(|t| !t.is_empty());
    let message = serde_json::from_slice::<ErrorMessage>(body).ok().and_then(|e| e.message).filter(|m| !m.is_empty());
    let mut err = match status {
        Some(status) => ProviderError::from_http(status, body, retry_after, &redact),
        None => ProviderError::new(ErrorKind::Server, "Bedrock reported an error mid-stream"),
    };
    if let Some(message) = &message {
        err.message = redact(message);
    }
    let lower = message.unwrap_or_default().to_ascii_lowercase();
    let too_long =
        ["too long", "too many tokens", "too many input tokens", "context window", "input length"].iter().any(|p| lower.contains(p));
    // Stream exceptions name the type in lowerCamelCase, HTTP headers in UpperCamelCase.
    let kind = match error_type.map(str::to_ascii_lowercase).as_deref() {
        Some("throttlingexception" | "servicequotaexceededexception") => Some(ErrorKind::RateLimited),
        Some("validationexception") if too_long => Some(ErrorKind::ContextLength),
        Some("validationexception") => Some(ErrorKind::BadRequest),
        Some("modelnotreadyexception" | "serviceunavailableexception") => Some(ErrorKind::Overloaded),
        Some("accessdeniedexception" | "unrecognizedclientexception" | "expiredtokenexception" | "invalidsignatureexception") => {
            Some(ErrorKind::Auth)
        }
        Some("resourcenotfoundexception") => Some(ErrorKind::NotFound),
        Some("modeltimeoutexception") => Some(ErrorKind::Timeout),
        Some("internalserverexception" | "modelstreamerrorexception" | "modelerrorexception") => Some(ErrorKind::Server),
        None if err.kind == ErrorKind::BadRequest && too_long => Some(ErrorKind::ContextLength),
        _ => None,
    };
    if let Some(kind) = kind {
        err.refine(kind);
    }
    err.upstream_type = error_type.map(str::to_string).or(err.upstream_type);
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_protocol::openai::ChatRequest;

    fn wire(body: Value, model: &str) -> Result<Value, ProviderError> {
        let request = ChatRequest::parse(body.to_string().as_bytes()).unwrap();
        let c = Conversation::from_request(&request)?;
        Ok(serde_json::to_value(to_wire(&c, model)?).unwrap())
    }

    #[test]
    fn turns_parts_and_settings_take_bedrock_shapes() {
        let w = wire(
            json!({"model": "m", "temperature": 0.5, "top_p": 0.9, "stop": ["END"], "max_completion_tokens": 99, "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}},
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "q3 report.v2.pdf"}}]},
                {"role": "user", "content": "and this"},
                {"role": "assistant", "content": "", "reasoning_content": "think", "reasoning_signature": "sig",
                 "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "get", "arguments": ""}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "42"},
                {"role": "user", "content": "thanks"}
            ]}),
            "amazon.nova-pro-v1:0",
        )
        .unwrap();
        assert_eq!(w["system"], json!([{"text": "be brief"}]));
        assert_eq!(w["inferenceConfig"], json!({"maxTokens": 99, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]}));
        let m = w["messages"].as_array().unwrap();
        assert_eq!(m.iter().map(|m| m["role"].as_str().unwrap()).collect::<Vec<_>>(), ["user", "assistant", "user"], "same roles merged");
        assert_eq!(m[0]["content"][1], json!({"image": {"format": "jpeg", "source": {"bytes": "/9j/"}}}));
        assert_eq!(m[0]["content"][2], json!({"document": {"format": "pdf", "name": "q3 report v2", "source": {"bytes": "JVBE"}}}));
        assert_eq!(m[0]["content"][3], json!({"text": "and this"}));
        assert_eq!(
            m[1]["content"],
            json!([{"reasoningContent": {"reasoningText": {"text": "think", "signature": "sig"}}}, {"toolUse": {"toolUseId": "t1", "name": "get", "input": {}}}])
        );
        assert_eq!(m[2]["content"], json!([{"toolResult": {"toolUseId": "t1", "content": [{"text": "42"}]}}, {"text": "thanks"}]));
        assert!(w.get("additionalModelRequestFields").is_none() && w.get("toolConfig").is_none());
    }

    #[test]
    fn tool_choice_and_reasoning_effort() {
        let body = |choice: Value| {
            json!({"model": "m", "reasoning_effort": "low", "tool_choice": choice, "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "get", "parameters": {"type": "object"}}}]})
        };
        let w = wire(body(json!("required")), "us.anthropic.claude-sonnet-4-20250514-v1:0").unwrap();
        assert_eq!(
            w["toolConfig"],
            json!({"tools": [{"toolSpec": {"name": "get", "inputSchema": {"json": {"type": "object"}}}}], "toolChoice": {"any": {}}})
        );
        assert_eq!(w["additionalModelRequestFields"], json!({"thinking": {"type": "enabled", "budget_tokens": 2048}}));
        assert_eq!(wire(body(json!("auto")), "m").unwrap()["toolConfig"]["toolChoice"], json!({"auto": {}}));
        assert_eq!(
            wire(body(json!({"type": "function", "function": {"name": "get"}})), "m").unwrap()["toolConfig"]["toolChoice"],
            json!({"tool": {"name": "get"}})
        );
        let none = wire(body(json!("none")), "amazon.nova-lite-v1:0").unwrap();
        assert!(none["toolConfig"].get("toolChoice").is_none() && none.get("additionalModelRequestFields").is_none(), "{none}");
    }

    #[test]
    fn what_bedrock_cannot_take_is_a_bad_request() {
        let image = |url: &str| json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]});
        let err = wire(image("https://example.com/cat.png"), "m").unwrap_err();
        assert!(err.kind == ErrorKind::BadRequest && err.message.contains("data:"), "{err}");
        assert_eq!(wire(image("data:image/bmp;base64,Qk0="), "m").unwrap_err().kind, ErrorKind::BadRequest);
        let args = json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]});
        assert_eq!(wire(args, "m").unwrap_err().kind, ErrorKind::BadRequest);
    }
}
