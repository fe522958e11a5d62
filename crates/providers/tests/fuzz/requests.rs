//! The request side: client requests (mutated recordings, generated JSON) translated by every
//! adapter and answered by the mock; and answers of the wrong wire format, which must be errors.

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;
use switchyard_protocol::openai::ChatRequest;
use switchyard_providers::mock::{embed, Mock, MockConfig};
use switchyard_providers::{ChatResponse, Provider};
use switchyard_testkit::{fuzz, Reply};

use crate::harness::{target, Harness, Seen, TARGETS};
use crate::seeds;

/// Client bytes with every `http` made `hxxp`: adapters download http(s) image URLs, and a fuzz
/// test must never reach the internet. Other URL schemes and data URLs still go through.
fn offline(mut body: Vec<u8>) -> Vec<u8> {
    for i in 0..body.len().saturating_sub(3) {
        if body[i..i + 4].eq_ignore_ascii_case(b"http") {
            body[i + 1] = b'x';
            body[i + 2] = b'x';
        }
    }
    body
}

fn harnesses() -> &'static [Harness] {
    static ALL: OnceLock<Vec<Harness>> = OnceLock::new();
    ALL.get_or_init(|| TARGETS.iter().map(Harness::new).collect())
}

fn mock() -> &'static (tokio::runtime::Runtime, Mock) {
    static MOCK: OnceLock<(tokio::runtime::Runtime, Mock)> = OnceLock::new();
    MOCK.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        (runtime, Mock::new(MockConfig::default()).expect("the default mock"))
    })
}

/// Every adapter translates the request (or refuses it) without panicking or hanging, and the
/// mock answers it.
fn every_adapter_takes(body: Vec<u8>) -> Result<(), TestCaseError> {
    let Ok(request) = ChatRequest::parse(&offline(body)) else { return Ok(()) };
    for h in harnesses() {
        let answer = seeds::complete(h.target)[0].clone();
        let _ = h.run(&request, Reply::json(answer));
    }
    let request_for_mock = request.clone();
    fuzz::within_deadline(move || {
        let (runtime, mock) = mock();
        runtime.block_on(async {
            if let Ok(ChatResponse::Stream(mut s)) = mock.chat(&request_for_mock, "echo").await {
                while let Some(chunk) = futures_util::StreamExt::next(&mut s).await {
                    if chunk.is_err() {
                        break;
                    }
                }
            }
        })
    });
    Ok(())
}

proptest! {
    #![proptest_config(fuzz::config_scaled(8))]

    #[test]
    fn requests_mutated_recordings(seed in any::<Index>(), edits in fuzz::mutations(), json_edits in fuzz::json_edits()) {
        let seed = seed.get::<Vec<u8>>(fuzz::request_seeds());
        every_adapter_takes(fuzz::mutate(seed, &edits))?;
        if let Some(edited) = fuzz::edit_json(seed, &json_edits) {
            every_adapter_takes(edited)?;
        }
    }

    #[test]
    fn requests_generated(content in fuzz::json_text(), extra in fuzz::json_object_text(), role in proptest::sample::select(&["user", "system", "assistant", "tool", "developer", "x"][..])) {
        every_adapter_takes(format!(r#"{{"model":"m","messages":[{{"role":"{role}","content":{content}}}],"x":{extra}}}"#).into_bytes())?;
        every_adapter_takes(format!(r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"tools":{content},"tool_choice":{extra}}}"#).into_bytes())?;
    }

    #[test]
    fn mock_embeddings_generated(body in fuzz::json_text()) {
        let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        fuzz::within_deadline(move || { let _ = embed::answer(&value, "embed"); });
    }
}

/// Wire families: an answer in one family's format sent to an adapter of another.
fn family(dir: &str) -> &str {
    match dir {
        "azure" => "openai",
        "vertex" => "gemini",
        other => other,
    }
}

/// Issue 11, defect 5 (second half): a 200 whose body is another provider's answer is an upstream
/// error, never an empty or made-up completion.
fn wrong_shaped_answers_are_errors(name: &str) {
    let h = Harness::new(target(name));
    let own = family(h.target.fixtures[0]);
    let mut accepted = Vec::new();
    for dir in ["openai", "azure", "anthropic", "gemini", "vertex", "bedrock"].into_iter().filter(|d| family(d) != own) {
        for (file, body) in fuzz::fixtures(Some(dir), ".json").into_iter().filter(|(f, _)| !f.contains("error")) {
            if let Seen::Complete(v) = h.run(&crate::harness::request(false), Reply::json(body)) {
                accepted.push(format!("{file} → {}", v["choices"][0]["message"]));
            }
        }
    }
    assert!(accepted.is_empty(), "{name} accepted answers of another wire format:\n{}", accepted.join("\n"));
}

#[test]
fn gemini_refuses_answers_of_another_wire_format() {
    wrong_shaped_answers_are_errors("gemini");
}

#[test]
fn vertex_gemini_refuses_answers_of_another_wire_format() {
    wrong_shaped_answers_are_errors("vertex-gemini");
}

#[test]
fn bedrock_refuses_answers_of_another_wire_format() {
    wrong_shaped_answers_are_errors("bedrock");
}

#[test]
fn anthropic_refuses_answers_of_another_wire_format() {
    wrong_shaped_answers_are_errors("anthropic");
}

#[test]
fn vertex_claude_refuses_answers_of_another_wire_format() {
    wrong_shaped_answers_are_errors("vertex-claude");
}

#[test]
fn openai_refuses_answers_of_another_wire_format() {
    wrong_shaped_answers_are_errors("openai");
}
