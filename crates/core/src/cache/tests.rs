//! Round trips over real recorded OpenAI traffic: a stream accumulated into an entry and replayed
//! must read, to a client accumulating it the way the SDKs do, exactly like the original; a
//! non-streaming answer replayed as a stream must read like its message; and back.

use bytes::Bytes;
use serde_json::{json, Value};
use switchyard_protocol::sse::SseParser;
use switchyard_testkit::{fixture_bytes, fixture_json, Accumulated};

use super::{to_sse, Entry, StreamAccumulator};

const STREAMS: &[&str] = &[
    "openai/text-stream.sse",
    "openai/tool-call-parallel-stream.sse",
    "openai/structured-output-json-object-stream.sse",
    "openai/refusal-stream.sse",
];

const COMPLETIONS: &[&str] = &[
    "openai/text.json",
    "openai/tool-call-parallel.json",
    "openai/refusal.json",
    "openai/structured-output-json-schema.json",
    "openai/reasoning-usage.json",
    "openai/max-tokens-length.json",
];

/// The `data:` payloads of an SSE body, `[DONE]` excluded.
fn payloads(body: &[u8]) -> Vec<Bytes> {
    let mut events = Vec::new();
    SseParser::new().feed(body, &mut events);
    let done = events.last().map(|e| &e.data[..]) == Some(b"[DONE]");
    assert!(done, "stream ends with [DONE]");
    events.into_iter().map(|e| e.data).filter(|d| &d[..] != b"[DONE]").collect()
}

fn replayed(entry: &Entry, include_usage: bool) -> Vec<Bytes> {
    let events = to_sse(entry, include_usage);
    for e in &events {
        assert!(e.starts_with(b"data: ") && e.ends_with(b"\n\n"), "{}", String::from_utf8_lossy(e));
    }
    payloads(&events.concat())
}

fn accumulate(chunks: &[Bytes]) -> Accumulated {
    Accumulated::from_chunks(chunks.iter().map(|c| &c[..]))
}

fn store(chunks: &[Bytes]) -> Option<Entry> {
    let mut acc = StreamAccumulator::new();
    chunks.iter().for_each(|c| acc.push(c));
    acc.finish("openai", "gpt-4o", 0.001)
}

/// A delta field concatenated across chunks (`Accumulated` does not track `refusal`).
fn delta_text(chunks: &[Bytes], key: &str) -> Option<String> {
    let mut out: Option<String> = None;
    for c in chunks {
        let v: Value = serde_json::from_slice(c).unwrap();
        for choice in v["choices"].as_array().into_iter().flatten() {
            if let Some(s) = choice["delta"][key].as_str() {
                out.get_or_insert_with(String::new).push_str(s);
            }
        }
    }
    out
}

/// What a user sees of an accumulated stream: text, reasoning, calls, finish, usage.
type Seen = (String, String, Vec<(String, String, String)>, Option<String>, Option<Value>);

fn seen(a: &Accumulated) -> Seen {
    (a.text.clone(), a.reasoning.clone(), a.calls.clone(), a.finish.clone(), a.usage.clone())
}

#[test]
fn recorded_streams_survive_store_and_replay() {
    for name in STREAMS {
        let original = payloads(&fixture_bytes(name));
        let before = accumulate(&original);
        assert!(before.finish.is_some() && before.usage.is_some(), "{name}: fixture is a complete stream with usage");

        let entry = store(&original).unwrap_or_else(|| panic!("{name}: a complete stream is storable"));
        let entry = Entry::decode(&entry.encode()).unwrap_or_else(|| panic!("{name}: entry decodes"));

        let again = replayed(&entry, true);
        let after = accumulate(&again);
        assert_eq!(seen(&after), seen(&before), "{name}");
        assert!(after.index_errors.is_empty(), "{name}: {:?}", after.index_errors);
        assert_eq!(delta_text(&again, "refusal"), delta_text(&original, "refusal"), "{name}: refusal");
        assert_eq!(after.chunks[0]["id"], before.chunks[0]["id"], "{name}: same id");
        assert_eq!(after.chunks[0]["model"], before.chunks[0]["model"], "{name}: same model");
        assert_eq!(after.chunks[0]["system_fingerprint"], before.chunks[0]["system_fingerprint"], "{name}");

        // Storing the replay gives the same entry: nothing is lost or invented on the way.
        assert_eq!(store(&again).unwrap().completion, entry.completion, "{name}: replay re-stores identically");

        // Without include_usage: the same answer, no usage chunk, no usage field.
        let quiet = replayed(&entry, false);
        let after = accumulate(&quiet);
        assert_eq!(
            (after.text.as_str(), after.calls.clone(), after.finish.clone()),
            (before.text.as_str(), before.calls.clone(), before.finish.clone()),
            "{name}"
        );
        assert_eq!(after.usage, None, "{name}");
        assert!(after.chunks.iter().all(|c| c.get("usage").is_none() && !c["choices"].as_array().unwrap().is_empty()), "{name}");
    }
}

#[test]
fn a_stream_entry_answers_a_non_streaming_request() {
    for name in STREAMS {
        let original = payloads(&fixture_bytes(name));
        let before = accumulate(&original);
        let body: Value = serde_json::from_slice(&store(&original).unwrap().to_completion_body()).unwrap();
        assert_eq!(body["object"], "chat.completion", "{name}");
        let choice = &body["choices"][0];
        let message = &choice["message"];
        assert_eq!(message["role"], "assistant");
        assert_eq!(message["content"].as_str().unwrap_or(""), before.text, "{name}");
        assert_eq!(message["refusal"].as_str().map(String::from), delta_text(&original, "refusal"), "{name}");
        let calls: Vec<(String, String, String)> = message["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                assert_eq!(c["type"], "function");
                let s = |v: &Value| v.as_str().unwrap().to_string();
                (s(&c["id"]), s(&c["function"]["name"]), s(&c["function"]["arguments"]))
            })
            .collect();
        assert_eq!(calls, before.calls, "{name}");
        assert_eq!(choice["finish_reason"].as_str(), before.finish.as_deref(), "{name}");
        assert_eq!(Some(&body["usage"]), before.usage.as_ref(), "{name}");
        assert_eq!(body["id"], before.chunks[0]["id"], "{name}");
    }
    // The shapes a client branches on: text has a string content, a tool call and a refusal
    // have `content: null`, exactly as OpenAI's non-streaming answers do.
    let body =
        |name: &str| -> Value { serde_json::from_slice(&store(&payloads(&fixture_bytes(name))).unwrap().to_completion_body()).unwrap() };
    assert_eq!(body("openai/tool-call-parallel-stream.sse")["choices"][0]["message"]["content"], Value::Null);
    assert_eq!(body("openai/refusal-stream.sse")["choices"][0]["message"]["content"], Value::Null);
    assert!(body("openai/text-stream.sse")["choices"][0]["message"]["refusal"].is_null());
    assert_eq!(
        body("openai/tool-call-parallel-stream.sse")["choices"][0]["message"]["tool_calls"][1]["function"]["arguments"],
        "{\"password\": \"radiance\"}"
    );
}

#[test]
fn a_non_stream_entry_answers_a_streaming_request() {
    for name in COMPLETIONS {
        let original = fixture_json(name);
        let entry = Entry::from_completion(&fixture_bytes(name), "openai", "gpt-4o", 0.0).unwrap_or_else(|| panic!("{name}: storable"));
        let chunks = replayed(&entry, true);
        let after = accumulate(&chunks);
        let message = &original["choices"][0]["message"];
        assert_eq!(after.text, message["content"].as_str().unwrap_or(""), "{name}");
        assert_eq!(delta_text(&chunks, "refusal"), message["refusal"].as_str().map(String::from), "{name}");
        let calls: Vec<(String, String, String)> = message["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let s = |v: &Value| v.as_str().unwrap().to_string();
                (s(&c["id"]), s(&c["function"]["name"]), s(&c["function"]["arguments"]))
            })
            .collect();
        assert_eq!(after.calls, calls, "{name}");
        assert!(after.index_errors.is_empty(), "{name}: {:?}", after.index_errors);
        assert_eq!(after.finish.as_deref(), original["choices"][0]["finish_reason"].as_str(), "{name}");
        assert_eq!(after.usage.as_ref(), Some(&original["usage"]), "{name}");
        assert_eq!(after.chunks[0]["id"], original["id"], "{name}");
        assert_eq!(after.chunks[0]["object"], "chat.completion.chunk", "{name}");

        // And stored from that replay, it is the original completion again (the empty
        // `annotations` list aside, which a stream does not carry).
        let mut expected = original.clone();
        expected.as_object_mut().unwrap().remove("usage");
        for choice in expected["choices"].as_array_mut().unwrap() {
            let msg = choice["message"].as_object_mut().unwrap();
            if msg.get("annotations") == Some(&json!([])) {
                msg.remove("annotations");
            }
            choice.as_object_mut().unwrap().entry("logprobs").or_insert(Value::Null);
        }
        assert_eq!(store(&chunks).unwrap().completion, expected, "{name}");
    }
}

#[test]
fn several_choices_replay_per_index() {
    let completion = json!({
        "id": "chatcmpl-n", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "A".repeat(150), "refusal": null}, "logprobs": null, "finish_reason": "stop"},
            {"index": 1, "message": {"role": "assistant", "content": null, "refusal": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]},
             "logprobs": null, "finish_reason": "tool_calls"},
            {"index": 2, "message": {"role": "assistant", "content": "short", "refusal": null, "reasoning_content": "why", "reasoning_signature": "sig"},
             "logprobs": {"content": [{"token": "short", "logprob": -0.1}], "refusal": null}, "finish_reason": "length"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    });
    let entry = Entry::from_completion(completion.to_string().as_bytes(), "openai", "gpt-4o", 0.0).unwrap();
    let chunks = replayed(&entry, true);
    // Every chunk is about one choice; each choice finishes exactly once.
    let mut finishes = Vec::new();
    for c in &chunks {
        let v: Value = serde_json::from_slice(c).unwrap();
        for choice in v["choices"].as_array().unwrap() {
            if let Some(f) = choice["finish_reason"].as_str() {
                finishes.push((choice["index"].as_u64().unwrap(), f.to_string()));
            }
        }
    }
    assert_eq!(finishes, [(0, "stop".to_string()), (1, "tool_calls".to_string()), (2, "length".to_string())]);
    let again = store(&chunks).unwrap();
    let mut expected = completion;
    let usage = expected.as_object_mut().unwrap().remove("usage");
    assert_eq!(again.completion, expected);
    assert_eq!(again.usage, usage);
}

#[test]
fn cut_and_failed_streams_are_not_stored() {
    for name in STREAMS {
        let original = payloads(&fixture_bytes(name));
        let finish_at =
            original.iter().position(|c| serde_json::from_slice::<Value>(c).unwrap()["choices"][0]["finish_reason"].is_string()).unwrap();
        // The connection dropped before the finish chunk.
        assert!(store(&original[..finish_at]).is_none(), "{name}: cut stream");
        // Cut after the finish but before usage: a complete answer, stored without usage.
        let no_usage = store(&original[..=finish_at]).unwrap();
        assert_eq!(no_usage.usage, None, "{name}");
        assert!(replayed(&no_usage, true)
            .iter()
            .all(|c| !serde_json::from_slice::<Value>(c).unwrap()["choices"].as_array().unwrap().is_empty()));
        // The upstream reported an error mid-stream, then finished anyway.
        let error =
            Bytes::from_static(br#"{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}"#);
        let mut failed = original[..finish_at / 2].to_vec();
        failed.push(error);
        failed.extend_from_slice(&original[finish_at / 2..]);
        assert!(store(&failed).is_none(), "{name}: error chunk");
    }
}
