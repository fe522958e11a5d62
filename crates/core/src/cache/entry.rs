//! What the exact cache stores for one answer: the complete OpenAI `chat.completion` (every
//! choice, every message field, unknown ones included), its usage, and who served it at what
//! cost. Built from a non-streaming body or from an accumulated stream; only complete answers
//! qualify, so an error or a cut answer is never replayed.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_protocol::Usage;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The `chat.completion` object as the original answer carried it, `usage` taken out (see
    /// `usage`).
    pub completion: Value,
    /// The raw OpenAI usage object of the original answer, if it had one.
    pub usage: Option<Value>,
    /// The provider that served the original answer.
    pub provider: String,
    /// The model that served it.
    pub model: String,
    /// What the original answer cost: what a hit saves.
    pub cost_usd: f64,
    pub stored_at_ms: i64,
}

impl Entry {
    /// An entry from a non-streaming answer body; `None` unless it is a chat completion whose
    /// every choice finished (`finish_reason` set and not `error`).
    pub fn from_completion(body: &[u8], provider: &str, model: &str, cost_usd: f64) -> Option<Entry> {
        let completion: Value = serde_json::from_slice(body).ok()?;
        Self::from_value(completion, provider, model, cost_usd)
    }

    /// As [`Entry::from_completion`], from a parsed `chat.completion` object.
    pub fn from_value(mut completion: Value, provider: &str, model: &str, cost_usd: f64) -> Option<Entry> {
        let usage = completion.as_object_mut()?.remove("usage").filter(|u| u.is_object());
        if !is_complete(&completion) {
            return None;
        }
        Some(Entry { completion, usage, provider: provider.to_string(), model: model.to_string(), cost_usd, stored_at_ms: now_ms() })
    }

    /// The stored form. JSON: the store compresses.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("entry serialises")
    }

    /// Reads a stored entry; `None` for anything that is not a complete one (an entry written by
    /// an incompatible version included), which the caller treats as a miss.
    pub fn decode(bytes: &[u8]) -> Option<Entry> {
        let entry: Entry = serde_json::from_slice(bytes).ok()?;
        is_complete(&entry.completion).then_some(entry)
    }

    /// The body a non-streaming hit returns: the original completion, usage included.
    pub fn to_completion_body(&self) -> Bytes {
        let mut body = self.completion.clone();
        if let (Some(obj), Some(usage)) = (body.as_object_mut(), &self.usage) {
            obj.insert("usage".into(), usage.clone());
        }
        Bytes::from(serde_json::to_vec(&body).expect("completion serialises"))
    }

    /// The stored usage in canonical terms (zeros for what it lacks), for logs and metrics.
    pub fn usage_tokens(&self) -> Usage {
        let Some(u) = &self.usage else { return Usage::default() };
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        Usage {
            input_tokens: n(&u["prompt_tokens"]),
            output_tokens: n(&u["completion_tokens"]),
            cached_input_tokens: n(&u["prompt_tokens_details"]["cached_tokens"]),
            cache_write_tokens: 0,
            reasoning_tokens: n(&u["completion_tokens_details"]["reasoning_tokens"]),
        }
    }

    /// The stored choices (never empty in an entry that passed `from_*` or `decode`).
    pub fn choices(&self) -> &[Value] {
        self.completion["choices"].as_array().map(Vec::as_slice).unwrap_or(&[])
    }
}

/// A chat completion worth replaying: an object without `error`, of type `chat.completion` (or
/// untyped), with at least one choice, each with a message and a final `finish_reason`.
pub(crate) fn is_complete(completion: &Value) -> bool {
    let Some(obj) = completion.as_object() else { return false };
    if obj.get("error").is_some_and(|e| !e.is_null()) {
        return false;
    }
    if !matches!(obj.get("object"), None | Some(Value::Null)) && obj["object"] != "chat.completion" {
        return false;
    }
    let Some(choices) = obj.get("choices").and_then(Value::as_array) else { return false };
    !choices.is_empty()
        && choices.iter().all(|c| c["message"].is_object() && c["finish_reason"].as_str().is_some_and(|f| !f.is_empty() && f != "error"))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_testkit::fixture_bytes;

    #[test]
    fn a_recorded_completion_round_trips_through_the_store_format() {
        let body = fixture_bytes("openai/tool-call-parallel.json");
        let entry = Entry::from_completion(&body, "openai", "gpt-4o", 0.0012).unwrap();
        assert_eq!((entry.provider.as_str(), entry.model.as_str(), entry.cost_usd), ("openai", "gpt-4o", 0.0012));
        assert!(entry.stored_at_ms > 1_700_000_000_000);
        let decoded = Entry::decode(&entry.encode()).unwrap();
        assert_eq!(decoded, entry);
        // A non-streaming hit returns the same document the provider sent.
        let original: Value = serde_json::from_slice(&body).unwrap();
        let replayed: Value = serde_json::from_slice(&entry.to_completion_body()).unwrap();
        assert_eq!(replayed, original);
        assert_eq!(entry.usage_tokens(), Usage { input_tokens: 75, output_tokens: 53, ..Usage::default() });
    }

    #[test]
    fn reasoning_usage_is_read_into_canonical_terms() {
        let entry = Entry::from_completion(&fixture_bytes("openai/reasoning-usage.json"), "openai", "gpt-5", 0.0).unwrap();
        assert_eq!(entry.usage_tokens().reasoning_tokens, 64);
    }

    #[test]
    fn errors_and_unfinished_answers_are_not_entries() {
        let ok = json!({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]});
        assert!(Entry::from_value(ok.clone(), "p", "m", 0.0).is_some());
        let mut unfinished = ok.clone();
        unfinished["choices"][0]["finish_reason"] = Value::Null;
        let mut errored = ok.clone();
        errored["choices"][0]["finish_reason"] = json!("error");
        let mut second_unfinished = ok.clone();
        second_unfinished["choices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"index": 1, "message": {"role": "assistant", "content": "h"}, "finish_reason": null}));
        let mut no_choices = ok.clone();
        no_choices["choices"] = json!([]);
        let mut chunk = ok.clone();
        chunk["object"] = json!("chat.completion.chunk");
        for (name, v) in [
            ("unfinished", unfinished),
            ("error finish", errored),
            ("one choice unfinished", second_unfinished),
            ("no choices", no_choices),
            ("chunk", chunk),
        ] {
            assert!(Entry::from_value(v, "p", "m", 0.0).is_none(), "{name}");
        }
        for body in [
            fixture_bytes("openai/error-401-invalid-api-key.json"),
            fixture_bytes("openai/error-400-unsupported-parameter.json"),
            Bytes::from_static(b"{\"choices\":"),
            Bytes::from_static(b"[]"),
        ] {
            assert!(Entry::from_completion(&body, "p", "m", 0.0).is_none(), "{}", String::from_utf8_lossy(&body));
        }
        assert!(Entry::decode(b"{\"completion\":{}}").is_none());
        assert!(Entry::decode(b"not json").is_none());
    }

    #[test]
    fn a_length_cut_is_a_complete_answer() {
        // `finish_reason: length` is what the same request gets again: stored.
        let entry = Entry::from_completion(&fixture_bytes("openai/max-tokens-length.json"), "openai", "gpt-4o", 0.0).unwrap();
        assert_eq!(entry.choices()[0]["finish_reason"], "length");
    }
}
