//! Fuzzing of the request step and the exact-cache canonicaliser (docs/FUZZING.md): `parse`
//! with the gateway's own fields, and `cache_key`, on generated hostile JSON and on mutations of
//! the recorded requests and `fuzz/corpus/chat-request/`.
#![allow(clippy::unwrap_used, reason = "test code: a panic is the failure report")]

use proptest::prelude::*;
use proptest::sample::Index;
use switchyard_core::cache::key::cache_key;
use switchyard_core::{decode_chat, decode_embeddings, parse, RequestHeaders};
use switchyard_protocol::openai::ChatRequest;
use switchyard_testkit::fuzz;

/// The gateway's own body fields, so that generated requests exercise their validation.
const GATEWAY_FIELDS: &[&str] = &[
    "customer_identifier",
    "metadata",
    "fallback_models",
    "cache_enabled",
    "cache_ttl",
    "cache_options",
    "prompt_id",
    "variables",
    "prompt_version",
    "max_cost_usd",
    "disable_log",
    "user",
];

fn gateway_fields() -> impl Strategy<Value = String> {
    proptest::collection::vec((proptest::sample::select(GATEWAY_FIELDS), fuzz::json_text()), 0..4)
        .prop_map(|fields| fields.into_iter().map(|(k, v)| format!(",\"{k}\":{v}")).collect())
}

/// Parses the body as both endpoints would and, for a chat request, checks its cache key: absent,
/// or lowercase hex SHA-256 that the request written back upstream keeps.
fn parse_and_key(body: Vec<u8>) -> Result<(), TestCaseError> {
    let keys = fuzz::within_deadline(move || {
        let _ = parse(&body, decode_embeddings, RequestHeaders::default());
        let parsed = parse(&body, decode_chat, RequestHeaders { customer: Some("c".into()), ..RequestHeaders::default() }).ok()?;
        let chat = parsed.request.chat()?;
        let key = cache_key(chat, chat.model(), "tenant", parsed.fields.customer_identifier.as_deref());
        let again = ChatRequest::parse(&chat.to_upstream_body(chat.model(), false)).ok()?;
        let key_again = cache_key(&again, again.model(), "tenant", parsed.fields.customer_identifier.as_deref());
        Some((key, key_again))
    });
    if let Some((key, key_again)) = keys {
        if let Some(k) = &key {
            prop_assert!(k.len() == 64 && k.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{k}");
        }
        prop_assert_eq!(key, key_again);
    }
    Ok(())
}

fn message_list() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    proptest::collection::vec((proptest::sample::select(&["user", "system", "assistant", "developer"][..]), any::<String>()), 1..4)
}

fn body_with(messages: &[(&str, String)], extra: &str) -> String {
    let messages: Vec<serde_json::Value> = messages.iter().map(|(role, text)| serde_json::json!({"role": role, "content": text})).collect();
    format!(r#"{{"model":"gpt-4o","messages":{},"extra":{extra}}}"#, serde_json::Value::from(messages))
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn request_parse_generated_json(core in fuzz::json_object_text(), gateway in gateway_fields(), messages in fuzz::json_text()) {
        parse_and_key(format!(r#"{{"model":"m","messages":{messages}{gateway},"x":{core}}}"#).into_bytes())?;
        parse_and_key(format!(r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}]{gateway},"x":{core}}}"#).into_bytes())?;
    }

    #[test]
    fn request_parse_mutated_recordings(seed in any::<Index>(), edits in fuzz::mutations(), json_edits in fuzz::json_edits()) {
        let seed = seed.get::<Vec<u8>>(fuzz::request_seeds());
        parse_and_key(fuzz::mutate(seed, &edits))?;
        if let Some(edited) = fuzz::edit_json(seed, &json_edits) {
            parse_and_key(edited)?;
        }
    }

    /// Issue 11, defect 3: whatever else the request holds (deep nesting, `1e400`, lone
    /// surrogates), two different conversations never share a key.
    #[test]
    fn different_messages_never_share_a_cache_key(a in message_list(), b in message_list(), extra in fuzz::json_text()) {
        prop_assume!(a != b);
        let key = |messages: &[(&str, String)]| {
            let request = ChatRequest::parse(body_with(messages, &extra).as_bytes()).unwrap();
            cache_key(&request, "gpt-4o", "tenant", None)
        };
        let (ka, kb) = (key(&a), key(&b));
        prop_assert!(ka.is_none() || ka != kb, "{a:?} and {b:?} share the key {ka:?}");
    }
}

#[test]
fn the_committed_corpus_replays_cleanly() {
    for body in fuzz::request_seeds() {
        parse_and_key(body.clone()).unwrap();
    }
}
