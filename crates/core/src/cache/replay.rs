//! Replays a stored answer to a streaming request as the SSE events a live OpenAI stream would
//! have sent: per choice a role chunk, reasoning and text in pieces, tool calls (id, type and name
//! on the first fragment, stable indexes from 0, then arguments), a finish chunk; then the
//! usage-only chunk when the client asked for it, and `[DONE]`. Works for entries stored from
//! streams and from non-streaming answers alike.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::entry::Entry;

/// Characters per text piece: small enough to look like a stream, large enough to keep a long
/// answer to a few dozen events. Clients concatenate whatever the split.
const PIECE: usize = 64;

/// Message fields with their own replay; every other one is sent as it is stored.
const SPECIAL: &[&str] = &["role", "content", "refusal", "reasoning_content", "tool_calls", "function_call"];

/// The SSE events (`data: …\n\n` each, `data: [DONE]\n\n` last) a streaming hit sends.
pub fn to_sse(entry: &Entry, include_usage: bool) -> Vec<Bytes> {
    let mut out: Vec<Bytes> = to_chunks(entry, include_usage).iter().map(|c| frame(c)).collect();
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}

fn frame(chunk: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(chunk.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(chunk);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The canonical chunks (one `chat.completion.chunk` JSON document each) of a streaming hit, for
/// an inbound API that writes them in its own shape.
pub fn to_chunks(entry: &Entry, include_usage: bool) -> Vec<Bytes> {
    let writer = Writer::new(&entry.completion, include_usage);
    let mut out = Vec::new();
    for (position, choice) in entry.choices().iter().enumerate() {
        let index = choice["index"].as_u64().unwrap_or(position as u64);
        replay_choice(&writer, index, choice, &mut out);
    }
    if let (true, Some(usage)) = (include_usage, &entry.usage) {
        out.push(writer.event(Value::Array(Vec::new()), Some(usage.clone())));
    }
    out
}

fn replay_choice(w: &Writer, index: u64, choice: &Value, out: &mut Vec<Bytes>) {
    let message = choice["message"].as_object().cloned().unwrap_or_default();
    let field = |key: &str| message.get(key).filter(|v| !v.is_null());
    // Token logprobs ride on the first chunk carrying answer text (or the finish chunk).
    let mut logprobs = choice.get("logprobs").filter(|l| !l.is_null()).cloned();
    let mut send = |delta: Value, logprobs: Option<Value>, finish: Option<&Value>| {
        let choice = json!({"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish});
        out.push(w.event(Value::Array(vec![choice]), w.include_usage.then_some(Value::Null)));
    };

    // The role chunk says which text fields are strings (`""`) and which are `null`, as OpenAI's
    // does, so that an accumulating client ends with the same message.
    let role = field("role").cloned().unwrap_or_else(|| Value::from("assistant"));
    let mut opening = Map::from_iter([("role".to_string(), role)]);
    for key in ["content", "refusal"] {
        let as_string = field(key).is_some_and(Value::is_string);
        opening.insert(key.into(), if as_string { Value::from("") } else { Value::Null });
    }
    send(Value::Object(opening), None, None);

    if let Some(text) = field("reasoning_content").and_then(Value::as_str) {
        for piece in pieces(text) {
            send(json!({"reasoning_content": piece}), None, None);
        }
    }
    for (key, value) in message.iter().filter(|(k, v)| !SPECIAL.contains(&k.as_str()) && !v.is_null()) {
        match value {
            Value::String(text) => pieces(text).for_each(|piece| send(json!({ key: piece }), None, None)),
            Value::Array(items) if items.is_empty() => {}
            other => send(json!({ key: other }), None, None),
        }
    }
    for key in ["content", "refusal"] {
        match field(key) {
            Some(Value::String(text)) => pieces(text).for_each(|piece| send(json!({ key: piece }), logprobs.take(), None)),
            // Content parts or anything else not a string: as stored, in one piece.
            Some(other) => send(json!({ key: other }), logprobs.take(), None),
            None => {}
        }
    }
    for (i, call) in field("tool_calls").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let kind = call.get("type").filter(|t| t.is_string()).cloned().unwrap_or_else(|| Value::from("function"));
        let function = &call["function"];
        send(
            json!({"tool_calls": [{"index": i, "id": call["id"], "type": kind, "function": {"name": function["name"], "arguments": ""}}]}),
            None,
            None,
        );
        for piece in pieces(function["arguments"].as_str().unwrap_or("")) {
            send(json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}), None, None);
        }
    }
    if let Some(f) = field("function_call") {
        send(json!({"function_call": {"name": f["name"], "arguments": ""}}), None, None);
        for piece in pieces(f["arguments"].as_str().unwrap_or("")) {
            send(json!({"function_call": {"arguments": piece}}), None, None);
        }
    }
    send(json!({}), logprobs.take(), choice.get("finish_reason"));
}

/// Splits `text` into pieces of at most [`PIECE`] characters, at character boundaries.
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = rest.char_indices().nth(PIECE).map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at(cut);
        rest = tail;
        Some(piece)
    })
}

/// The chunk envelope: the stored answer's identity on every chunk.
struct Writer {
    head: Map<String, Value>,
    include_usage: bool,
}

impl Writer {
    fn new(completion: &Value, include_usage: bool) -> Self {
        let mut head = Map::new();
        head.insert("id".into(), completion.get("id").cloned().unwrap_or_else(|| Value::from("")));
        head.insert("object".into(), Value::from("chat.completion.chunk"));
        head.insert("created".into(), completion.get("created").cloned().unwrap_or_else(|| Value::from(0)));
        head.insert("model".into(), completion.get("model").cloned().unwrap_or_else(|| Value::from("")));
        for key in ["system_fingerprint", "service_tier"] {
            if let Some(v) = completion.get(key) {
                head.insert(key.into(), v.clone());
            }
        }
        Self { head, include_usage }
    }

    /// One chunk; `usage` is `None` to leave the field out (the client did not ask).
    fn event(&self, choices: Value, usage: Option<Value>) -> Bytes {
        let mut chunk = self.head.clone();
        chunk.insert("choices".into(), choices);
        if let Some(usage) = usage {
            chunk.insert("usage".into(), usage);
        }
        Bytes::from(serde_json::to_vec(&chunk).expect("chunk serialises"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(message: Value, usage: Option<Value>) -> Entry {
        let completion = json!({"id": "x", "object": "chat.completion", "created": 9, "model": "m",
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": "stop"}]});
        Entry { completion, usage, provider: "p".into(), model: "m".into(), cost_usd: 0.0, stored_at_ms: 0 }
    }

    fn payloads(events: &[Bytes]) -> Vec<Value> {
        let (last, rest) = events.split_last().unwrap();
        assert_eq!(&last[..], b"data: [DONE]\n\n");
        rest.iter()
            .map(|e| {
                let text = std::str::from_utf8(e).unwrap();
                let json = text.strip_prefix("data: ").and_then(|t| t.strip_suffix("\n\n")).unwrap();
                assert!(!json.contains('\n'), "one line per event");
                serde_json::from_str(json).unwrap()
            })
            .collect()
    }

    #[test]
    fn pieces_split_at_character_boundaries() {
        let text = "é".repeat(150);
        let parts: Vec<&str> = pieces(&text).collect();
        assert_eq!(parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>(), [64, 64, 22]);
        assert_eq!(parts.concat(), text);
        assert_eq!(pieces("").count(), 0);
    }

    #[test]
    fn usage_chunk_only_when_asked_and_envelope_is_the_entry_identity() {
        let e = entry(json!({"role": "assistant", "content": "hi"}), Some(json!({"prompt_tokens": 1})));
        let with = payloads(&to_sse(&e, true));
        let last = with.last().unwrap();
        assert_eq!((last["choices"].clone(), last["usage"].clone()), (json!([]), json!({"prompt_tokens": 1})));
        assert!(with[..with.len() - 1].iter().all(|c| c["usage"].is_null() && c.get("usage").is_some()));
        let without = payloads(&to_sse(&e, false));
        assert_eq!(without.len(), with.len() - 1);
        assert!(without.iter().all(|c| c.get("usage").is_none() && c["choices"].as_array().unwrap().len() == 1));
        for c in &with {
            assert_eq!(
                (c["id"].as_str(), c["object"].as_str(), c["created"].as_u64(), c["model"].as_str()),
                (Some("x"), Some("chat.completion.chunk"), Some(9), Some("m"))
            );
        }
        assert_eq!(with[0]["choices"][0]["delta"], json!({"role": "assistant", "content": "", "refusal": null}));
        assert_eq!(with[with.len() - 2]["choices"][0]["finish_reason"], "stop");
    }
}
