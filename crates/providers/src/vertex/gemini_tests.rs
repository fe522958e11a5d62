//! Gemini answers as only Vertex AI sends them: function-call arguments streamed as
//! `partialArgs`, Model Armor blocks, and the older streams that put a `finishReason` on every
//! event. Replayed through the Vertex adapter; the decoding is Gemini's (shared with AI Studio).

use serde_json::{json, Value};
use switchyard_testkit::{fixture_bytes, fixture_json, fixture_str, FakeUpstream, Reply};

use super::tests::{accumulate, chat_request, complete, decode_pieces, usage_numbers, user, vertex};
use super::Publisher;
use crate::{ChatResponse, ErrorKind, Provider};

/// Event payloads framed as Gemini frames them: `data: …` events ended by `\r\n\r\n`, no `[DONE]`.
fn gemini_sse(payloads: &str) -> bytes::Bytes {
    payloads.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("data: {l}\r\n\r\n")).collect::<String>().into()
}

/// The text of every event of a recorded Gemini SSE body, in order.
fn recorded_text(body: &[u8]) -> String {
    let body = std::str::from_utf8(body).unwrap();
    body.split("\r\n\r\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .flat_map(|data| {
            let event: Value = serde_json::from_str(data).unwrap();
            let parts = event["candidates"][0]["content"]["parts"].as_array().cloned().unwrap_or_default();
            parts.into_iter().filter_map(|p| p["text"].as_str().map(str::to_string))
        })
        .collect()
}

fn screen_tools() -> Value {
    json!([{"type": "function", "function": {"name": "read_theme", "description": "Reads the theme."}},
        {"type": "function", "function": {"name": "read_screen", "description": "Reads one screen.",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}}}])
}

#[tokio::test]
async fn streamed_function_call_arguments_become_one_tool_call_per_call() {
    let body = gemini_sse(&fixture_str("vertex/tool-call-parallel-stream-partial-args.chunks.jsonl"));
    let fake = FakeUpstream::start(vec![Reply::sse(body.clone())]).await;
    let request = json!({"model": "gemini-3-flash-preview", "stream": true, "tools": screen_tools(),
        "messages": [user("Read the theme, then screen A, then screens B and C in parallel.")]});
    let out = accumulate(vertex(&fake, "global").chat(&chat_request(request), "gemini-3-flash-preview").await.unwrap()).await.unwrap();
    assert!(out.index_errors.is_empty(), "{:?}", out.index_errors);
    let call = |id: &str, name: &str, arguments: &str| (id.to_string(), name.to_string(), arguments.to_string());
    assert_eq!(
        out.calls,
        [
            call("call_0", "read_theme", "{}"),
            call("call_1", "read_screen", r#"{"id":"A"}"#),
            call("call_2", "read_screen", r#"{"id":"B"}"#),
            call("call_3", "read_screen", r#"{"id":"C"}"#),
        ]
    );
    let names: Vec<&str> = out
        .chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/delta/tool_calls").and_then(Value::as_array))
        .flatten()
        .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
        .collect();
    assert_eq!(names, ["read_theme", "read_screen", "read_screen", "read_screen"], "each name once");
    assert!(out.reasoning.starts_with("**Processing User Requests**"), "{}", out.reasoning);
    assert!(out.signature.starts_with("AY89a18a8/Loc2wl5oft"), "{}", out.signature);
    assert_eq!(out.finish.as_deref(), Some("tool_calls"));
    assert_eq!(usage_numbers(out.usage.as_ref().unwrap()), [249, 58 + 183, 183]);

    let provider = vertex(&fake, "global");
    let whole = decode_pieces(&provider, Publisher::Google, vec![body.clone()]).await;
    assert_eq!(whole.calls, out.calls);
    for at in 1..body.len() {
        let split = decode_pieces(&provider, Publisher::Google, vec![body.slice(..at), body.slice(at..)]).await;
        assert_eq!(split, whole, "split at byte {at}");
    }
}

#[tokio::test]
async fn a_finish_reason_on_every_event_does_not_cut_the_answer() {
    let body = fixture_bytes("vertex/finish-reason-every-event-stream.sse");
    let request = json!({"model": "gemini-1.0-pro", "stream": true, "messages": [user("Tell me about cats.")]});
    let fake = FakeUpstream::start(vec![Reply::sse(body.clone())]).await;
    let out = accumulate(vertex(&fake, "us-central1").chat(&chat_request(request.clone()), "gemini-1.0-pro").await.unwrap()).await.unwrap();
    assert_eq!(out.text, recorded_text(&body), "all six events");
    assert!(out.text.starts_with("**Cats:**") && out.text.len() > 2000, "{}", out.text);
    let finishes: Vec<&Value> = out.chunks.iter().filter_map(|c| c.pointer("/choices/0/finish_reason")).filter(|f| !f.is_null()).collect();
    assert_eq!(finishes, [&json!("stop")], "one finish reason");
    assert_eq!(out.chunks.last().unwrap()["choices"][0]["finish_reason"], "stop", "after all the text");

    // The last reason seen is the one reported.
    let text = String::from_utf8(body.to_vec()).unwrap();
    let last = text.rfind("\"finishReason\": \"STOP\"").unwrap();
    let truncated = format!("{}\"finishReason\": \"MAX_TOKENS\"{}", &text[..last], &text[last + "\"finishReason\": \"STOP\"".len()..]);
    let fake = FakeUpstream::start(vec![Reply::sse(truncated)]).await;
    let out = accumulate(vertex(&fake, "us-central1").chat(&chat_request(request), "gemini-1.0-pro").await.unwrap()).await.unwrap();
    assert_eq!((out.text.len(), out.finish.as_deref()), (recorded_text(&body).len(), Some("length")));
}

/// Every finish reason Google documents for blocked output (Gemini API and Vertex AI).
const BLOCKED: [&str; 9] = [
    "MODEL_ARMOR",
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
];

#[tokio::test]
async fn blocked_output_finishes_with_content_filter() {
    let request = json!({"model": "gemini-2.0-flash", "messages": [user("What is the capital of France?")]});
    let fake = FakeUpstream::start(vec![Reply::json(fixture_bytes("vertex/finish-reason-safety.json"))]).await;
    let (body, _) = complete(&vertex(&fake, "global"), request.clone()).await.unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "content_filter", "recorded SAFETY block");

    // Constructed (no recording of a blocked response exists for these reasons): a recorded
    // answer whose candidate was blocked, as Vertex sends it (no parts, the reason).
    for reason in BLOCKED {
        let mut answer = fixture_json("vertex/text.json");
        answer["candidates"][0]["content"] = json!({"role": "model"});
        answer["candidates"][0]["finishReason"] = reason.into();
        let fake = FakeUpstream::start(vec![Reply::json(answer.to_string())]).await;
        let (body, _) = complete(&vertex(&fake, "global"), request.clone()).await.unwrap();
        assert_eq!(body["choices"][0]["finish_reason"], "content_filter", "{reason}");
    }
}

#[tokio::test]
async fn blocked_streams_finish_with_content_filter() {
    let stream = fixture_str("vertex/text-stream.sse");
    assert!(stream.contains("\"finishReason\": \"STOP\""));
    let request = json!({"model": "gemini-3-flash-preview", "stream": true, "messages": [user("Reply with exactly: OK")]});
    for reason in BLOCKED {
        let body = stream.replace("\"finishReason\": \"STOP\"", &format!("\"finishReason\": \"{reason}\""));
        let fake = FakeUpstream::start(vec![Reply::sse(body)]).await;
        let response = vertex(&fake, "global").chat(&chat_request(request.clone()), "gemini-3-flash-preview").await.unwrap();
        let out = accumulate(response).await.unwrap();
        assert_eq!(out.finish.as_deref(), Some("content_filter"), "{reason}");
    }
}

#[tokio::test]
async fn a_prompt_blocked_by_model_armor_is_a_content_filter_error() {
    let recorded = fixture_json("vertex/prompt-blocked-model-armor.request.json")["body"].clone();
    let prompt = recorded["contents"][0]["parts"][0]["text"].as_str().unwrap();
    let request = json!({"model": "gemini-2.5-flash", "messages": [user(prompt)]});
    let fake = FakeUpstream::start(vec![Reply::json(fixture_bytes("vertex/prompt-blocked-model-armor.json"))]).await;
    let err = complete(&vertex(&fake, "europe-west4"), request.clone()).await.unwrap_err();
    assert_eq!(fake.last_request().json()["contents"], recorded["contents"]);
    assert_eq!(err.kind, ErrorKind::ContentFilter);
    assert!(err.message.contains("MODEL_ARMOR") && err.message.contains("Prompt Injection and Jailbreak"), "{}", err.message);

    let mut streamed = request;
    streamed["stream"] = true.into();
    let fake = FakeUpstream::start(vec![Reply::sse(gemini_sse(&fixture_str("vertex/prompt-blocked-model-armor.json")))]).await;
    let response = vertex(&fake, "europe-west4").chat(&chat_request(streamed), "gemini-2.5-flash").await.unwrap();
    let ChatResponse::Stream(_) = &response else { panic!("a stream") };
    assert_eq!(accumulate(response).await.unwrap_err().kind, ErrorKind::ContentFilter);
}
