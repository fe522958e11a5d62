//! OpenAI Chat Completions (`POST /v1/chat/completions`): the canonical API itself, so decoding
//! is parsing and the answer is read as it comes.

use serde_json::{json, Value};
use switchyard_protocol::openai::ChatRequest;
use switchyard_testkit::Accumulated;

use super::{Inbound, Request};
use crate::outcome::{canonical_usage, Answer, Outcome};
use crate::scenarios::{PDF_B64, PDF_NAME, PNG_B64};

pub fn inbound() -> Inbound {
    Inbound {
        title: "OpenAI Chat Completions — `POST /v1/chat/completions`",
        reads: "the OpenAI-shaped answer as it comes: `message` or the accumulated `chat.completion.chunk` deltas",
        native: None,
        request,
        decode: |body| ChatRequest::parse(body).expect("scenario requests are valid"),
        read,
    }
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "secret_retrieval_tool", "description": "A tool that requires a password to retrieve a secret.",
        "parameters": {"type": "object", "properties": {"password": {"type": "string"}}, "required": ["password"]}}}])
}

fn plain() -> Value {
    json!({"model": "m", "messages": user("What is 4200 + 42?")})
}
fn tool_request() -> Value {
    json!({"model": "m", "max_tokens": 1024, "tools": tools(), "messages": user("Retrieve the secrets for each password: mellon,radiance")})
}
fn round_trip() -> Value {
    json!({"model": "m", "max_tokens": 1024, "tools": tools(), "messages": [
        {"role": "user", "content": "Retrieve the secrets for each password: mellon,radiance"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "secret_retrieval_tool", "arguments": "{\"password\":\"mellon\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "secret_retrieval_tool", "arguments": "{\"password\":\"radiance\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Welcome to Moria!"},
        {"role": "tool", "tool_call_id": "call_2", "content": "Life before Death"}]})
}
fn reasoning() -> Value {
    json!({"model": "m", "max_completion_tokens": 16000, "reasoning_effort": "medium", "messages": user("How many primes below 400 contain 79 as a substring?")})
}
fn image() -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG_B64}")}}]}]})
}
fn pdf() -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "What does this document say?"},
        {"type": "file", "file": {"file_data": format!("data:application/pdf;base64,{PDF_B64}"), "filename": PDF_NAME}}]}]})
}
fn structured() -> Value {
    json!({"model": "m", "messages": user("Extract the order item"), "response_format": {"type": "json_schema", "json_schema": {"name": "OrderItem", "strict": true,
        "schema": {"type": "object", "properties": {"product_name": {"type": "string"}, "price": {"type": "number"}, "quantity": {"type": "integer"}},
                   "required": ["product_name", "price", "quantity"], "additionalProperties": false}}}})
}
fn streamed(mut v: Value) -> Value {
    v["stream"] = json!(true);
    v["stream_options"] = json!({"include_usage": true});
    v
}

fn request(scenario: &str) -> Option<Request> {
    Request::translated(match scenario {
        "plain" | "cached" | "rate-limited" | "server-error" => plain(),
        "plain-stream" | "malformed-stream" | "mid-stream-error" => streamed(plain()),
        "tools" => tool_request(),
        "tools-stream" => streamed(tool_request()),
        "round-trip" => round_trip(),
        "reasoning" => reasoning(),
        "reasoning-stream" => streamed(reasoning()),
        "image" => image(),
        "pdf" => pdf(),
        "structured" => structured(),
        // Chat Completions is the canonical API: nothing is forwarded untranslated.
        _ => return None,
    })
}

fn message(o: &mut Outcome, m: &Value) {
    o.content += m["content"].as_str().unwrap_or("");
    o.reasoning += m["reasoning_content"].as_str().unwrap_or("");
    for c in m["tool_calls"].as_array().into_iter().flatten() {
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        o.calls.push((text(&c["id"]), text(&c["function"]["name"]), text(&c["function"]["arguments"])));
    }
}

fn read(_request: &[u8], answer: &Answer) -> Outcome {
    let mut o = Outcome::new();
    match answer {
        Answer::Failed(kind) => o.error = Some(*kind),
        Answer::Complete(body) => match serde_json::from_slice::<Value>(body) {
            Ok(v) => {
                message(&mut o, &v["choices"][0]["message"]);
                o.finish = v["choices"][0]["finish_reason"].as_str().map(str::to_string);
                canonical_usage(&mut o, &v["usage"]);
            }
            Err(_) => o.shape.push("the answer is not JSON".into()),
        },
        Answer::Stream { chunks, error } => {
            let mut acc = Accumulated::default();
            for (data, usage_only) in chunks {
                o.chunks += 1;
                o.usage_chunk_last = *usage_only;
                acc.add(data);
            }
            o.error = *error;
            if let Some(u) = &acc.usage {
                o.usage_seen = true;
                canonical_usage(&mut o, u);
            }
            o.indexes_in_order = acc.index_errors.is_empty();
            (o.content, o.reasoning, o.calls, o.finish) = (acc.text, acc.reasoning, acc.calls, acc.finish);
        }
    }
    o
}
