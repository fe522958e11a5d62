//! OpenAI request → Anthropic Messages request, and Messages response → OpenAI completion.

use serde_json::{json, Map, Value};
use switchyard_protocol::openai::{CalledFunction, ToolCall};

use super::wire::{Block, MessageResponse};
use crate::translate::{
    reasoning_budget, split_data_url, Completion, Conversation, FinishReason, Part, ResponseFormat, ToolChoiceMode, Turn,
};

/// Anthropic requires `max_tokens`; OpenAI clients usually send none and expect no truncation.
/// The default is the model's maximum output, capped so that a non-streamed answer stays within
/// Anthropic's request time limits. Longest prefix wins; unknown models get the smallest value.
const MAX_OUTPUT: &[(&str, u64)] = &[
    ("claude-opus-4-5", 64_000),
    ("claude-opus-4", 32_000),
    ("claude-sonnet-4", 64_000),
    ("claude-haiku-4", 64_000),
    ("claude-3-7-sonnet", 64_000),
    ("claude-3-5", 8_192),
    ("claude-3", 4_096),
];
const DEFAULT_MAX_TOKENS_CAP: u64 = 16_384;
const UNKNOWN_MODEL_MAX_TOKENS: u64 = 4_096;

/// `max_tokens` for a request that set none, by model (`anthropic.`/`us.` Bedrock-style and
/// `@date` Vertex-style names included).
pub fn default_max_tokens(model: &str) -> u64 {
    let name = model.rsplit('.').next().unwrap_or(model);
    MAX_OUTPUT
        .iter()
        .filter(|(prefix, _)| name.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map_or(UNKNOWN_MODEL_MAX_TOKENS, |(_, max)| (*max).min(DEFAULT_MAX_TOKENS_CAP))
}
/// The smallest thinking budget Anthropic accepts.
const MIN_THINKING_BUDGET: u64 = 1024;

pub fn finish_reason(stop: Option<&str>) -> FinishReason {
    match stop {
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

pub fn to_wire(c: &Conversation, model: &str, stream: bool, default_max_tokens: u64) -> Value {
    let max_tokens = c.max_tokens.unwrap_or(default_max_tokens);
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("max_tokens".into(), json!(max_tokens));
    let mut system: Vec<String> = c.system.clone();
    if c.response_format == Some(ResponseFormat::JsonObject) {
        // Anthropic has no JSON mode; an instruction is the documented way to get JSON.
        system.push("Respond with a single JSON object and nothing else.".into());
    }
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    body.insert("messages".into(), Value::Array(messages(&c.turns)));
    if !c.tools.is_empty() && c.tool_choice != Some(ToolChoiceMode::None) {
        let tools: Vec<Value> = c
            .tools
            .iter()
            .map(|t| {
                let mut tool = json!({"name": t.name, "input_schema": t.parameters});
                if let Some(d) = &t.description {
                    tool["description"] = json!(d);
                }
                tool
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        let mut choice = match &c.tool_choice {
            Some(ToolChoiceMode::Required) => json!({"type": "any"}),
            Some(ToolChoiceMode::Named(name)) => json!({"type": "tool", "name": name}),
            _ => json!({"type": "auto"}),
        };
        if c.parallel_tool_calls == Some(false) {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        body.insert("tool_choice".into(), choice);
    }
    let budget = reasoning_budget(c.reasoning_effort.as_deref()).map(|b| b.min(max_tokens.saturating_sub(1)));
    match budget {
        // Thinking requires the default temperature, so sampling settings are not sent with it.
        Some(b) if b >= MIN_THINKING_BUDGET => {
            body.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": b}));
        }
        _ => {
            if let Some(t) = c.temperature {
                body.insert("temperature".into(), json!(t));
            }
            if let Some(p) = c.top_p {
                body.insert("top_p".into(), json!(p));
            }
        }
    }
    if !c.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(c.stop));
    }
    if let Some(ResponseFormat::JsonSchema { schema, .. }) = &c.response_format {
        body.insert("output_config".into(), json!({"format": {"type": "json_schema", "schema": schema}}));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    Value::Object(body)
}

/// Turns → alternating user/assistant messages; tool results travel in user messages, and
/// consecutive same-role turns are merged because Anthropic requires alternation.
fn messages(turns: &[Turn]) -> Vec<Value> {
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for turn in turns {
        let (role, blocks) = match turn {
            Turn::User(parts) => ("user", parts.iter().map(part).collect()),
            Turn::ToolResult { call_id, content } => {
                ("user", vec![json!({"type": "tool_result", "tool_use_id": call_id, "content": content})])
            }
            Turn::Assistant { text, reasoning, reasoning_signature, reasoning_redacted, tool_calls } => {
                let mut blocks = Vec::new();
                // Thinking must come back first and signed, or Anthropic rejects the turn.
                if let (Some(thinking), Some(signature)) = (reasoning, reasoning_signature) {
                    blocks.push(json!({"type": "thinking", "thinking": thinking, "signature": signature}));
                }
                for data in reasoning_redacted {
                    blocks.push(json!({"type": "redacted_thinking", "data": data}));
                }
                if !text.is_empty() {
                    blocks.push(json!({"type": "text", "text": text}));
                }
                for call in tool_calls {
                    let input: Value = serde_json::from_str(&call.function.arguments).unwrap_or_else(|_| json!({}));
                    blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.function.name, "input": input}));
                }
                ("assistant", blocks)
            }
        };
        match out.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => out.push((role, blocks)),
        }
    }
    out.into_iter().map(|(role, content)| json!({"role": role, "content": content})).collect()
}

fn part(p: &Part) -> Value {
    match p {
        Part::Text(t) => json!({"type": "text", "text": t}),
        Part::Image { url } => match split_data_url(url) {
            Some((media_type, data)) => json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
            // Anthropic fetches URL images itself.
            None => json!({"type": "image", "source": {"type": "url", "url": url}}),
        },
        Part::File { media_type, data, .. } => {
            json!({"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}})
        }
    }
}

pub fn from_wire(r: MessageResponse, created: u64) -> Completion {
    let mut c = Completion { id: r.id, model: r.model, created, usage: r.usage.canonical(), ..Completion::default() };
    for block in r.content.unwrap_or_default() {
        match block {
            Block::Text { text } => c.text.push_str(&text),
            Block::Thinking { thinking, signature } => {
                c.reasoning.push_str(&thinking);
                c.reasoning_signature = signature.or(c.reasoning_signature);
            }
            Block::ToolUse { id, name, input } => {
                c.tool_calls.push(ToolCall { id, kind: "function".into(), function: CalledFunction { name, arguments: input.to_string() } })
            }
            Block::RedactedThinking { data } => c.reasoning_redacted.push(data),
            Block::Other => {}
        }
    }
    c.finish_reason = Some(finish_reason(r.stop_reason.as_deref()));
    c
}

#[cfg(test)]
mod tests {
    use super::default_max_tokens;

    #[test]
    fn max_tokens_defaults_follow_the_model() {
        assert_eq!(default_max_tokens("claude-sonnet-4-5-20250929"), 16_384);
        assert_eq!(default_max_tokens("claude-3-5-haiku-latest"), 8_192);
        assert_eq!(default_max_tokens("claude-3-haiku-20240307"), 4_096);
        assert_eq!(default_max_tokens("claude-opus-4-1@20250805"), 16_384);
        assert_eq!(default_max_tokens("some-new-model"), 4_096);
    }
}
