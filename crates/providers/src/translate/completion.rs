//! A finished answer in canonical terms, written out as an OpenAI `chat.completion`.

use bytes::Bytes;
use serde_json::{json, Value};
use switchyard_protocol::openai::ToolCall;
use switchyard_protocol::Usage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub id: String,
    pub model: String,
    pub created: u64,
    pub text: String,
    pub reasoning: String,
    /// The provider's signature of the reasoning, returned so that a client can send it back.
    pub reasoning_signature: Option<String>,
    /// Encrypted thinking blocks (Anthropic's `redacted_thinking`), opaque, to be sent back.
    pub reasoning_redacted: Vec<String>,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: Option<FinishReason>,
    pub usage: Usage,
    /// Set when the provider refused (OpenAI's `message.refusal`).
    pub refusal: Option<String>,
}

/// OpenAI's usage object from canonical usage: `prompt_tokens` counts cached and cache-written
/// tokens too, as OpenAI's does. Tokens written to a provider's prompt cache (Anthropic,
/// Bedrock), which OpenAI has no name for, are `prompt_tokens_details.cache_write_tokens` when
/// there are any: the Messages API reports them as `cache_creation_input_tokens`.
pub fn usage_json(u: &Usage) -> Value {
    let mut details = json!({"cached_tokens": u.cached_input_tokens});
    if u.cache_write_tokens > 0 {
        details["cache_write_tokens"] = json!(u.cache_write_tokens);
    }
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.total(),
        "prompt_tokens_details": details,
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    })
}

impl Completion {
    pub fn to_openai(&self) -> Bytes {
        let mut message = json!({
            "role": "assistant",
            "content": if self.text.is_empty() && (!self.tool_calls.is_empty() || self.refusal.is_some()) { Value::Null } else { Value::from(self.text.clone()) },
            "refusal": self.refusal,
        });
        if !self.reasoning.is_empty() {
            message["reasoning_content"] = Value::from(self.reasoning.clone());
        }
        if let Some(sig) = &self.reasoning_signature {
            message["reasoning_signature"] = Value::from(sig.clone());
        }
        if !self.reasoning_redacted.is_empty() {
            message["reasoning_redacted"] = json!(self.reasoning_redacted);
        }
        if !self.tool_calls.is_empty() {
            message["tool_calls"] = serde_json::to_value(&self.tool_calls).expect("tool calls serialise");
        }
        let finish = self.finish_reason.unwrap_or(if self.tool_calls.is_empty() { FinishReason::Stop } else { FinishReason::ToolCalls });
        let body = json!({
            "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish.as_str()}],
            "usage": usage_json(&self.usage),
        });
        Bytes::from(serde_json::to_vec(&body).expect("completion serialises"))
    }
}
