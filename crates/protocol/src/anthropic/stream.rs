//! Canonical chunks (OpenAI `chat.completion.chunk`s) → Anthropic's stream events:
//! `message_start`, then per content block `content_block_start` / `_delta` / `_stop` (thinking
//! with its signature, text, tool_use with `input_json_delta`), then `message_delta` with the
//! stop reason and usage, and `message_stop` — the latter two only at the upstream's proper end.

use serde_json::{json, Value};

use super::response::{message_id, stop_reason, usage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Thinking,
    Text,
    /// A tool call, by its canonical index.
    Tool(u64),
}

/// One stream's state. Events are `(name, data)`; the caller frames them.
#[derive(Debug, Default)]
pub struct Events {
    started: bool,
    /// The block being written and its Anthropic index.
    open: Option<(Open, u64)>,
    next_index: u64,
    finish: Option<String>,
    usage: Option<Value>,
    ended: bool,
}

pub type Event = (&'static str, Value);

impl Events {
    pub fn new() -> Self {
        Self::default()
    }

    /// The events one canonical chunk makes.
    pub fn chunk(&mut self, data: &[u8], out: &mut Vec<Event>) {
        let Ok(chunk) = serde_json::from_slice::<Value>(data) else { return };
        if !self.started {
            self.started = true;
            out.push(start(&chunk));
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(u.clone());
        }
        for choice in chunk["choices"].as_array().into_iter().flatten().filter(|c| c["index"].as_u64().unwrap_or(0) == 0) {
            let delta = &choice["delta"];
            if let Some(t) = delta["reasoning_content"].as_str().filter(|t| !t.is_empty()) {
                self.open_block(Open::Thinking, out);
                self.delta(json!({"type": "thinking_delta", "thinking": t}), out);
            }
            if let Some(sig) = delta["reasoning_signature"].as_str().filter(|s| !s.is_empty()) {
                self.open_block(Open::Thinking, out);
                self.delta(json!({"type": "signature_delta", "signature": sig}), out);
            }
            for data in delta["reasoning_redacted"].as_array().into_iter().flatten() {
                // Whole, in one block of its own.
                self.close_block(out);
                let at = self.next_index;
                self.next_index += 1;
                out.push((
                    "content_block_start",
                    json!({"type": "content_block_start", "index": at,
                    "content_block": {"type": "redacted_thinking", "data": data}}),
                ));
                out.push(("content_block_stop", json!({"type": "content_block_stop", "index": at})));
            }
            for key in ["content", "refusal"] {
                if let Some(t) = delta[key].as_str().filter(|t| !t.is_empty()) {
                    self.open_block(Open::Text, out);
                    self.delta(json!({"type": "text_delta", "text": t}), out);
                }
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                self.tool_call(call, out);
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                self.finish = Some(f.to_string());
                self.close_block(out);
            }
        }
    }

    /// The upstream finished: the open block closes, then `message_delta` and `message_stop`.
    pub fn done(&mut self, out: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        self.ended = true;
        if !self.started {
            self.started = true;
            out.push(start(&Value::Null));
        }
        self.close_block(out);
        let usage = usage(self.usage.as_ref().unwrap_or(&Value::Null));
        out.push((
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop_reason(self.finish.as_deref()), "stop_sequence": null}, "usage": usage}),
        ));
        out.push(("message_stop", json!({"type": "message_stop"})));
    }

    fn tool_call(&mut self, call: &Value, out: &mut Vec<Event>) {
        let index = call["index"].as_u64().unwrap_or(0);
        let function = &call["function"];
        let starts = call.get("id").is_some_and(|id| id.is_string()) || function.get("name").is_some_and(|n| n.is_string());
        if starts && self.open.map(|(o, _)| o) != Some(Open::Tool(index)) {
            self.close_block(out);
            let at = self.next_index;
            self.next_index += 1;
            self.open = Some((Open::Tool(index), at));
            out.push((
                "content_block_start",
                json!({"type": "content_block_start", "index": at, "content_block": {
                    "type": "tool_use", "id": call["id"].as_str().unwrap_or(""), "name": function["name"].as_str().unwrap_or(""), "input": {}}}),
            ));
        }
        if let Some(args) = function["arguments"].as_str().filter(|a| !a.is_empty()) {
            // Arguments of a call not open now (a provider interleaving parallel calls) go to
            // the block that is open: Anthropic's blocks follow one another.
            if self.open.is_some() {
                self.delta(json!({"type": "input_json_delta", "partial_json": args}), out);
            }
        }
    }

    fn open_block(&mut self, kind: Open, out: &mut Vec<Event>) {
        if self.open.map(|(o, _)| o) == Some(kind) {
            return;
        }
        self.close_block(out);
        let at = self.next_index;
        self.next_index += 1;
        self.open = Some((kind, at));
        let block = match kind {
            Open::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
            _ => json!({"type": "text", "text": ""}),
        };
        out.push(("content_block_start", json!({"type": "content_block_start", "index": at, "content_block": block})));
    }

    fn delta(&mut self, delta: Value, out: &mut Vec<Event>) {
        if let Some((_, at)) = self.open {
            out.push(("content_block_delta", json!({"type": "content_block_delta", "index": at, "delta": delta})));
        }
    }

    fn close_block(&mut self, out: &mut Vec<Event>) {
        if let Some((_, at)) = self.open.take() {
            out.push(("content_block_stop", json!({"type": "content_block_stop", "index": at})));
        }
    }
}

fn start(chunk: &Value) -> Event {
    (
        "message_start",
        json!({"type": "message_start", "message": {
            "id": message_id(chunk["id"].as_str().unwrap_or("")),
            "type": "message",
            "role": "assistant",
            "model": chunk["model"].as_str().unwrap_or(""),
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            // Counted at the end (message_delta): the canonical stream reports usage last.
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }}),
    )
}
