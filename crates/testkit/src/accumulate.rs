//! What a client accumulates from a stream of OpenAI `chat.completion.chunk` payloads: the text,
//! reasoning, signature, tool calls by index, finish reason and usage — the one place tests read
//! streams the way an SDK does.

use serde_json::Value;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Accumulated {
    pub text: String,
    pub reasoning: String,
    pub signature: String,
    /// (id, name, arguments) by tool-call index.
    pub calls: Vec<(String, String, String)>,
    pub finish: Option<String>,
    /// The last non-null `usage`.
    pub usage: Option<Value>,
    /// Every chunk as JSON, `created` removed (it is the clock).
    pub chunks: Vec<Value>,
    /// Broken tool-call invariants seen: an index that skips ahead, or a call whose first fragment
    /// lacks its id, `type: function` or name.
    pub index_errors: Vec<String>,
}

impl Accumulated {
    pub fn from_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut out = Self::default();
        for c in chunks {
            out.add(c);
        }
        out
    }

    /// Adds one chunk payload; panics on one that is not JSON (a test failure).
    pub fn add(&mut self, data: &[u8]) {
        self.add_value(serde_json::from_slice(data).expect("chunk is JSON"));
    }

    pub fn add_value(&mut self, mut v: Value) {
        if let Some(o) = v.as_object_mut() {
            o.remove("created");
        }
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            self.usage = Some(u.clone());
        }
        for choice in v["choices"].as_array().into_iter().flatten() {
            let d = &choice["delta"];
            self.text += d["content"].as_str().unwrap_or("");
            self.reasoning += d["reasoning_content"].as_str().unwrap_or("");
            self.signature += d["reasoning_signature"].as_str().unwrap_or("");
            for call in d["tool_calls"].as_array().into_iter().flatten() {
                self.add_call_fragment(call);
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                self.finish = Some(f.to_string());
            }
        }
        self.chunks.push(v);
    }

    fn add_call_fragment(&mut self, call: &Value) {
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        let Some(i) = call["index"].as_u64().map(|i| i as usize) else {
            self.index_errors.push(format!("tool-call fragment without index: {call}"));
            return;
        };
        if i == self.calls.len() {
            if text(&call["id"]).is_empty() || text(&call["function"]["name"]).is_empty() || call["type"] != "function" {
                self.index_errors.push(format!("first fragment of call {i} lacks id, type or name: {call}"));
            }
            self.calls.push((text(&call["id"]), text(&call["function"]["name"]), String::new()));
        } else if i > self.calls.len() {
            self.index_errors.push(format!("tool-call index {i} skips ahead of {}", self.calls.len()));
            return;
        }
        self.calls[i].2 += call["function"]["arguments"].as_str().unwrap_or("");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulates_text_calls_and_usage_and_flags_broken_indexes() {
        let a = Accumulated::from_chunks([
            &br#"{"created":1,"choices":[{"delta":{"role":"assistant","content":"Hi"}}]}"#[..],
            br#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]}}]}"#,
            br#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}"#,
            br#"{"choices":[],"usage":{"prompt_tokens":3}}"#,
        ]);
        assert_eq!((a.text.as_str(), a.finish.as_deref()), ("Hi", Some("tool_calls")));
        assert_eq!(a.calls, vec![("c1".to_string(), "f".to_string(), "{\"a\":1}".to_string())]);
        assert_eq!(a.usage.unwrap()["prompt_tokens"], 3);
        assert!(a.index_errors.is_empty() && a.chunks[0].get("created").is_none());
        let bad = Accumulated::from_chunks([&br#"{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"arguments":"x"}}]}}]}"#[..]]);
        assert_eq!(bad.index_errors.len(), 1);
    }
}
