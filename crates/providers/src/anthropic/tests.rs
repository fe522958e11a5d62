//! The Anthropic adapter against recorded Anthropic traffic: what it sends (headers, fields, role
//! order a real Messages API requires) and what it makes of real answers, streamed and not.

use serde_json::{json, Value};
use switchyard_protocol::openai::ChatRequest;
use switchyard_protocol::sse::SseParser;
use switchyard_testkit::{fixture_bytes, fixture_json, fixture_reply, Accumulated, FakeUpstream, Reply, Split};

use super::stream::AnthropicDecoder;
use super::{Anthropic, AnthropicConfig};
use crate::sse_stream::{Decoded, EventDecoder};
use crate::{ChatResponse, ErrorKind, Provider, Secret};
use futures_util::StreamExt;

fn provider(base: &str) -> Anthropic {
    let config = AnthropicConfig {
        base_url: Some(base.trim_end_matches("/v1").to_string()),
        api_key: Some(Secret::new("sk-ant-test-key-1234567")),
        ..Default::default()
    };
    Anthropic::new("anthropic", &config).unwrap()
}

fn request(body: Value) -> ChatRequest {
    ChatRequest::parse(body.to_string().as_bytes()).unwrap()
}

async fn complete(reply: Reply, body: Value) -> (Value, FakeUpstream) {
    let up = FakeUpstream::start(vec![reply]).await;
    let ChatResponse::Complete { body, .. } = provider(&up.base_url()).chat(&request(body), "claude-sonnet-4-0").await.unwrap() else {
        panic!("expected a complete answer")
    };
    (serde_json::from_slice(&body).unwrap(), up)
}

const TOOLS: &str = r#"[{"type":"function","function":{"name":"secret_retrieval_tool","description":"A tool that requires a password to retrieve a secret.","parameters":{"properties":{"password":{"title":"Password","type":"string"}},"required":["password"],"additionalProperties":false,"type":"object"}}}]"#;

#[tokio::test]
async fn text_sends_what_the_messages_api_requires() {
    let (out, up) = complete(
        fixture_reply("anthropic/text.json"),
        json!({"model": "a/claude", "messages": [{"role": "user", "content": "What is 4200 + 42?"}]}),
    )
    .await;
    let sent = up.last_request();
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-test-key-1234567"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert!(sent.header("authorization").is_none());
    let body = sent.json();
    assert_eq!(body["model"], "claude-sonnet-4-0");
    assert_eq!(body["max_tokens"], 16_384, "max_tokens is required by Anthropic: the model's default is filled in");
    assert_eq!(body["messages"], json!([{"role": "user", "content": [{"type": "text", "text": "What is 4200 + 42?"}]}]));
    let recorded = fixture_json("anthropic/text.json");
    assert_eq!(out["choices"][0]["message"]["content"], recorded["content"][0]["text"]);
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    assert_eq!(out["usage"]["prompt_tokens"], recorded["usage"]["input_tokens"]);
    assert_eq!(out["usage"]["completion_tokens"], recorded["usage"]["output_tokens"]);
}

#[tokio::test]
async fn parallel_tool_calls_and_the_result_round_trip() {
    let tools: Value = serde_json::from_str(TOOLS).unwrap();
    let ask = json!({"role": "user", "content": "Please retrieve the secrets associated with each of these passwords: mellon,radiance"});
    let (out, up) = complete(
        fixture_reply("anthropic/tool-call-parallel.json"),
        json!({"model": "a/c", "max_tokens": 16000, "messages": [{"role": "system", "content": "Use parallel tool calling."}, ask], "tools": tools}),
    )
    .await;
    let sent = up.last_request().json();
    assert_eq!(sent["system"], "Use parallel tool calling.");
    assert_eq!(sent["tools"][0]["input_schema"]["required"], json!(["password"]));
    assert_eq!(sent["tool_choice"], json!({"type": "auto"}));
    let msg = &out["choices"][0]["message"];
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    let calls = msg["tool_calls"].as_array().unwrap();
    let recorded = fixture_json("anthropic/tool-call-parallel.json");
    for (i, call) in calls.iter().enumerate() {
        let block = &recorded["content"][i + 1];
        assert_eq!((&call["id"], &call["function"]["name"]), (&block["id"], &block["name"]));
        assert_eq!(serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(), block["input"]);
    }

    // Second turn: the client sends the assistant message and two tool results back.
    let history = json!({"model": "a/c", "max_tokens": 16000, "tools": tools, "messages": [
        {"role": "system", "content": "Use parallel tool calling."}, ask, msg,
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "Welcome to Moria!"},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "Life before Death"}]});
    let (out, up) = complete(fixture_reply("anthropic/tool-result-followup.json"), history).await;
    let sent = up.last_request().json();
    let recorded = fixture_json("anthropic/tool-result-followup.request.json")["body"]["messages"].clone();
    let roles = |v: &Value| v.as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(roles(&sent["messages"]), roles(&recorded), "user, assistant, user: tool results merged into one user turn");
    let kinds = |m: &Value| m["content"].as_array().unwrap().iter().map(|b| b["type"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(kinds(&sent["messages"][1]), kinds(&recorded[1]));
    assert_eq!(kinds(&sent["messages"][2]), kinds(&recorded[2]));
    assert_eq!(sent["messages"][2]["content"][1]["tool_use_id"], recorded[2]["content"][1]["tool_use_id"]);
    assert_eq!(out["choices"][0]["message"]["content"], fixture_json("anthropic/tool-result-followup.json")["content"][0]["text"]);
}

#[tokio::test]
async fn reasoning_effort_becomes_thinking_and_comes_back_signed() {
    let (out, up) = complete(
        fixture_reply("anthropic/thinking.json"),
        json!({"model": "a/c", "max_completion_tokens": 16000, "reasoning_effort": "medium", "temperature": 0.3,
               "messages": [{"role": "user", "content": "How many primes below 400 contain 79 as a substring?"}]}),
    )
    .await;
    let sent = up.last_request().json();
    assert_eq!(sent["thinking"], json!({"type": "enabled", "budget_tokens": 8192}));
    assert!(sent.get("temperature").is_none(), "thinking requires the default temperature");
    let recorded = fixture_json("anthropic/thinking.json");
    let thinking = recorded["content"].as_array().unwrap().iter().find(|b| b["type"] == "thinking").unwrap();
    let msg = &out["choices"][0]["message"];
    assert_eq!(msg["reasoning_content"], thinking["thinking"]);
    assert_eq!(msg["reasoning_signature"], thinking["signature"]);

    // Sent back in history, the thinking block goes first and signed.
    let up = FakeUpstream::start(vec![fixture_reply("anthropic/text.json")]).await;
    let history = json!({"model": "a/c", "messages": [{"role": "user", "content": "q"}, msg, {"role": "user", "content": "and?"}]});
    provider(&up.base_url()).chat(&request(history), "c").await.unwrap();
    let block = &up.last_request().json()["messages"][1]["content"][0];
    assert_eq!((&block["type"], &block["signature"]), (&json!("thinking"), &thinking["signature"]));
}

#[tokio::test]
async fn cached_tokens_max_tokens_and_structured_output() {
    for (fixture, read, write) in [("anthropic/usage-cache-read.json", true, false), ("anthropic/usage-cache-write.json", false, true)] {
        let (out, _) = complete(fixture_reply(fixture), json!({"model": "a/c", "messages": [{"role": "user", "content": "hi"}]})).await;
        let u = &fixture_json(fixture)["usage"];
        let total_in = u["input_tokens"].as_u64().unwrap()
            + u["cache_read_input_tokens"].as_u64().unwrap()
            + u["cache_creation_input_tokens"].as_u64().unwrap();
        assert_eq!(out["usage"]["prompt_tokens"], total_in, "{fixture}");
        assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], u["cache_read_input_tokens"], "{fixture}");
        assert_eq!(u["cache_read_input_tokens"].as_u64().unwrap() > 0, read);
        assert_eq!(u["cache_creation_input_tokens"].as_u64().unwrap() > 0, write);
    }
    let (out, _) = complete(
        fixture_reply("anthropic/max-tokens.json"),
        json!({"model": "a/c", "max_tokens": 50, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(out["choices"][0]["finish_reason"], "length");

    let schema = fixture_json("anthropic/structured-output-json-schema.request.json")["body"]["output_config"]["format"]["schema"].clone();
    let (out, up) = complete(
        fixture_reply("anthropic/structured-output-json-schema.json"),
        json!({"model": "a/c", "messages": [{"role": "user", "content": "order"}], "response_format": {"type": "json_schema", "json_schema": {"name": "OrderItem", "schema": schema}}}),
    )
    .await;
    assert_eq!(up.last_request().json()["output_config"], json!({"format": {"type": "json_schema", "schema": schema}}));
    let content: Value = serde_json::from_str(out["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(content.get("product_name").is_some(), "{content}");
}

#[tokio::test]
async fn errors_are_classified() {
    let up = FakeUpstream::start(vec![
        fixture_reply("anthropic/error-429-rate-limit.json"),
        fixture_reply("anthropic/error-400-invalid-request.json"),
        Reply::json_status(529, r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
    ])
    .await;
    let p = provider(&up.base_url());
    let body = json!({"model": "a/c", "messages": [{"role": "user", "content": "x"}]});
    let kinds: Vec<(ErrorKind, Option<u16>)> =
        futures_util::future::join_all((0..3).map(|_| async { p.chat(&request(body.clone()), "c").await.err().unwrap() }))
            .await
            .into_iter()
            .map(|e| (e.kind, e.status))
            .collect();
    let mut kinds = kinds;
    kinds.sort_by_key(|k| k.1);
    assert_eq!(kinds, [(ErrorKind::BadRequest, Some(400)), (ErrorKind::RateLimited, Some(429)), (ErrorKind::Overloaded, Some(529))]);
}

fn decode_split(body: &[u8], split: usize) -> Accumulated {
    let mut parser = SseParser::new();
    let mut decoder = AnthropicDecoder::new("anthropic", "m", 0);
    let mut events = Vec::new();
    parser.feed(&body[..split], &mut events);
    parser.feed(&body[split..], &mut events);
    parser.finish(&mut events);
    let mut acc = Accumulated::default();
    for e in events {
        if let Decoded::Chunk(c) = decoder.decode(e).unwrap() {
            acc.add(&c.data);
        }
    }
    decoder.on_eof().unwrap();
    acc
}

/// The recorded stream's own content, read straight from its events.
fn expected_from_events(rel: &str) -> (String, String, Vec<(String, String, String)>) {
    let text = String::from_utf8(fixture_bytes(rel).to_vec()).unwrap();
    let (mut t, mut r, mut calls) = (String::new(), String::new(), Vec::<(String, String, String)>::new());
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let v: Value = serde_json::from_str(line).unwrap();
        match v["type"].as_str().unwrap() {
            "content_block_start" if v["content_block"]["type"] == "tool_use" => calls.push((
                v["content_block"]["id"].as_str().unwrap().into(),
                v["content_block"]["name"].as_str().unwrap().into(),
                String::new(),
            )),
            "content_block_delta" => {
                t += v["delta"]["text"].as_str().unwrap_or("");
                r += v["delta"]["thinking"].as_str().unwrap_or("");
                if let Some(p) = v["delta"]["partial_json"].as_str() {
                    calls.last_mut().unwrap().2 += p;
                }
            }
            _ => {}
        }
    }
    (t, r, calls)
}

#[tokio::test]
async fn recorded_streams_decode_at_every_split_point() {
    for rel in ["anthropic/text-stream.sse", "anthropic/tool-call-parallel-stream.sse", "anthropic/thinking-stream.sse"] {
        let body = fixture_bytes(rel);
        let whole = decode_split(&body, body.len());
        let (text, reasoning, calls) = expected_from_events(rel);
        assert_eq!((&whole.text, &whole.reasoning, &whole.calls), (&text, &reasoning, &calls), "{rel}");
        assert!(whole.finish.is_some() && whole.usage.is_some(), "{rel}");
        if rel.contains("thinking") {
            assert!(!whole.signature.is_empty(), "thinking signature streamed");
        }
        // Every split point for the short recordings; about 2,000 evenly spread for long ones
        // (the SSE parser itself is tested at every byte in the protocol crate).
        for split in (0..body.len()).step_by(1 + body.len() / 2000) {
            assert_eq!(decode_split(&body, split), whole, "{rel} split at {split}");
        }
    }
}

#[tokio::test]
async fn streams_through_the_provider_with_headers_and_a_final_usage_chunk() {
    let up =
        FakeUpstream::start(vec![Reply::sse(fixture_bytes("anthropic/tool-call-parallel-stream.sse")).split(Split::EveryNBytes(17))]).await;
    let tools: Value = serde_json::from_str(TOOLS).unwrap();
    let body = json!({"model": "a/c", "stream": true, "messages": [{"role": "user", "content": "mellon, radiance"}], "tools": tools});
    let ChatResponse::Stream(mut stream) = provider(&up.base_url()).chat(&request(body), "claude-sonnet-4-0").await.unwrap() else {
        panic!()
    };
    assert_eq!(up.last_request().json()["stream"], true);
    let mut acc = Accumulated::default();
    let mut last_usage_only = false;
    while let Some(c) = stream.next().await {
        let c = c.unwrap();
        last_usage_only = c.usage_only;
        acc.add(&c.data);
    }
    assert!(last_usage_only);
    assert_eq!(acc.finish.as_deref(), Some("tool_calls"));
    assert_eq!(acc.calls.len(), 2);
    assert_eq!(acc.calls[0].2, "{\"password\": \"mellon\"}");
}

#[tokio::test]
async fn a_stream_cut_before_message_stop_is_an_error_and_error_events_are_classified() {
    let body = fixture_bytes("anthropic/text-stream.sse");
    let cut = body[..body.len() / 2].to_vec();
    let error = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"c\",\"usage\":{\"input_tokens\":3}}}\n\n";
    let up = FakeUpstream::start(vec![Reply::sse(cut), Reply::sse(format!("{start}{error}"))]).await;
    let p = provider(&up.base_url());
    for expected in [ErrorKind::Interrupted, ErrorKind::Overloaded] {
        let req = request(json!({"model": "a/c", "stream": true, "messages": [{"role": "user", "content": "x"}]}));
        let ChatResponse::Stream(mut s) = p.chat(&req, "c").await.unwrap() else { panic!() };
        let mut last = None;
        while let Some(item) = s.next().await {
            last = Some(item);
        }
        assert_eq!(last.unwrap().err().map(|e| e.kind), Some(expected));
    }
}

async fn chat_error(reply: Reply, stream: bool) -> crate::ProviderError {
    let up = FakeUpstream::start(vec![reply]).await;
    let body = json!({"model": "a/claude", "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
    match provider(&up.base_url()).chat(&request(body), "claude-sonnet-4-0").await {
        Err(e) => e,
        Ok(ChatResponse::Stream(mut s)) => loop {
            match s.next().await {
                Some(Err(e)) => break e,
                Some(Ok(_)) => continue,
                None => panic!("the stream ended without an error"),
            }
        },
        Ok(ChatResponse::Complete { body, usage }) => panic!("an answer instead of an error: {usage:?} {}", String::from_utf8_lossy(&body)),
    }
}

#[tokio::test]
async fn an_upstream_401_in_openai_shape_is_an_auth_failure_not_the_clients_bad_request() {
    // An OpenAI-compatible proxy in front of Anthropic (or a wrong base_url) answers a refused key
    // this way; its `type` must not turn the 401 into a client error passed on with its status.
    let openai_401 = r#"{"error":{"message":"Incorrect API key provided: sk-ant-test-key-1234567","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
    for status in [401, 403] {
        for stream in [false, true] {
            let e = chat_error(Reply::json_status(status, openai_401), stream).await;
            assert_eq!((e.kind, e.status), (ErrorKind::Auth, Some(status)), "stream: {stream}");
            assert!(!e.message.contains("sk-ant-test-key-1234567"), "{}", e.message);
        }
    }
}

#[tokio::test]
async fn a_200_body_that_is_not_a_message_is_an_upstream_error_not_an_empty_answer() {
    let openai = String::from_utf8(fixture_bytes("openai/text.json").to_vec()).unwrap();
    for body in [openai.as_str(), "{}", "[]", r#""hello""#, "<html>hi</html>", r#"{"type":"completion","completion":"hi"}"#] {
        assert_eq!(chat_error(Reply::json(body.to_string()), false).await.kind, ErrorKind::Malformed, "{body}");
    }
    let error = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    assert_eq!(chat_error(Reply::json(error), false).await.kind, ErrorKind::Overloaded, "an error sent with a 200 is that error");
    // Lenient about the rest: a message with only its content is still an answer.
    let (out, _) = complete(
        Reply::json(r#"{"content":[{"type":"text","text":"hi"}]}"#),
        json!({"model": "a/claude", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(out["choices"][0]["message"]["content"], "hi");
}

/// A Messages request as the gateway's Messages endpoint decodes it: translated, with the
/// original riding along.
fn native_request(body: &[u8], beta: Option<&str>) -> ChatRequest {
    let mut request = ChatRequest::parse(&switchyard_protocol::anthropic::to_chat(body).unwrap()).unwrap();
    request.set_native(switchyard_protocol::anthropic::native(body).unwrap());
    request.set_native_beta(beta.map(str::to_string));
    request
}

#[tokio::test]
async fn a_messages_request_reaches_anthropic_byte_for_byte() {
    // Every recorded request, as a client of the Messages API would send it: forwarded with the
    // same bytes, in the same order, when the model name is the same.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkit/fixtures/anthropic");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".request.json") {
            continue;
        }
        let recorded: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let body = serde_json::to_vec(&recorded["body"]).unwrap();
        let model = recorded["body"]["model"].as_str().unwrap();
        let stream = recorded["body"]["stream"] == json!(true);
        let reply = if stream { fixture_reply("anthropic/text-stream.sse") } else { fixture_reply("anthropic/text.json") };
        let up = FakeUpstream::start(vec![reply]).await;
        let answer = provider(&up.base_url()).chat(&native_request(&body, None), model).await.unwrap();
        drop(answer);
        let sent = up.last_request();
        assert_eq!(sent.body_str(), String::from_utf8(body.clone()).unwrap(), "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} recorded requests");
}

#[tokio::test]
async fn a_forwarded_messages_request_gets_the_gateways_model_cap_and_betas_and_never_its_fields() {
    let body = json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}],
        "model": "alias", "tools": [{"type": "web_search_20250305", "name": "web_search"}], "container": "c-1",
        "metadata": {"user_id": "u-1", "team": "x"}, "fallback_models": ["b"], "max_cost_usd": 1, "stream": false});
    let mut request = native_request(body.to_string().as_bytes(), Some("interleaved-thinking-2025-05-14, context-1m"));
    // A cost cap lowered the output (admission does this on the canonical request).
    request.set("max_tokens", serde_json::value::to_raw_value(&json!(77)).unwrap());
    let up = FakeUpstream::start(vec![fixture_reply("anthropic/text.json")]).await;
    let config = AnthropicConfig {
        base_url: Some(up.base_url().trim_end_matches("/v1").to_string()),
        api_key: Some(Secret::new("sk-ant-test-key-1234567")),
        beta: vec!["context-1m".into(), "files-api-2025-04-14".into()],
        ..Default::default()
    };
    Anthropic::new("anthropic", &config).unwrap().chat(&request, "claude-sonnet-4-5").await.unwrap();
    let sent = up.last_request();
    assert_eq!(
        sent.json(),
        json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}],
            "model": "claude-sonnet-4-5", "tools": [{"type": "web_search_20250305", "name": "web_search"}], "container": "c-1",
            "metadata": {"user_id": "u-1"}, "max_tokens": 77})
    );
    assert_eq!(sent.header("anthropic-beta"), Some("context-1m,files-api-2025-04-14,interleaved-thinking-2025-05-14"));
}

#[tokio::test]
async fn redacted_thinking_comes_back_opaque_and_goes_back_to_anthropic() {
    // Anthropic's documented shape of encrypted thinking (no recording of one exists here).
    let answer = json!({"id": "msg_r", "type": "message", "role": "assistant", "model": "claude-sonnet-4-0", "stop_reason": "end_turn",
        "content": [{"type": "thinking", "thinking": "t", "signature": "s"}, {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va"},
            {"type": "text", "text": "ok"}], "usage": {"input_tokens": 3, "output_tokens": 5}});
    let (out, _) = complete(Reply::json(answer.to_string()), json!({"model": "a", "messages": [{"role": "user", "content": "x"}]})).await;
    assert_eq!(out["choices"][0]["message"]["reasoning_redacted"], json!(["EmwKAhgBEgy3va"]));
    // Sent back in history (a translated request), it reaches Anthropic as the block it was.
    let history = json!({"model": "a", "messages": [{"role": "user", "content": "x"},
        {"role": "assistant", "content": "ok", "reasoning_content": "t", "reasoning_signature": "s", "reasoning_redacted": ["EmwKAhgBEgy3va"]},
        {"role": "user", "content": "y"}]});
    let (_, up) = complete(fixture_reply("anthropic/text.json"), history).await;
    let sent = up.last_request().json();
    assert_eq!(sent["messages"][1]["content"][1], json!({"type": "redacted_thinking", "data": "EmwKAhgBEgy3va"}));
    // Streamed: the block arrives whole as one delta.
    let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_r\",\"model\":\"m\",\"usage\":{\"input_tokens\":3}}}\n\n\
        event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"EmwK\"}}\n\n\
        event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
        event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}\n\n\
        event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let mut decoder = AnthropicDecoder::new("anthropic", "m", 0);
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    parser.feed(sse.as_bytes(), &mut events);
    let mut deltas = Vec::new();
    for event in events {
        if let Ok(Decoded::Chunk(chunk)) = decoder.decode(event) {
            let v: Value = serde_json::from_slice(&chunk.data).unwrap();
            if let Some(r) = v["choices"][0]["delta"].get("reasoning_redacted") {
                deltas.push(r.clone());
            }
        }
    }
    assert_eq!(deltas, [json!(["EmwK"])]);
}
