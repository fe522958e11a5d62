//! Rebuilds the `chat.completion` a streamed answer amounts to, from the `chat.completion.chunk`
//! payloads as they pass through the gateway, so a completed stream can be stored like any
//! other answer.
//!
//! Merging follows what the official SDKs do: text fields are concatenated per choice (a field
//! that arrived as a string, even `""`, is a string in the result; one that never did is `null`),
//! tool calls are merged by `index` (id, type and name from the fragments that carry them,
//! arguments concatenated), `logprobs.content`/`refusal` and array fields are appended, usage is
//! the last non-null one. A stream is not storable when a chunk carries an `error`, is not JSON,
//! or holds a delta this merge cannot reproduce faithfully (an object such as `audio`).

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde_json::{json, Map, Value};

use super::entry::Entry;

/// Top-level chunk fields that carry over to the completion (the last non-null value wins; a
/// field only ever `null` stays `null`).
const HEAD: &[&str] = &["id", "created", "model", "system_fingerprint", "service_tier"];

#[derive(Debug, Default)]
pub struct StreamAccumulator {
    head: Map<String, Value>,
    choices: BTreeMap<u64, ChoiceParts>,
    usage: Option<Value>,
    /// Set once something makes the stream unfit to store; later chunks are then ignored.
    broken: bool,
}

#[derive(Debug, Default)]
struct ChoiceParts {
    role: Option<String>,
    /// Text fields (`content`, `refusal`, `reasoning_content`, …) in order of first appearance.
    text: IndexMap<String, String>,
    /// Array fields (`annotations`, …), appended.
    arrays: IndexMap<String, Vec<Value>>,
    tool_calls: BTreeMap<u64, CallParts>,
    /// The legacy `function_call`: name, arguments.
    function_call: Option<(String, String)>,
    logprobs: Option<Map<String, Value>>,
    finish_reason: Option<String>,
}

#[derive(Debug, Default)]
struct CallParts {
    id: String,
    kind: String,
    name: String,
    arguments: String,
}

impl StreamAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one SSE `data:` payload (a chunk's JSON text; not `[DONE]`).
    pub fn push(&mut self, chunk_json: &[u8]) {
        if self.broken {
            return;
        }
        match serde_json::from_slice::<Value>(chunk_json) {
            Ok(chunk) => self.broken = self.add(chunk).is_none(),
            Err(_) => self.broken = true,
        }
    }

    /// Whether what was pushed so far can still become an entry.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// The completion the stream amounts to; `None` when a chunk was unfit (see the module docs),
    /// no choice arrived, a choice never finished, or a tool call lacks its id or name.
    pub fn finish(self, provider: &str, model: &str, cost_usd: f64) -> Option<Entry> {
        if self.broken || self.choices.is_empty() {
            return None;
        }
        let mut completion = Map::new();
        completion.insert("id".into(), self.head.get("id").cloned().unwrap_or_else(|| Value::from("")));
        completion.insert("object".into(), Value::from("chat.completion"));
        completion.insert("created".into(), self.head.get("created").cloned().unwrap_or_else(|| Value::from(0)));
        completion.insert("model".into(), self.head.get("model").cloned().unwrap_or_else(|| Value::from(model)));
        for key in ["system_fingerprint", "service_tier"] {
            if let Some(v) = self.head.get(key) {
                completion.insert(key.into(), v.clone());
            }
        }
        let choices = self.choices.into_iter().map(|(index, parts)| parts.into_choice(index)).collect::<Option<Vec<_>>>()?;
        completion.insert("choices".into(), Value::Array(choices));
        if let Some(usage) = self.usage {
            completion.insert("usage".into(), usage);
        }
        Entry::from_value(Value::Object(completion), provider, model, cost_usd)
    }

    /// `None` when the chunk makes the stream unfit to store.
    fn add(&mut self, chunk: Value) -> Option<()> {
        let Value::Object(mut chunk) = chunk else { return None };
        if chunk.get("error").is_some_and(|e| !e.is_null()) {
            return None;
        }
        for key in HEAD {
            match chunk.get(*key) {
                Some(v) if !v.is_null() || !self.head.contains_key(*key) => {
                    self.head.insert((*key).to_string(), v.clone());
                }
                _ => {}
            }
        }
        if let Some(usage) = chunk.remove("usage").filter(|u| !u.is_null()) {
            self.usage = Some(usage);
        }
        match chunk.remove("choices") {
            None | Some(Value::Null) => Some(()),
            Some(Value::Array(choices)) => choices.into_iter().try_for_each(|c| self.add_choice(c)),
            Some(_) => None,
        }
    }

    fn add_choice(&mut self, choice: Value) -> Option<()> {
        let Value::Object(mut choice) = choice else { return None };
        let index = match choice.get("index") {
            None | Some(Value::Null) => 0,
            Some(i) => i.as_u64()?,
        };
        let parts = self.choices.entry(index).or_default();
        if let Some(Value::Object(lp)) = choice.remove("logprobs") {
            let merged = parts.logprobs.get_or_insert_with(Map::new);
            for (key, value) in lp {
                match (merged.get_mut(&key), value) {
                    (Some(Value::Array(have)), Value::Array(more)) => have.extend(more),
                    (Some(_), Value::Null) => {}
                    (_, value) => {
                        merged.insert(key, value);
                    }
                }
            }
        }
        match choice.remove("finish_reason") {
            None | Some(Value::Null) => {}
            Some(Value::String(reason)) => parts.finish_reason = Some(reason),
            Some(_) => return None,
        }
        match choice.remove("delta") {
            None | Some(Value::Null) => Some(()),
            Some(Value::Object(delta)) => delta.into_iter().try_for_each(|(key, value)| parts.add_delta_field(key, value)),
            Some(_) => None,
        }
    }
}

impl ChoiceParts {
    fn add_delta_field(&mut self, key: String, value: Value) -> Option<()> {
        match (key.as_str(), value) {
            (_, Value::Null) => {}
            ("role", Value::String(role)) => self.role = Some(role),
            ("tool_calls", Value::Array(calls)) => {
                for call in calls {
                    self.add_call_fragment(&call)?;
                }
            }
            ("function_call", Value::Object(f)) => {
                let (name, arguments) = self.function_call.get_or_insert_with(Default::default);
                if name.is_empty() {
                    f.get("name").and_then(Value::as_str).unwrap_or("").clone_into(name);
                }
                arguments.push_str(f.get("arguments").and_then(Value::as_str).unwrap_or(""));
            }
            (_, Value::String(text)) => self.text.entry(key).or_default().push_str(&text),
            (_, Value::Array(items)) => self.arrays.entry(key).or_default().extend(items),
            // Objects (`audio`), numbers, booleans: no faithful merge, so no entry.
            _ => return None,
        }
        Some(())
    }

    fn add_call_fragment(&mut self, fragment: &Value) -> Option<()> {
        let call = self.tool_calls.entry(fragment["index"].as_u64()?).or_default();
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        // OpenAI sends id, type and name once, on the first fragment; some providers repeat
        // them on every fragment, so the first non-empty value is kept rather than appended.
        for (have, new) in [
            (&mut call.id, text(&fragment["id"])),
            (&mut call.kind, text(&fragment["type"])),
            (&mut call.name, text(&fragment["function"]["name"])),
        ] {
            if have.is_empty() {
                *have = new;
            }
        }
        call.arguments.push_str(fragment["function"]["arguments"].as_str().unwrap_or(""));
        Some(())
    }

    fn into_choice(self, index: u64) -> Option<Value> {
        let mut message = Map::new();
        message.insert("role".into(), Value::from(self.role.unwrap_or_else(|| "assistant".into())));
        let mut text = self.text;
        // OpenAI's messages always carry `content` and `refusal`, `null` when absent.
        for key in ["content", "refusal"] {
            message.insert(key.into(), text.shift_remove(key).map_or(Value::Null, Value::from));
        }
        for (key, value) in text {
            message.insert(key, Value::from(value));
        }
        for (key, items) in self.arrays {
            message.insert(key, Value::Array(items));
        }
        if !self.tool_calls.is_empty() {
            let calls = self
                .tool_calls
                .into_values()
                .map(|c| {
                    let kind = if c.kind.is_empty() { "function".to_string() } else { c.kind };
                    (!c.id.is_empty() && !c.name.is_empty())
                        .then(|| json!({"id": c.id, "type": kind, "function": {"name": c.name, "arguments": c.arguments}}))
                })
                .collect::<Option<Vec<_>>>()?;
            message.insert("tool_calls".into(), Value::Array(calls));
        }
        if let Some((name, arguments)) = self.function_call {
            message.insert("function_call".into(), json!({"name": name, "arguments": arguments}));
        }
        Some(json!({
            "index": index,
            "message": message,
            "logprobs": self.logprobs.map_or(Value::Null, Value::Object),
            "finish_reason": self.finish_reason,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(chunks: &[Value]) -> StreamAccumulator {
        let mut a = StreamAccumulator::new();
        for c in chunks {
            a.push(c.to_string().as_bytes());
        }
        a
    }

    fn chunk(choices: Value) -> Value {
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 5, "model": "m", "choices": choices})
    }

    #[test]
    fn merges_choices_calls_logprobs_and_unknown_text_fields() {
        let a = acc(&[
            chunk(json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": {"content": [{"token": "a"}]}}])),
            chunk(json!([{"index": 1, "delta": {"role": "assistant", "reasoning": "think"}}])),
            chunk(json!([{"index": 0, "delta": {"content": "Hel"}, "logprobs": {"content": [{"token": "b"}], "refusal": null}}])),
            chunk(
                json!([{"index": 1, "delta": {"tool_calls": [{"index": 0, "id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\""}}]}}]),
            ),
            chunk(
                json!([{"index": 1, "delta": {"tool_calls": [{"index": 0, "id": "t1", "function": {"name": "f", "arguments": ":1}"}}]}}]),
            ),
            chunk(json!([{"index": 0, "delta": {"content": "lo", "annotations": [{"type": "url_citation"}]}, "finish_reason": "stop"}])),
            chunk(json!([{"index": 1, "delta": {}, "finish_reason": "tool_calls"}])),
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 5, "model": "m", "system_fingerprint": "fp", "choices": [], "usage": {"prompt_tokens": 3}}),
        ]);
        let entry = a.finish("p", "served", 0.5).unwrap();
        let c = &entry.completion;
        assert_eq!(
            (c["id"].as_str(), c["created"].as_u64(), c["model"].as_str(), c["system_fingerprint"].as_str()),
            (Some("c1"), Some(5), Some("m"), Some("fp"))
        );
        assert_eq!(
            c["choices"][0]["message"],
            json!({"role": "assistant", "content": "Hello", "refusal": null, "annotations": [{"type": "url_citation"}]})
        );
        assert_eq!(c["choices"][0]["logprobs"], json!({"content": [{"token": "a"}, {"token": "b"}], "refusal": null}));
        assert_eq!(
            c["choices"][1]["message"],
            json!({"role": "assistant", "content": null, "refusal": null, "reasoning": "think",
                   "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]})
        );
        assert_eq!(c["choices"][1]["finish_reason"], "tool_calls");
        assert_eq!(entry.usage, Some(json!({"prompt_tokens": 3})));
        assert_eq!((entry.provider.as_str(), entry.model.as_str(), entry.cost_usd), ("p", "served", 0.5));
    }

    #[test]
    fn unfit_streams_give_no_entry() {
        let start = chunk(json!([{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]));
        let done = chunk(json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]));
        assert!(acc(&[start.clone(), done.clone()]).finish("p", "m", 0.0).is_some());

        let cases: Vec<(&str, Vec<Value>)> = vec![
            ("cut before finish", vec![start.clone()]),
            ("nothing", vec![]),
            ("usage only", vec![json!({"choices": [], "usage": {"prompt_tokens": 1}})]),
            ("error chunk", vec![start.clone(), json!({"error": {"message": "overloaded", "type": "server_error"}}), done.clone()]),
            ("error finish", vec![start.clone(), chunk(json!([{"index": 0, "delta": {}, "finish_reason": "error"}]))]),
            ("second choice unfinished", vec![start.clone(), chunk(json!([{"index": 1, "delta": {"content": "x"}}])), done.clone()]),
            ("audio delta", vec![start.clone(), chunk(json!([{"index": 0, "delta": {"audio": {"data": "AAA"}}}])), done.clone()]),
            (
                "call without index",
                vec![
                    start.clone(),
                    chunk(json!([{"index": 0, "delta": {"tool_calls": [{"id": "t", "function": {"name": "f"}}]}}])),
                    done.clone(),
                ],
            ),
            (
                "call without name",
                vec![
                    start.clone(),
                    chunk(json!([{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "t", "function": {"arguments": "{}"}}]}}])),
                    done.clone(),
                ],
            ),
        ];
        for (name, chunks) in cases {
            assert!(acc(&chunks).finish("p", "m", 0.0).is_none(), "{name}");
        }
        let mut a = StreamAccumulator::new();
        a.push(b"{\"choices\": [");
        assert!(a.is_broken());
        a.push(start.to_string().as_bytes());
        a.push(done.to_string().as_bytes());
        assert!(a.finish("p", "m", 0.0).is_none());
    }
}
