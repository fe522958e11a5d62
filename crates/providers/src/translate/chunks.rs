//! Writes OpenAI `chat.completion.chunk`s from canonical stream events. It owns the invariants
//! clients rely on: the role arrives first; a tool call's id, type and name arrive on its first
//! fragment with a stable `index` counted from 0 in order of appearance; finish and usage last.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{json, Value};
use switchyard_protocol::Usage;

use super::completion::{usage_json, FinishReason};
use crate::Chunk;

pub struct ChunkWriter {
    id: String,
    model: String,
    created: u64,
    role_sent: bool,
    /// Provider block or part key → OpenAI tool-call index.
    tool_index: HashMap<u64, usize>,
    saw_tool_call: bool,
}

impl ChunkWriter {
    pub fn new(id: impl Into<String>, model: impl Into<String>, created: u64) -> Self {
        Self { id: id.into(), model: model.into(), created, role_sent: false, tool_index: HashMap::new(), saw_tool_call: false }
    }

    pub fn set_identity(&mut self, id: &str, model: &str) {
        if !id.is_empty() {
            self.id = id.to_string();
        }
        if !model.is_empty() {
            self.model = model.to_string();
        }
    }

    fn chunk(&self, choices: Value, usage: Option<&Usage>) -> Bytes {
        let body = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": choices, "usage": usage.map(usage_json),
        });
        Bytes::from(serde_json::to_vec(&body).expect("chunk serialises"))
    }

    fn delta(&mut self, mut delta: Value, finish: Option<FinishReason>) -> Chunk {
        let content = finish.is_some()
            || ["content", "reasoning_content", "reasoning_signature", "reasoning_redacted", "refusal"]
                .iter()
                .any(|k| delta[k].as_str().is_some_and(|v| !v.is_empty()))
            || delta.get("tool_calls").is_some();
        if !self.role_sent {
            self.role_sent = true;
            delta["role"] = Value::from("assistant");
        }
        let data =
            self.chunk(json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish.map(FinishReason::as_str)}]), None);
        Chunk { data, usage: None, usage_only: false, content }
    }

    /// The opening chunk (`role: assistant`, empty content), as OpenAI sends it.
    pub fn start(&mut self) -> Chunk {
        self.delta(json!({"content": ""}), None)
    }

    pub fn text(&mut self, text: &str) -> Chunk {
        self.delta(json!({"content": text}), None)
    }

    pub fn reasoning(&mut self, text: &str) -> Chunk {
        self.delta(json!({"reasoning_content": text}), None)
    }

    pub fn reasoning_signature(&mut self, signature: &str) -> Chunk {
        self.delta(json!({"reasoning_signature": signature}), None)
    }

    /// One block of encrypted thinking (Anthropic's `redacted_thinking`), whole.
    pub fn reasoning_redacted(&mut self, data: &str) -> Chunk {
        self.delta(json!({"reasoning_redacted": [data]}), None)
    }

    /// The first fragment of a tool call, keyed by the provider's block or part number.
    pub fn tool_start(&mut self, key: u64, id: &str, name: &str, arguments: &str) -> Chunk {
        let next = self.tool_index.len();
        let index = *self.tool_index.entry(key).or_insert(next);
        self.saw_tool_call = true;
        self.delta(
            json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": arguments}}]}),
            None,
        )
    }

    /// A later fragment of a tool call's arguments; `None` for a key never started.
    pub fn tool_arguments(&mut self, key: u64, fragment: &str) -> Option<Chunk> {
        let index = *self.tool_index.get(&key)?;
        Some(self.delta(json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}), None))
    }

    /// The last content chunk. A stream that produced tool calls finishes with `tool_calls`
    /// whatever the provider called it, since that is what clients branch on.
    pub fn finish(&mut self, reason: FinishReason) -> Chunk {
        let reason = if self.saw_tool_call && reason == FinishReason::Stop { FinishReason::ToolCalls } else { reason };
        self.delta(json!({}), Some(reason))
    }

    /// The usage-only chunk `stream_options.include_usage` asks for.
    pub fn usage(&self, usage: Usage) -> Chunk {
        Chunk { data: self.chunk(json!([]), Some(&usage)), usage: Some(usage), usage_only: true, content: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(c: &Chunk) -> Value {
        serde_json::from_slice(&c.data).unwrap()
    }

    #[test]
    fn tool_calls_get_stable_indexes_and_their_name_first() {
        let mut w = ChunkWriter::new("id", "m", 1);
        assert_eq!(v(&w.text("I'll look"))["choices"][0]["delta"]["role"], "assistant");
        let first = v(&w.tool_start(1, "t1", "get", ""));
        assert_eq!(
            first["choices"][0]["delta"]["tool_calls"][0],
            json!({"index": 0, "id": "t1", "type": "function", "function": {"name": "get", "arguments": ""}})
        );
        assert!(first["choices"][0]["delta"].get("role").is_none());
        v(&w.tool_start(7, "t2", "get", ""));
        let frag = v(&w.tool_arguments(7, "{\"a\"").unwrap());
        assert_eq!(frag["choices"][0]["delta"]["tool_calls"][0], json!({"index": 1, "function": {"arguments": "{\"a\""}}));
        assert!(w.tool_arguments(99, "x").is_none());
        assert_eq!(v(&w.finish(FinishReason::Stop))["choices"][0]["finish_reason"], "tool_calls");
        let usage = w.usage(Usage { input_tokens: 10, output_tokens: 5, cached_input_tokens: 4, ..Usage::default() });
        assert!(usage.usage_only);
        assert_eq!(v(&usage)["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
    }
}
