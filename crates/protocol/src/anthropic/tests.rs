use serde_json::{json, Value};

use super::*;

fn chat(body: Value) -> Value {
    serde_json::from_slice(&to_chat(body.to_string().as_bytes()).unwrap()).unwrap()
}

fn refused(body: Value) -> (String, Option<String>) {
    let e = to_chat(body.to_string().as_bytes()).unwrap_err();
    (e.message, e.param)
}

#[test]
fn a_claude_code_shaped_request_becomes_the_canonical_one() {
    let c = chat(json!({
        "model": "claude-sonnet-4-5", "max_tokens": 32000, "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "Be brief."}],
        "messages": [
            {"role": "user", "content": "list files"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "use ls", "signature": "sig-1"},
                {"type": "text", "text": "Listing."},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a.txt"}]},
                {"type": "text", "text": "now read it", "cache_control": {"type": "ephemeral"}}]}
        ],
        "tools": [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}, {"type": "web_search_20250305", "name": "web_search"}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "metadata": {"user_id": "user-42"},
        "stop_sequences": ["END"], "temperature": 1, "top_k": 5,
        "fallback_models": ["gpt-4o"], "container": "c1"
    }));
    assert_eq!(c["model"], "claude-sonnet-4-5");
    assert_eq!(c["max_tokens"], 32000);
    assert_eq!((c["stream"].clone(), c["stream_options"].clone()), (json!(true), json!({"include_usage": true})));
    let m = c["messages"].as_array().unwrap();
    assert_eq!(m[0], json!({"role": "system", "content": "You are Claude Code.\n\nBe brief."}));
    assert_eq!(m[1], json!({"role": "user", "content": [{"type": "text", "text": "list files"}]}));
    assert_eq!(m[2]["reasoning_content"], "use ls");
    assert_eq!(m[2]["reasoning_signature"], "sig-1");
    assert_eq!(m[2]["content"], "Listing.");
    assert_eq!(
        m[2]["tool_calls"][0],
        json!({"id": "toolu_1", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}})
    );
    assert_eq!(m[3], json!({"role": "tool", "tool_call_id": "toolu_1", "content": "a.txt"}));
    assert_eq!(m[4], json!({"role": "user", "content": [{"type": "text", "text": "now read it"}]}));
    // Only the client tool translates; the server tool is Anthropic's own.
    assert_eq!(
        c["tools"],
        json!([{"type": "function", "function": {"name": "Bash", "description": "run", "parameters": {"type": "object"}}}])
    );
    assert_eq!((c["tool_choice"].clone(), c["parallel_tool_calls"].clone()), (json!("required"), json!(false)));
    assert_eq!(c["reasoning_effort"], "high");
    assert_eq!(c["user"], "user-42");
    assert_eq!(c["stop"], json!(["END"]));
    assert_eq!(c["top_k"], 5);
    assert_eq!(c["fallback_models"], json!(["gpt-4o"]));
    assert!(c.get("container").is_none() && c.get("metadata").is_none() && c.get("thinking").is_none());
}

#[test]
fn images_documents_and_tool_errors_translate() {
    let c = chat(json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
        {"type": "document", "title": "r.pdf", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain"}},
        {"type": "tool_result", "tool_use_id": "t", "content": "boom", "is_error": true}
    ]}]}));
    let m = c["messages"].as_array().unwrap();
    assert_eq!(m[0], json!({"role": "tool", "tool_call_id": "t", "content": "Error: boom"}));
    assert_eq!(
        m[1]["content"],
        json!([
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAA"}},
            {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBER", "filename": "r.pdf"}},
            {"type": "text", "text": "plain"}
        ])
    );
}

#[test]
fn the_native_body_keeps_every_field_in_place() {
    // (Whitespace between members is not kept; values are, byte for byte.)
    let body = br#"{"model":"m","metadata": {"user_id": "u"},"max_tokens":5,"messages":[],"fallback_models":["b"]}"#;
    assert_eq!(native(body).unwrap().body.to_bytes(), br#"{"model":"m","metadata":{"user_id": "u"},"max_tokens":5,"messages":[]}"#);
    // Only Anthropic's own key is forwarded, still in its place.
    let body = br#"{"model":"m","metadata":{"user_id":"u","team":"a"},"max_tokens":5}"#;
    assert_eq!(native(body).unwrap().body.to_bytes(), br#"{"model":"m","metadata":{"user_id":"u"},"max_tokens":5}"#);
    let body = br#"{"model":"m","metadata":{"team":"a"},"max_tokens":5}"#;
    assert_eq!(native(body).unwrap().body.to_bytes(), br#"{"model":"m","max_tokens":5}"#);
}

#[test]
fn tool_choice_modes_and_gateway_metadata() {
    let base = |choice: Value| {
        chat(json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "tools": [{"name": "f", "input_schema": {}}], "tool_choice": choice}))
    };
    assert_eq!(base(json!({"type": "auto"}))["tool_choice"], "auto");
    assert_eq!(base(json!({"type": "none"}))["tool_choice"], "none");
    assert_eq!(base(json!({"type": "tool", "name": "f"}))["tool_choice"], json!({"type": "function", "function": {"name": "f"}}));
    let c = chat(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "metadata": {"user_id": "u", "team": "a"}}));
    assert_eq!((c["user"].clone(), c["metadata"].clone()), (json!("u"), json!({"team": "a"})));
}

#[test]
fn malformed_requests_name_the_field() {
    let msgs = json!([{"role": "user", "content": "x"}]);
    assert_eq!(refused(json!({"messages": msgs})).1.as_deref(), Some("model"));
    assert_eq!(refused(json!({"model": "m", "messages": []})).1.as_deref(), Some("messages"));
    assert_eq!(refused(json!({"model": "m", "messages": [{"role": "system", "content": "x"}]})).1.as_deref(), Some("messages[0].role"));
    assert_eq!(refused(json!({"model": "m", "messages": [{"role": "user", "content": 5}]})).1.as_deref(), Some("messages[0].content"));
    assert_eq!(
        refused(json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]})).1.as_deref(),
        Some("messages[0].content[0].text")
    );
    assert_eq!(
        refused(json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "tool_result"}]}]})).1.as_deref(),
        Some("messages[0].content[0].tool_use_id")
    );
    assert_eq!(refused(json!({"model": "m", "messages": msgs, "max_tokens": 0})).1.as_deref(), Some("max_tokens"));
    assert_eq!(
        refused(json!({"model": "m", "messages": msgs, "thinking": {"type": "enabled"}})).1.as_deref(),
        Some("thinking.budget_tokens")
    );
    assert_eq!(
        refused(json!({"model": "m", "messages": msgs, "tool_choice": {"type": "sometimes"}})).1.as_deref(),
        Some("tool_choice.type")
    );
    assert!(to_chat(b"[1]").is_err() && to_chat(b"{").is_err());
}

#[test]
fn a_completion_becomes_a_message() {
    let body = json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o", "choices": [{"index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": "Let me check.", "reasoning_content": "hmm", "reasoning_signature": "s",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get", "arguments": "{\"a\":1}"}}]}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 30}}});
    let m: Value = serde_json::from_slice(&from_completion(body.to_string().as_bytes())).unwrap();
    assert_eq!(m["id"], "msg_chatcmpl-1");
    assert_eq!((m["type"].as_str(), m["role"].as_str(), m["model"].as_str()), (Some("message"), Some("assistant"), Some("gpt-4o")));
    assert_eq!(
        m["content"],
        json!([{"type": "thinking", "thinking": "hmm", "signature": "s"}, {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "call_1", "name": "get", "input": {"a": 1}}])
    );
    assert_eq!(m["stop_reason"], "tool_use");
    assert_eq!(
        m["usage"],
        json!({"input_tokens": 10, "output_tokens": 7, "cache_read_input_tokens": 60, "cache_creation_input_tokens": 30})
    );
    assert_eq!(response::tool_input("not json"), json!({"_raw": "not json"}));
    assert_eq!(response::stop_reason(Some("length")), "max_tokens");
}

fn run(chunks: &[Value], done: bool) -> Vec<(String, Value)> {
    let mut events = Events::new();
    let mut out = Vec::new();
    for c in chunks {
        events.chunk(c.to_string().as_bytes(), &mut out);
    }
    if done {
        events.done(&mut out);
    }
    out.into_iter().map(|(n, v)| (n.to_string(), v)).collect()
}

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({"id": "chatcmpl-9", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

#[test]
fn a_stream_becomes_anthropic_events() {
    let chunks = [
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({"reasoning_content": "think"}), None),
        chunk(json!({"reasoning_signature": "sig"}), None),
        chunk(json!({"content": "Hi"}), None),
        chunk(json!({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\""}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}), None),
        chunk(json!({"tool_calls": [{"index": 1, "id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}), None),
        chunk(json!({}), Some("tool_calls")),
        json!({"id": "chatcmpl-9", "model": "m", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3}}),
    ];
    let events = run(&chunks, true);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str(), "the data's type names the event");
    }
    assert_eq!(events[0].1["message"]["id"], "msg_chatcmpl-9");
    assert_eq!(events[1].1["content_block"], json!({"type": "thinking", "thinking": "", "signature": ""}));
    assert_eq!(events[3].1["delta"], json!({"type": "signature_delta", "signature": "sig"}));
    assert_eq!(events[6].1["delta"], json!({"type": "text_delta", "text": "Hi"}));
    assert_eq!(events[8].1["content_block"], json!({"type": "tool_use", "id": "c1", "name": "f", "input": {}}));
    let partial: String = events[9..11].iter().map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap()).collect();
    assert_eq!(partial, "{\"a\":1}");
    assert_eq!(events[12].1["index"], 3);
    assert_eq!(events[15].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(events[15].1["usage"]["input_tokens"], 12);
    assert_eq!(events[15].1["usage"]["output_tokens"], 3);
}

#[test]
fn a_stream_that_did_not_end_has_no_message_stop() {
    let events = run(&[chunk(json!({"content": "par"}), None)], false);
    assert!(events.iter().all(|(n, _)| n != "message_stop" && n != "message_delta"));
    // An empty but finished stream is still a whole message.
    let events = run(&[], true);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["message_start", "message_delta", "message_stop"]);
}

#[test]
fn redacted_thinking_round_trips_opaque() {
    let c = chat(json!({"model": "m", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"},
            {"type": "redacted_thinking", "data": "EmwKAhgB"}, {"type": "text", "text": "ok"}]},
        {"role": "user", "content": "y"}]}));
    assert_eq!(c["messages"][1]["reasoning_redacted"], json!(["EmwKAhgB"]));
    let body = json!({"id": "msg_1", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "ok", "reasoning_content": "t", "reasoning_signature": "s", "reasoning_redacted": ["EmwKAhgB"]}}]});
    let m: Value = serde_json::from_slice(&from_completion(body.to_string().as_bytes())).unwrap();
    assert_eq!(m["content"][1], json!({"type": "redacted_thinking", "data": "EmwKAhgB"}));
    let events = run(
        &[
            chunk(json!({"reasoning_content": "t"}), None),
            chunk(json!({"reasoning_redacted": ["EmwKAhgB"]}), None),
            chunk(json!({"content": "ok"}), None),
        ],
        true,
    );
    let blocks: Vec<Value> = events.iter().filter(|(n, _)| n == "content_block_start").map(|(_, d)| d["content_block"].clone()).collect();
    assert_eq!(blocks[1], json!({"type": "redacted_thinking", "data": "EmwKAhgB"}));
    assert_eq!(blocks.len(), 3);
}
