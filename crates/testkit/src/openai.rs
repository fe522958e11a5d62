//! Builders for synthetic OpenAI Chat Completions bodies, for tests that need exact values.

use bytes::Bytes;
use serde_json::{json, Value};

const ID: &str = "chatcmpl-fake";
const MODEL: &str = "fake-model";
const CREATED: u64 = 1_700_000_000;

/// A non-streaming chat completion answering `text` with the given usage.
pub fn openai_completion(text: &str, prompt_tokens: u64, completion_tokens: u64) -> Bytes {
    let body = json!({
        "id": ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": text, "refusal": null },
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": usage(prompt_tokens, completion_tokens),
    });
    Bytes::from(body.to_string())
}

/// A chat completion SSE stream: a role chunk, one chunk per piece, a `finish_reason: stop`
/// chunk, with `with_usage` a usage-only chunk (`choices: []`, prompt tokens 1, completion
/// tokens = number of pieces), then `data: [DONE]`.
pub fn openai_stream(pieces: &[&str], with_usage: bool) -> Bytes {
    let mut out = String::new();
    let mut push = |chunk: Value| {
        out.push_str("data: ");
        out.push_str(&chunk.to_string());
        out.push_str("\n\n");
    };
    push(chunk(json!([{ "index": 0, "delta": { "role": "assistant", "content": "" }, "finish_reason": null }])));
    for piece in pieces {
        push(chunk(json!([{ "index": 0, "delta": { "content": piece }, "finish_reason": null }])));
    }
    push(chunk(json!([{ "index": 0, "delta": {}, "finish_reason": "stop" }])));
    if with_usage {
        let mut last = chunk(json!([]));
        last["usage"] = usage(1, pieces.len() as u64);
        push(last);
    }
    out.push_str("data: [DONE]\n\n");
    Bytes::from(out)
}

/// Re-frames a `.chunks.jsonl` body (one JSON payload per line) as an OpenAI SSE body.
pub fn chunks_to_sse(chunks: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(chunks.len() + 64);
    for line in chunks.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.extend_from_slice(b"\n\n");
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    Bytes::from(out)
}

fn chunk(choices: Value) -> Value {
    json!({
        "id": ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "choices": choices,
        "usage": null,
    })
}

fn usage(prompt_tokens: u64, completion_tokens: u64) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_has_pieces_usage_and_done() {
        let body = String::from_utf8(openai_stream(&["Hel", "lo"], true).to_vec()).expect("utf8");
        let events: Vec<&str> = body.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 6, "role, 2 pieces, finish, usage, done: {body}");
        assert_eq!(events[5], "data: [DONE]");
        let usage: Value = serde_json::from_str(&events[4]["data: ".len()..]).expect("json");
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["completion_tokens"], 2);
    }

    #[test]
    fn chunks_are_reframed() {
        let sse = chunks_to_sse(b"{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(&sse[..], b"data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n");
    }
}
