//! The mock's streamed answer: role chunk, content pieces with the configured pacing, finish
//! chunk, usage chunk. Tool calls stream their id and name first, then argument fragments.

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};

use super::reply::{Content, Meta, Reply, TOOL_CALL_ID};
use crate::{Chunk, ChunkStream};

pub struct Plan {
    pub chunks: Option<usize>,
    pub delay: Duration,
}

fn chunk(meta: &Meta, choices: Value, usage: Option<Value>) -> Bytes {
    let body = json!({
        "id": meta.id, "object": "chat.completion.chunk", "created": meta.created, "model": meta.model,
        "choices": choices, "usage": usage,
    });
    Bytes::from(serde_json::to_vec(&body).expect("json serialisation"))
}

fn delta(meta: &Meta, delta: Value, finish: Option<&str>) -> Bytes {
    chunk(meta, json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]), None)
}

/// Splits text into `n` pieces on word boundaries (one per word when `n` is not given), keeping
/// the spaces so that the pieces concatenate to the original.
fn pieces(text: &str, n: Option<usize>) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for (i, w) in text.split_inclusive(' ').enumerate() {
        if i > 0 && w.trim().is_empty() {
            words.last_mut().expect("not first").push_str(w);
        } else {
            words.push(w.to_string());
        }
    }
    let n = n.unwrap_or(words.len()).clamp(1, words.len().max(1));
    let per = words.len().div_ceil(n).max(1);
    let mut out: Vec<String> = words.chunks(per).map(|c| c.concat()).collect();
    if out.is_empty() {
        out.push(String::new());
    }
    out
}

pub fn chunks(reply: Reply, meta: Meta, plan: Plan) -> ChunkStream {
    let mut out = vec![delta(&meta, json!({"role": "assistant", "content": ""}), None)];
    match &reply.content {
        Content::Text(text) => {
            out.extend(pieces(text, plan.chunks).into_iter().map(|p| delta(&meta, json!({"content": p}), None)));
        }
        Content::ToolCall { name, arguments } => {
            out.push(delta(
                &meta,
                json!({"tool_calls": [{"index": 0, "id": TOOL_CALL_ID, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
            // Cut the JSON on char boundaries into a few fragments, as real upstreams do.
            let chars: Vec<char> = arguments.chars().collect();
            let size = chars.len().div_ceil(plan.chunks.unwrap_or(3)).max(1);
            for piece in chars.chunks(size) {
                let frag: String = piece.iter().collect();
                out.push(delta(&meta, json!({"tool_calls": [{"index": 0, "function": {"arguments": frag}}]}), None));
            }
        }
    }
    out.push(delta(&meta, json!({}), Some(reply.finish_reason())));
    // The first chunk only announces the role.
    let mut items: Vec<Chunk> =
        out.into_iter().enumerate().map(|(i, data)| Chunk { data, usage: None, usage_only: false, content: i > 0 }).collect();
    items.push(Chunk {
        data: chunk(&meta, json!([]), Some(reply.usage_json())),
        usage: Some(reply.usage),
        usage_only: true,
        content: false,
    });

    let delay = plan.delay;
    stream::iter(items.into_iter().enumerate())
        .then(move |(i, c)| async move {
            // Pacing between content chunks; the role chunk goes out at first-token time.
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(c)
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_concatenate_to_the_text() {
        for (text, n) in [("hello there gateway", None), ("a  b c d e", Some(2)), ("one", Some(5)), ("", None)] {
            let p = pieces(text, n);
            assert_eq!(p.concat(), text);
            if let Some(n) = n {
                assert!(p.len() <= n.max(1));
            }
        }
        assert_eq!(pieces("hello there gateway", None), ["hello ", "there ", "gateway"]);
    }
}
