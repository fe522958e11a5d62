use serde_json::{json, Value};

use super::*;
use crate::openai::ChatRequest;

fn translate(v: Value) -> Translated {
    to_chat(v.to_string().as_bytes()).unwrap()
}

fn chat(v: Value) -> Value {
    let t = translate(v);
    let body = t.chat_body(&[]);
    // The canonical request must parse as one.
    ChatRequest::parse(&body).unwrap();
    serde_json::from_slice(&body).unwrap()
}

fn error(v: Value) -> crate::openai::RequestFormatError {
    to_chat(v.to_string().as_bytes()).unwrap_err()
}

fn ctx() -> ResponseContext {
    ResponseContext { id: "resp_abc".into(), created_at: 1_700_000_000, echo: Default::default() }
}

#[test]
fn string_input_instructions_and_options_become_a_chat_request() {
    let c = chat(json!({
        "model": "mock/echo", "input": "hi", "instructions": "be brief", "max_output_tokens": 50,
        "temperature": 0.2, "top_p": 0.9, "safety_identifier": "u-1", "metadata": {"job": "x"},
        "reasoning": {"effort": "low", "summary": "auto"}, "stream": true, "store": false,
        "fallback_models": ["other/m"], "cache_ttl": 60, "prompt_label": "prod",
    }));
    assert_eq!(
        c,
        json!({
            "model": "mock/echo",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
            "stream": true, "stream_options": {"include_usage": true},
            "reasoning_effort": "low", "max_completion_tokens": 50, "temperature": 0.2, "top_p": 0.9,
            "user": "u-1", "metadata": {"job": "x"}, "fallback_models": ["other/m"], "cache_ttl": 60, "prompt_label": "prod",
        })
    );
    let t = translate(json!({"model": "m", "input": "hi", "store": false}));
    assert!(!t.store && !t.stream && t.previous_response_id.is_none());
    assert!(translate(json!({"model": "m", "input": "hi"})).store, "store defaults to true");
}

#[test]
fn items_become_messages_with_tool_calls_reasoning_and_parts() {
    let c = chat(json!({"model": "m", "input": [
        {"role": "developer", "content": "rules"},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAA", "detail": "low"},
            {"type": "input_file", "file_data": "data:application/pdf;base64,JVBER", "filename": "a.pdf"},
        ]},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "thinking"}], "encrypted_content": "sig"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "calling"}]},
        {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call", "call_id": "call_2", "name": "time", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_2", "output": "noon"},
    ]}));
    assert_eq!(
        c["messages"],
        json!([
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA", "detail": "low"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBER", "filename": "a.pdf"}},
            ]},
            {"role": "assistant", "content": "calling", "reasoning_content": "thinking", "reasoning_signature": "sig", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": "{}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
        ])
    );
}

#[test]
fn function_tools_choice_and_text_format_translate() {
    let c = chat(json!({"model": "m", "input": "x",
        "tools": [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true}],
        "tool_choice": {"type": "function", "name": "f"}, "parallel_tool_calls": false,
        "text": {"format": {"type": "json_schema", "name": "Out", "schema": {"type": "object"}, "strict": true}},
    }));
    assert_eq!(
        c["tools"],
        json!([{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true}}])
    );
    assert_eq!(c["tool_choice"], json!({"type": "function", "function": {"name": "f"}}));
    assert_eq!(c["parallel_tool_calls"], json!(false));
    assert_eq!(
        c["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "Out", "schema": {"type": "object"}, "strict": true}})
    );
    let c = chat(json!({"model": "m", "input": "x", "tool_choice": "required", "text": {"format": {"type": "json_object"}}}));
    assert_eq!(c["response_format"], json!({"type": "json_object"}));
    assert!(c.get("tool_choice").is_none(), "no tools, no tool_choice: {c}");
    let t = translate(json!({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}]}));
    assert_eq!(t.echo["tools"], json!([{"type": "function", "name": "f"}]));
    assert_eq!(t.echo["tool_choice"], json!("auto"));
}

#[test]
fn malformed_or_unsupported_input_is_a_400_naming_the_field() {
    let cases = [
        (json!({"input": "x"}), "model"),
        (json!({"model": "m"}), "input"),
        (json!({"model": "m", "input": []}), "input"),
        (
            json!({"model": "m", "input": [{"type": "function_call_output", "output": "x"}, {"type": "function_call", "name": "f"}]}),
            "input[0].call_id",
        ),
        (json!({"model": "m", "input": ["x", {"type": "function_call", "name": "f"}]}), "input[0]"),
        (json!({"model": "m", "input": [{"role": "user", "content": "a"}, {"type": "function_call", "call_id": "c"}]}), "input[1].name"),
        (json!({"model": "m", "input": [{"role": "robot", "content": "a"}]}), "input[0].role"),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]}),
            "input[0].content[0].image_url",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]}),
            "input[0].content[0].file_data",
        ),
        (json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}), "input[0].type"),
        (json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}), "tools[0].type"),
        (json!({"model": "m", "input": "x", "tool_choice": {"type": "file_search"}}), "tool_choice"),
        (json!({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}}), "text.format.name"),
        (json!({"model": "m", "input": "x", "max_output_tokens": 0}), "max_output_tokens"),
        (json!({"model": "m", "input": "x", "store": "yes"}), "store"),
        (json!({"model": "m", "input": "x", "background": true}), "background"),
        (json!({"model": "m", "input": "x", "previous_response_id": 7}), "previous_response_id"),
    ];
    for (body, param) in cases {
        let e = error(body.clone());
        assert_eq!(e.param.as_deref(), Some(param), "{body}: {}", e.message);
        assert!(e.message.contains(param), "the message names `{param}`: {}", e.message);
    }
    let e = error(json!({"model": "m", "input": "x", "tools": [{"type": "web_search_preview"}]}));
    assert!(e.message.contains("web_search_preview"), "{}", e.message);
}

#[test]
fn previous_conversation_goes_between_instructions_and_this_turn() {
    let t = translate(json!({"model": "m", "input": "again", "instructions": "sys", "previous_response_id": "resp_1"}));
    assert_eq!(t.previous_response_id.as_deref(), Some("resp_1"));
    let history = [json!({"role": "user", "content": "first"}), json!({"role": "assistant", "content": "one"})];
    let body: Value = serde_json::from_slice(&t.chat_body(&history)).unwrap();
    let roles: Vec<&str> = body["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
}

#[test]
fn a_completion_becomes_a_response_with_reasoning_message_and_calls() {
    let completion = json!({
        "id": "chatcmpl-1", "model": "gpt-x", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "let me check", "reasoning_content": "hmm", "reasoning_signature": "sig",
            "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 2}},
    });
    let mut c = ctx();
    c.echo.insert("store".into(), json!(true));
    let (r, message) = from_completion(&c, completion.to_string().as_bytes());
    assert_eq!(r["id"], "resp_abc");
    assert_eq!(r["object"], "response");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["model"], "gpt-x");
    assert_eq!(r["store"], true);
    assert_eq!(
        r["output"],
        json!([
            {"id": "rs_abc_0", "type": "reasoning", "summary": [{"type": "summary_text", "text": "hmm"}], "encrypted_content": "sig", "status": "completed"},
            {"id": "msg_abc_1", "type": "message", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": "let me check", "annotations": [], "logprobs": []}]},
            {"id": "fc_abc_2", "type": "function_call", "call_id": "call_9", "name": "f", "arguments": "{\"a\":1}", "status": "completed"},
        ])
    );
    assert_eq!(
        r["usage"],
        json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0}, "output_tokens": 5,
               "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 15})
    );
    assert_eq!(
        message,
        json!({"role": "assistant", "content": "let me check", "reasoning_content": "hmm", "reasoning_signature": "sig",
               "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]})
    );
    let cut = json!({"model": "m", "choices": [{"finish_reason": "length", "message": {"role": "assistant", "content": "par"}}]});
    let (r, _) = from_completion(&c, cut.to_string().as_bytes());
    assert_eq!((r["status"].clone(), r["incomplete_details"].clone()), (json!("incomplete"), json!({"reason": "max_output_tokens"})));
}

#[test]
fn input_items_are_listed_with_ids() {
    let t = translate(json!({"model": "m", "input": "hi"}));
    let listed = listed_input_items(&ctx(), &t.input_items);
    assert_eq!(
        listed,
        [
            json!({"id": "msg_abc_in0", "type": "message", "role": "user", "status": "completed", "content": [{"type": "input_text", "text": "hi"}]})
        ]
    );
}

fn chunk(delta: Value, finish: Option<&str>) -> Vec<u8> {
    json!({"id": "c", "model": "gpt-x", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).to_string().into_bytes()
}

fn run_stream(chunks: &[Vec<u8>], end: bool) -> (Events, Vec<Event>) {
    let mut events = Events::new(ctx());
    let mut out = Vec::new();
    for c in chunks {
        events.chunk(c, &mut out);
    }
    if end {
        events.done(&mut out);
    }
    (events, out)
}

#[test]
fn a_stream_becomes_the_responses_events_in_order_with_sequence_numbers() {
    let usage =
        json!({"id": "c", "model": "gpt-x", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}});
    let chunks = [
        chunk(json!({"role": "assistant", "reasoning_content": "think"}), None),
        chunk(json!({"reasoning_signature": "s1"}), None),
        chunk(json!({"content": "Hel"}), None),
        chunk(json!({"content": "lo"}), None),
        chunk(json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":"}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}), None),
        chunk(json!({}), Some("tool_calls")),
        usage.to_string().into_bytes(),
    ];
    let (events, out) = run_stream(&chunks, true);
    let names: Vec<&str> = out.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, (name, data)) in out.iter().enumerate() {
        assert_eq!(data["sequence_number"], json!(i), "{name}");
        assert_eq!(data["type"], json!(name));
    }
    assert_eq!(out[10].1["item_id"], "msg_abc_1");
    assert_eq!((out[10].1["output_index"].clone(), out[10].1["delta"].clone()), (json!(1), json!("Hel")));
    assert_eq!(out[12].1["text"], "Hello");
    assert_eq!(out[18].1["arguments"], "{\"a\":1}");
    let done = &out[20].1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["usage"]["total_tokens"], 7);
    assert_eq!(done["output"][0]["encrypted_content"], "s1");
    assert_eq!(done["output"][1]["content"][0]["text"], "Hello");
    assert_eq!(done["output"][2]["call_id"], "call_1");
    // The same response as a complete answer would give.
    let (response, message) = events.finished().unwrap();
    assert_eq!(&response, done);
    assert_eq!(message["tool_calls"][0]["function"]["arguments"], "{\"a\":1}");
    assert_eq!((message["content"].as_str(), message["reasoning_signature"].as_str()), (Some("Hello"), Some("s1")));
}

#[test]
fn a_cut_stream_ends_incomplete_and_a_failure_is_response_failed() {
    let (events, out) = run_stream(&[chunk(json!({"content": "par"}), Some("length"))], true);
    assert_eq!(out.last().unwrap().0, "response.incomplete");
    assert_eq!(out.last().unwrap().1["response"]["incomplete_details"], json!({"reason": "max_output_tokens"}));
    assert!(events.finished().is_some());

    let (mut events, mut out) = run_stream(&[chunk(json!({"content": "par"}), None)], false);
    events.failed("server_error", "upstream went away", &mut out);
    events.done(&mut out);
    let (name, data) = out.last().unwrap();
    assert_eq!(*name, "response.failed");
    assert_eq!(data["response"]["status"], "failed");
    assert_eq!(data["response"]["error"], json!({"code": "server_error", "message": "upstream went away"}));
    // The message the failure cut off is listed as it got, but not as completed.
    assert_eq!(data["response"]["output"][0]["status"], "incomplete");
    assert_eq!(data["response"]["output"][0]["content"][0]["text"], "par");
    assert!(events.finished().is_none(), "a failed stream is not stored");
    assert!(!out.iter().any(|(n, _)| *n == "response.completed"));
}

#[test]
fn an_empty_stream_still_starts_and_completes() {
    let (_, out) = run_stream(&[], true);
    let names: Vec<&str> = out.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["response.created", "response.in_progress", "response.completed"]);
}

/// Gemini signs a turn on its first function call (or text): the stream lists the signature's
/// reasoning item after that item. Sent back as the next request's input, the turn stays one
/// assistant message with both calls and the signature, followed by the results.
#[test]
fn a_streamed_output_with_the_signature_after_a_call_goes_back_as_one_assistant_turn() {
    let call = |i: u64, id: &str, args: &str| {
        chunk(json!({"tool_calls": [{"index": i, "id": id, "type": "function", "function": {"name": "f", "arguments": args}}]}), None)
    };
    let chunks = [
        call(0, "call_1", "{\"a\":1}"),
        chunk(json!({"reasoning_signature": "sig"}), None),
        call(1, "call_2", "{\"a\":2}"),
        chunk(json!({}), Some("tool_calls")),
    ];
    let (events, _) = run_stream(&chunks, true);
    let (response, _) = events.finished().unwrap();
    let kinds: Vec<&str> = response["output"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["function_call", "reasoning", "function_call"]);
    let mut input = vec![json!({"role": "user", "content": "go"})];
    input.extend(response["output"].as_array().unwrap().iter().cloned());
    input.push(json!({"type": "function_call_output", "call_id": "call_1", "output": "one"}));
    input.push(json!({"type": "function_call_output", "call_id": "call_2", "output": "two"}));
    let c = chat(json!({"model": "m", "input": input}));
    assert_eq!(
        c["messages"],
        json!([
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": null, "reasoning_signature": "sig", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                {"id": "call_2", "type": "function", "function": {"name": "f", "arguments": "{\"a\":2}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "one"},
            {"role": "tool", "tool_call_id": "call_2", "content": "two"},
        ])
    );

    // Text signed the same way keeps its signature too.
    let (events, _) =
        run_stream(&[chunk(json!({"content": "OK"}), None), chunk(json!({"reasoning_signature": "sig"}), Some("stop"))], true);
    let (response, _) = events.finished().unwrap();
    let mut input = vec![json!({"role": "user", "content": "go"})];
    input.extend(response["output"].as_array().unwrap().iter().cloned());
    input.push(json!({"role": "user", "content": "again"}));
    let c = chat(json!({"model": "m", "input": input}));
    assert_eq!(c["messages"][1], json!({"role": "assistant", "content": "OK", "reasoning_signature": "sig"}));
}

#[test]
fn the_native_body_keeps_the_clients_bytes_without_the_gateways_fields() {
    let body = br#"{"model":"m", "input":"hi","metadata":{"job":"x"},"store":true,"cache_ttl":60,"include":["reasoning.encrypted_content"],"fallback_models":["b"]}"#;
    let t = to_chat(body).unwrap();
    let n = native(body, &t, &[]).unwrap();
    assert_eq!(n.api, crate::NativeApi::OpenAiResponses);
    assert_eq!(n.body.to_bytes(), br#"{"model":"m","input":"hi","store":true,"include":["reasoning.encrypted_content"]}"#);
}

#[test]
fn the_native_body_carries_the_expanded_conversation_instead_of_the_previous_response() {
    let body = json!({"model": "m", "previous_response_id": "resp_1", "instructions": "brief", "input": [
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}
    ]});
    let t = translate(body.clone());
    let history = [
        json!({"role": "user", "content": [{"type": "text", "text": "weather?"}, {"type": "image_url", "image_url": {"url": "https://x/i.png"}}]}),
        json!({"role": "assistant", "content": "Let me look.", "reasoning_content": "think", "reasoning_signature": "sig",
               "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get", "arguments": "{\"city\":\"Paris\"}"}}]}),
    ];
    let n = native(body.to_string().as_bytes(), &t, &history).unwrap();
    let sent: Value = serde_json::from_slice(&n.body.to_bytes()).unwrap();
    assert_eq!(
        sent,
        json!({"model": "m", "instructions": "brief", "input": [
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "weather?"}, {"type": "input_image", "image_url": "https://x/i.png", "detail": "auto"}]},
            {"type": "message", "role": "assistant", "content": "Let me look."},
            {"type": "function_call", "call_id": "call_1", "name": "get", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        ]})
    );
    // The expanded input reads back as the same canonical conversation (reasoning aside).
    let mut again = body.clone();
    again["input"] = sent["input"].clone();
    again.as_object_mut().unwrap().remove("previous_response_id");
    let messages = translate(again).messages;
    assert_eq!(messages[1]["tool_calls"], history[1]["tool_calls"]);
    assert_eq!(messages[2], json!({"role": "tool", "tool_call_id": "call_1", "content": "sunny"}));
}
