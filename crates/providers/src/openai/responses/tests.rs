use futures_util::StreamExt;
use serde_json::{json, Value};
use switchyard_protocol::responses::{native, to_chat};
use switchyard_testkit::{FakeUpstream, Reply};

use super::*;
use crate::openai::{OpenAi, OpenAiConfig};
use crate::{ChatResponse, Provider, Secret};

/// A Responses request as the gateway decodes it: the canonical request, with the client's own
/// (continuing `history`) riding along.
fn decoded(body: &Value, history: &[Value]) -> ChatRequest {
    let bytes = body.to_string();
    let translated = to_chat(bytes.as_bytes()).unwrap();
    let mut request = ChatRequest::parse(&translated.chat_body(history)).unwrap();
    request.set_native(native(bytes.as_bytes(), &translated, history).unwrap());
    request
}

fn provider(base_url: String, responses: Option<bool>) -> OpenAi {
    let config =
        OpenAiConfig { base_url: Some(base_url), api_key: Some(Secret::new("sk-resp-key-00000000")), responses, ..OpenAiConfig::default() };
    OpenAi::new("up", &config).unwrap()
}

fn completion_json(answer: ChatResponse) -> (Value, Usage) {
    let ChatResponse::Complete { body, usage } = answer else { panic!("a whole answer") };
    (serde_json::from_slice(&body).unwrap(), usage.unwrap())
}

async fn chunks(answer: ChatResponse) -> (Vec<Value>, Option<ProviderError>) {
    let ChatResponse::Stream(mut stream) = answer else { panic!("a stream") };
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => out.push(serde_json::from_slice(&chunk.data).unwrap()),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

const TOOLS: &str = r#"[{"type":"function","name":"get_weather","description":"Current weather","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]},"strict":true}]"#;

/// A completed Response as OpenAI returns it (reasoning summary, text, a function call).
fn recorded_response() -> Value {
    json!({
        "id": "resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b", "object": "response", "created_at": 1756315696,
        "status": "completed", "background": false, "error": null, "incomplete_details": null, "instructions": "Be brief.",
        "max_output_tokens": null, "model": "gpt-5-mini-2025-08-07",
        "output": [
            {"id": "rs_68af4030baa48193b0c2a7e0b5e8d4a205438e46b5f69a3b", "type": "reasoning",
             "summary": [{"type": "summary_text", "text": "**Checking the weather**"}, {"type": "summary_text", "text": "I should call the tool."}],
             "encrypted_content": "gAAAAABor0Aw_encrypted"},
            {"id": "msg_68af4033ae8c8193b2c3d5a1c4b6f2e705438e46b5f69a3b", "type": "message", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Let me check."}]},
            {"id": "fc_68af4034a1b88193a1e1d8d4b9d1c2a805438e46b5f69a3b", "type": "function_call", "status": "completed",
             "arguments": "{\"location\":\"Paris, France\"}", "call_id": "call_kH2XeYvnF1wZzT8mC4Ra9mQe", "name": "get_weather"}
        ],
        "parallel_tool_calls": true, "previous_response_id": null, "prompt_cache_key": null,
        "reasoning": {"effort": "low", "summary": "auto"}, "safety_identifier": null, "service_tier": "default", "store": false,
        "temperature": 1.0, "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto",
        "tools": serde_json::from_str::<Value>(TOOLS).unwrap(), "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled",
        "usage": {"input_tokens": 312, "input_tokens_details": {"cached_tokens": 128}, "output_tokens": 87,
                  "output_tokens_details": {"reasoning_tokens": 64}, "total_tokens": 399},
        "user": null, "metadata": {}
    })
}

#[tokio::test]
async fn the_clients_body_goes_to_responses_with_only_the_gateways_fields_changed() {
    let up = FakeUpstream::start(vec![Reply::json(recorded_response().to_string())]).await;
    let client = json!({
        "model": "openai/gpt-5-mini", "instructions": "Be brief.", "previous_response_id": "resp_prev",
        "input": [{"type": "function_call_output", "call_id": "call_0", "output": "{\"temp_c\": 21}"}],
        "tools": serde_json::from_str::<Value>(TOOLS).unwrap(), "reasoning": {"effort": "low", "summary": "auto"},
        "include": ["reasoning.encrypted_content"], "store": true, "metadata": {"team": "search"},
        "text": {"verbosity": "medium"}, "user": "u-7", "fallback_models": ["mock/echo"], "cache_ttl": 60, "customer_identifier": "c1",
    });
    let history = [
        json!({"role": "user", "content": "Weather in Paris?"}),
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]}),
    ];
    let answer = provider(up.base_url(), Some(true)).chat(&decoded(&client, &history), "gpt-5-mini").await.unwrap();
    let sent = up.last_request();
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", "/v1/responses"));
    assert_eq!(sent.header("authorization"), Some("Bearer sk-resp-key-00000000"));
    let mut expected = client.clone();
    let object = expected.as_object_mut().unwrap();
    for gateway_owned in ["previous_response_id", "metadata", "fallback_models", "cache_ttl", "customer_identifier"] {
        object.remove(gateway_owned);
    }
    object.insert("model".into(), json!("gpt-5-mini"));
    object.insert("store".into(), json!(false));
    object.insert(
        "input".into(),
        json!([
            {"type": "message", "role": "user", "content": "Weather in Paris?"},
            {"type": "function_call", "call_id": "call_0", "name": "get_weather", "arguments": "{\"location\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_0", "output": "{\"temp_c\": 21}"},
        ]),
    );
    assert_eq!(sent.json(), expected);

    let (completion, usage) = completion_json(answer);
    assert_eq!(
        completion["choices"][0],
        json!({"index": 0, "logprobs": null, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Let me check.", "refusal": null,
            "reasoning_content": "**Checking the weather**\n\nI should call the tool.", "reasoning_signature": "gAAAAABor0Aw_encrypted",
            "tool_calls": [{"id": "call_kH2XeYvnF1wZzT8mC4Ra9mQe", "type": "function",
                            "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris, France\"}"}}]}})
    );
    assert_eq!((completion["object"].as_str(), completion["model"].as_str()), (Some("chat.completion"), Some("gpt-5-mini-2025-08-07")));
    assert_eq!(completion["usage"]["prompt_tokens"], 312);
    assert_eq!(
        usage,
        Usage { input_tokens: 312, output_tokens: 87, cached_input_tokens: 128, cache_write_tokens: 0, reasoning_tokens: 64 }
    );
}

#[tokio::test]
async fn a_request_that_continues_nothing_goes_out_byte_for_byte_but_for_model_and_store() {
    let up = FakeUpstream::start(vec![Reply::json(recorded_response().to_string())]).await;
    let client = br#"{"model":"gpt","input":"hi",  "max_output_tokens":300,"store":true,"stream":false,"disable_log":true}"#;
    let translated = to_chat(client).unwrap();
    let mut request = ChatRequest::parse(&translated.chat_body(&[])).unwrap();
    request.set_native(native(client, &translated, &[]).unwrap());
    provider(up.base_url(), Some(true)).chat(&request, "gpt-5-mini").await.unwrap();
    assert_eq!(up.last_request().body_str(), r#"{"model":"gpt-5-mini","input":"hi","max_output_tokens":300,"store":false}"#);
}

#[tokio::test]
async fn an_incomplete_or_failed_response_is_a_length_finish_or_a_classified_error() {
    let mut incomplete = recorded_response();
    incomplete["status"] = json!("incomplete");
    incomplete["incomplete_details"] = json!({"reason": "max_output_tokens"});
    incomplete["output"] = json!([incomplete["output"][1].clone()]);
    let failed = json!({"id": "resp_1", "object": "response", "status": "failed", "model": "gpt-5-mini", "output": [],
                        "error": {"code": "rate_limit_exceeded", "message": "Rate limit reached for gpt-5-mini"}});
    let up = FakeUpstream::start(vec![Reply::json(incomplete.to_string()), Reply::json(failed.to_string()), Reply::json("{}")]).await;
    let p = provider(up.base_url(), Some(true));
    let request = decoded(&json!({"model": "m", "input": "hi"}), &[]);
    let (completion, _) = completion_json(p.chat(&request, "gpt-5-mini").await.unwrap());
    assert_eq!(completion["choices"][0]["finish_reason"], "length");
    assert_eq!(completion["choices"][0]["message"]["content"], "Let me check.");
    assert_eq!(p.chat(&request, "gpt-5-mini").await.err().unwrap().kind, ErrorKind::RateLimited);
    assert_eq!(p.chat(&request, "gpt-5-mini").await.err().unwrap().kind, ErrorKind::Malformed, "`{{}}` is not a response");
}

fn sse(events: &[Value]) -> String {
    events.iter().map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap())).collect()
}

/// A streamed Response as OpenAI sends it: reasoning summary in two parts, text, a function call.
fn recorded_stream() -> Vec<Value> {
    let response = |status: &str, usage: Value| {
        json!({"id": "resp_68af41", "object": "response", "created_at": 1756315900, "status": status, "model": "gpt-5-mini-2025-08-07",
               "output": [], "usage": usage, "error": null, "incomplete_details": null})
    };
    let fc = json!({"id": "fc_68af42", "type": "function_call", "status": "in_progress", "arguments": "", "call_id": "call_Q3x9", "name": "get_weather"});
    vec![
        json!({"type": "response.created", "sequence_number": 0, "response": response("in_progress", Value::Null)}),
        json!({"type": "response.in_progress", "sequence_number": 1, "response": response("in_progress", Value::Null)}),
        json!({"type": "response.output_item.added", "sequence_number": 2, "output_index": 0, "item": {"id": "rs_68af41", "type": "reasoning", "summary": []}}),
        json!({"type": "response.reasoning_summary_part.added", "sequence_number": 3, "item_id": "rs_68af41", "output_index": 0, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
        json!({"type": "response.reasoning_summary_text.delta", "sequence_number": 4, "item_id": "rs_68af41", "output_index": 0, "summary_index": 0, "delta": "**Checking**"}),
        json!({"type": "response.reasoning_summary_part.added", "sequence_number": 5, "item_id": "rs_68af41", "output_index": 0, "summary_index": 1, "part": {"type": "summary_text", "text": ""}}),
        json!({"type": "response.reasoning_summary_text.delta", "sequence_number": 6, "item_id": "rs_68af41", "output_index": 0, "summary_index": 1, "delta": "Call the tool."}),
        json!({"type": "response.output_item.done", "sequence_number": 7, "output_index": 0, "item": {"id": "rs_68af41", "type": "reasoning", "summary": [], "encrypted_content": "gAAAA_enc"}}),
        json!({"type": "response.output_item.added", "sequence_number": 8, "output_index": 1, "item": {"id": "msg_68af41", "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
        json!({"type": "response.content_part.added", "sequence_number": 9, "item_id": "msg_68af41", "output_index": 1, "content_index": 0, "part": {"type": "output_text", "annotations": [], "text": ""}}),
        json!({"type": "response.output_text.delta", "sequence_number": 10, "item_id": "msg_68af41", "output_index": 1, "content_index": 0, "delta": "Let me", "logprobs": []}),
        json!({"type": "response.output_text.delta", "sequence_number": 11, "item_id": "msg_68af41", "output_index": 1, "content_index": 0, "delta": " check.", "logprobs": []}),
        json!({"type": "response.output_text.done", "sequence_number": 12, "item_id": "msg_68af41", "output_index": 1, "content_index": 0, "text": "Let me check.", "logprobs": []}),
        json!({"type": "response.output_item.added", "sequence_number": 13, "output_index": 2, "item": fc}),
        json!({"type": "response.function_call_arguments.delta", "sequence_number": 14, "item_id": "fc_68af42", "output_index": 2, "delta": "{\"location\":"}),
        json!({"type": "response.function_call_arguments.delta", "sequence_number": 15, "item_id": "fc_68af42", "output_index": 2, "delta": "\"Paris\"}"}),
        json!({"type": "response.function_call_arguments.done", "sequence_number": 16, "item_id": "fc_68af42", "output_index": 2, "arguments": "{\"location\":\"Paris\"}"}),
        json!({"type": "response.completed", "sequence_number": 17, "response": response("completed", json!({
            "input_tokens": 90, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 40,
            "output_tokens_details": {"reasoning_tokens": 24}, "total_tokens": 130}))}),
    ]
}

#[tokio::test]
async fn a_streamed_response_becomes_canonical_chunks_ending_in_usage() {
    let up = FakeUpstream::start(vec![Reply::sse(sse(&recorded_stream()))]).await;
    let request = decoded(
        &json!({"model": "m", "input": "Weather in Paris?", "stream": true, "tools": serde_json::from_str::<Value>(TOOLS).unwrap()}),
        &[],
    );
    let answer = provider(up.base_url(), Some(true)).chat(&request, "gpt-5-mini").await.unwrap();
    assert_eq!(up.last_request().json()["stream"], true);
    let (chunks, error) = chunks(answer).await;
    assert!(error.is_none(), "{error:?}");
    assert!(chunks.iter().all(|c| c["id"] == "resp_68af41" && c["model"] == "gpt-5-mini-2025-08-07"));
    let deltas: Vec<Value> = chunks.iter().filter_map(|c| c["choices"].get(0).map(|c| c["delta"].clone())).collect();
    assert_eq!(
        deltas,
        [
            json!({"role": "assistant", "content": ""}),
            json!({"reasoning_content": "**Checking**"}),
            json!({"reasoning_content": "\n\n"}),
            json!({"reasoning_content": "Call the tool."}),
            json!({"reasoning_signature": "gAAAA_enc"}),
            json!({"content": "Let me"}),
            json!({"content": " check."}),
            json!({"tool_calls": [{"index": 0, "id": "call_Q3x9", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"location\":"}}]}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
            json!({}),
        ]
    );
    let last = &chunks[chunks.len() - 2..];
    assert_eq!(last[0]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(last[1]["choices"], json!([]));
    assert_eq!(last[1]["usage"]["prompt_tokens"], 90);
    assert_eq!(last[1]["usage"]["completion_tokens_details"]["reasoning_tokens"], 24);
}

#[tokio::test]
async fn a_stream_that_fails_or_is_cut_ends_in_a_classified_error() {
    let events = recorded_stream();
    let failed = json!({"type": "response.failed", "sequence_number": 12, "response": {"id": "resp_68af41", "object": "response",
        "status": "failed", "model": "gpt-5-mini", "output": [], "error": {"code": "server_error", "message": "The model failed to generate a response."}}});
    let error =
        json!({"type": "error", "sequence_number": 3, "code": "rate_limit_exceeded", "message": "Rate limit reached", "param": null});
    let up = FakeUpstream::start(vec![
        Reply::sse(sse(&[&events[..11], &[failed]].concat())),
        Reply::sse(sse(&[events[0].clone(), error])),
        Reply::sse(sse(&events[..11])),
    ])
    .await;
    let p = provider(up.base_url(), Some(true));
    let request = decoded(&json!({"model": "m", "input": "hi", "stream": true}), &[]);
    for (kind, content_before) in [(ErrorKind::Server, true), (ErrorKind::RateLimited, false), (ErrorKind::Interrupted, true)] {
        let (chunks, error) = chunks(p.chat(&request, "gpt-5-mini").await.unwrap()).await;
        assert_eq!(error.expect("ends in an error").kind, kind);
        assert_eq!(chunks.iter().any(|c| c["choices"][0]["delta"]["content"] == "Let me"), content_before);
    }
}

#[tokio::test]
async fn a_compatible_server_or_a_translated_request_still_gets_chat_completions() {
    let chat = switchyard_testkit::fixture_bytes("openai/text.json");
    let up = FakeUpstream::start(vec![Reply::json(chat.clone()), Reply::json(chat.clone())]).await;
    let request = decoded(&json!({"model": "m", "input": "hi", "instructions": "Be brief."}), &[]);
    let answer = provider(up.base_url(), None).chat(&request, "llama").await.unwrap();
    let sent = up.last_request();
    assert_eq!(sent.path, "/v1/chat/completions", "a base URL other than OpenAI's does not speak Responses by default");
    assert_eq!(sent.json()["messages"], json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]));
    assert!(matches!(answer, ChatResponse::Complete { body, .. } if body == chat));
    let plain = ChatRequest::parse(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
    provider(up.base_url(), Some(true)).chat(&plain, "gpt-4o").await.unwrap();
    assert_eq!(up.last_request().path, "/v1/chat/completions", "a chat request is not a Responses request");
}

#[test]
fn only_the_official_base_url_speaks_responses_by_default() {
    let speaks = |base_url: Option<&str>, responses: Option<bool>| {
        let config = OpenAiConfig { base_url: base_url.map(str::to_string), responses, ..OpenAiConfig::default() };
        OpenAi::new("p", &config).unwrap().responses_url.map(|u| u.to_string())
    };
    assert_eq!(speaks(None, None).as_deref(), Some("https://api.openai.com/v1/responses"));
    assert_eq!(speaks(Some("https://api.openai.com/v1/"), None).as_deref(), Some("https://api.openai.com/v1/responses"));
    assert_eq!(speaks(None, Some(false)), None);
    assert_eq!(speaks(Some("http://127.0.0.1:8000/v1"), None), None);
    assert_eq!(speaks(Some("http://127.0.0.1:8000/v1"), Some(true)).as_deref(), Some("http://127.0.0.1:8000/v1/responses"));
    let groq = OpenAiConfig { flavor: Some("groq".into()), ..OpenAiConfig::default() };
    assert!(OpenAi::new("g", &groq).unwrap().responses_url.is_none());
}
