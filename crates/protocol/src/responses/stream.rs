//! Canonical chunks (OpenAI `chat.completion.chunk`s) → the Responses API's stream events, each
//! with its `sequence_number`: `response.created` and `response.in_progress`, then per output
//! item `response.output_item.added`, its parts and deltas (reasoning summary text, output text,
//! function call arguments), their `.done` events and `response.output_item.done`, and — only at
//! the upstream's proper end — `response.completed` (or `response.incomplete`) carrying the whole
//! response with its usage. A failure after the 200 is `response.failed`.

use serde_json::{json, Value};

use super::response::{assistant_message, function_call_item, message_item, reasoning_item, status, text_part, usage, ResponseContext};

/// An event: its name (also its `type`) and its data.
pub type Event = (&'static str, Value);

#[derive(Debug)]
enum Item {
    Reasoning {
        text: String,
        signature: Option<String>,
        summary_open: bool,
    },
    Message {
        text: String,
    },
    /// A function call, by its canonical index.
    Call {
        index: u64,
        call_id: String,
        name: String,
        arguments: String,
    },
}

impl Item {
    fn same_kind(&self, other: &Item) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    /// The item as the finished response lists it.
    fn render(&self, id: &str) -> Value {
        match self {
            Item::Reasoning { text, signature, .. } => reasoning_item(id, text, signature.as_deref()),
            Item::Message { text } => message_item(id, text, "completed"),
            Item::Call { call_id, name, arguments, .. } => function_call_item(id, call_id, name, arguments, "completed"),
        }
    }
}

/// One stream's state. Events are `(name, data)`; the caller frames them.
#[derive(Debug)]
pub struct Events {
    ctx: ResponseContext,
    sequence: u64,
    started: bool,
    model: String,
    /// Output items by output index, with their ids.
    items: Vec<(String, Item)>,
    /// The output index of the item being written.
    open: Option<usize>,
    finish: Option<String>,
    usage: Option<Value>,
    /// The finished response, once the upstream ended properly.
    finished: Option<Value>,
    ended: bool,
}

impl Events {
    pub fn new(ctx: ResponseContext) -> Self {
        Self {
            ctx,
            sequence: 0,
            started: false,
            model: String::new(),
            items: Vec::new(),
            open: None,
            finish: None,
            usage: None,
            finished: None,
            ended: false,
        }
    }

    /// The events one canonical chunk makes.
    pub fn chunk(&mut self, data: &[u8], out: &mut Vec<Event>) {
        let Ok(chunk) = serde_json::from_slice::<Value>(data) else { return };
        if !self.started {
            self.model = chunk["model"].as_str().unwrap_or("").to_string();
            self.start(out);
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage(u));
        }
        for choice in chunk["choices"].as_array().into_iter().flatten().filter(|c| c["index"].as_u64().unwrap_or(0) == 0) {
            let delta = &choice["delta"];
            if let Some(t) = delta["reasoning_content"].as_str().filter(|t| !t.is_empty()) {
                self.reasoning_text(t, out);
            }
            if let Some(sig) = delta["reasoning_signature"].as_str().filter(|s| !s.is_empty()) {
                let at = self.open_item(Item::Reasoning { text: String::new(), signature: None, summary_open: false }, out);
                if let Item::Reasoning { signature, .. } = &mut self.items[at].1 {
                    signature.get_or_insert_with(String::new).push_str(sig);
                }
            }
            for key in ["content", "refusal"] {
                if let Some(t) = delta[key].as_str().filter(|t| !t.is_empty()) {
                    self.text(t, out);
                }
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                self.tool_call(call, out);
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                self.finish = Some(f.to_string());
                self.close(out);
            }
        }
    }

    /// The upstream finished: the open item closes, then `response.completed` (or
    /// `response.incomplete`) with the whole response.
    pub fn done(&mut self, out: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        self.ended = true;
        if !self.started {
            self.start(out);
        }
        self.close(out);
        let (status, incomplete) = status(self.finish.as_deref());
        let mut response = self.object(status);
        response["incomplete_details"] = incomplete;
        let name = if status == "completed" { "response.completed" } else { "response.incomplete" };
        self.emit(name, json!({"response": response}), out);
        self.finished = Some(response);
    }

    /// The stream failed after its 200: `response.failed` with the error.
    pub fn failed(&mut self, code: &str, message: &str, out: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        self.ended = true;
        if !self.started {
            self.start(out);
        }
        let mut response = self.object("failed");
        response["error"] = json!({"code": code, "message": message});
        self.emit("response.failed", json!({"response": response}), out);
    }

    /// After a proper end: the response object and the answer as a canonical assistant message.
    pub fn finished(&self) -> Option<(Value, Value)> {
        let response = self.finished.clone()?;
        let (mut text, mut reasoning, mut signature, mut calls) = (String::new(), String::new(), None, Vec::new());
        for (_, item) in &self.items {
            match item {
                Item::Reasoning { text: t, signature: s, .. } => {
                    reasoning.push_str(t);
                    signature = s.clone().or(signature);
                }
                Item::Message { text: t } => text.push_str(t),
                Item::Call { call_id, name, arguments, .. } => {
                    calls.push(json!({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}))
                }
            }
        }
        let message = json!({"content": text, "reasoning_content": reasoning, "reasoning_signature": signature, "tool_calls": calls});
        Some((response, assistant_message(&message)))
    }

    fn object(&self, status: &str) -> Value {
        let output = self
            .items
            .iter()
            .enumerate()
            .map(|(at, (id, item))| {
                let mut rendered = item.render(id);
                // Only a failure leaves an item open: it was cut off, not completed.
                if self.open == Some(at) {
                    rendered["status"] = json!("incomplete");
                }
                rendered
            })
            .collect();
        self.ctx.object(&self.model, status, output, self.usage.clone())
    }

    fn emit(&mut self, name: &'static str, mut data: Value, out: &mut Vec<Event>) {
        data["type"] = json!(name);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.push((name, data));
    }

    fn start(&mut self, out: &mut Vec<Event>) {
        self.started = true;
        let response = self.ctx.object(&self.model, "in_progress", Vec::new(), None);
        self.emit("response.created", json!({"response": response}), out);
        self.emit("response.in_progress", json!({"response": response}), out);
    }

    fn reasoning_text(&mut self, delta: &str, out: &mut Vec<Event>) {
        let at = self.open_item(Item::Reasoning { text: String::new(), signature: None, summary_open: false }, out);
        let id = self.items[at].0.clone();
        let Item::Reasoning { text, summary_open, .. } = &mut self.items[at].1 else { return };
        text.push_str(delta);
        if !std::mem::replace(summary_open, true) {
            let part = json!({"item_id": id, "output_index": at, "summary_index": 0, "part": {"type": "summary_text", "text": ""}});
            self.emit("response.reasoning_summary_part.added", part, out);
        }
        let data = json!({"item_id": id, "output_index": at, "summary_index": 0, "delta": delta});
        self.emit("response.reasoning_summary_text.delta", data, out);
    }

    fn text(&mut self, delta: &str, out: &mut Vec<Event>) {
        let at = self.open_item(Item::Message { text: String::new() }, out);
        let id = self.items[at].0.clone();
        if let Item::Message { text } = &mut self.items[at].1 {
            text.push_str(delta);
        }
        let data = json!({"item_id": id, "output_index": at, "content_index": 0, "delta": delta, "logprobs": []});
        self.emit("response.output_text.delta", data, out);
    }

    fn tool_call(&mut self, call: &Value, out: &mut Vec<Event>) {
        let index = call["index"].as_u64().unwrap_or(0);
        let function = &call["function"];
        let known = self.items.iter().position(|(_, item)| matches!(item, Item::Call { index: i, .. } if *i == index));
        let at = match known {
            Some(at) => at,
            None => {
                self.close(out);
                let call_id = call["id"].as_str().unwrap_or("").to_string();
                let name = function["name"].as_str().unwrap_or("").to_string();
                self.open_item(Item::Call { index, call_id, name, arguments: String::new() }, out)
            }
        };
        let Some(args) = function["arguments"].as_str().filter(|a| !a.is_empty()) else { return };
        let id = self.items[at].0.clone();
        if let Item::Call { arguments, .. } = &mut self.items[at].1 {
            arguments.push_str(args);
        }
        // Arguments of a call already closed (a provider interleaving parallel calls) still
        // reach the final response, without a delta event after that item's `.done`.
        if self.open == Some(at) {
            self.emit("response.function_call_arguments.delta", json!({"item_id": id, "output_index": at, "delta": args}), out);
        }
    }

    /// The output index of the open item of `kind`'s kind, opening `kind` if another is open.
    fn open_item(&mut self, kind: Item, out: &mut Vec<Event>) -> usize {
        if let Some(at) = self.open.filter(|at| self.items[*at].1.same_kind(&kind) && !matches!(kind, Item::Call { .. })) {
            return at;
        }
        self.close(out);
        let at = self.items.len();
        let (prefix, added) = match &kind {
            Item::Reasoning { .. } => ("rs", None),
            Item::Message { .. } => ("msg", Some(text_part(""))),
            Item::Call { .. } => ("fc", None),
        };
        let id = self.ctx.item_id(prefix, at);
        let item = match &kind {
            Item::Reasoning { .. } => json!({"id": id, "type": "reasoning", "summary": [], "status": "in_progress"}),
            Item::Message { .. } => message_item(&id, "", "in_progress"),
            Item::Call { call_id, name, .. } => function_call_item(&id, call_id, name, "", "in_progress"),
        };
        self.items.push((id.clone(), kind));
        self.open = Some(at);
        self.emit("response.output_item.added", json!({"output_index": at, "item": item}), out);
        if let Some(part) = added {
            self.emit("response.content_part.added", json!({"item_id": id, "output_index": at, "content_index": 0, "part": part}), out);
        }
        at
    }

    /// Closes the open item: its `.done` events and `response.output_item.done`.
    fn close(&mut self, out: &mut Vec<Event>) {
        let Some(at) = self.open.take() else { return };
        let id = self.items[at].0.clone();
        let events: Vec<Event> = match &self.items[at].1 {
            Item::Reasoning { text, summary_open: true, .. } => {
                let part = json!({"type": "summary_text", "text": text});
                vec![
                    ("response.reasoning_summary_text.done", json!({"item_id": id, "output_index": at, "summary_index": 0, "text": text})),
                    ("response.reasoning_summary_part.done", json!({"item_id": id, "output_index": at, "summary_index": 0, "part": part})),
                ]
            }
            Item::Reasoning { .. } => Vec::new(),
            Item::Message { text } => vec![
                ("response.output_text.done", json!({"item_id": id, "output_index": at, "content_index": 0, "text": text, "logprobs": []})),
                ("response.content_part.done", json!({"item_id": id, "output_index": at, "content_index": 0, "part": text_part(text)})),
            ],
            Item::Call { name, arguments, .. } => vec![(
                "response.function_call_arguments.done",
                json!({"item_id": id, "output_index": at, "name": name, "arguments": arguments}),
            )],
        };
        for (name, data) in events {
            self.emit(name, data, out);
        }
        let item = self.items[at].1.render(&id);
        self.emit("response.output_item.done", json!({"output_index": at, "item": item}), out);
    }
}
