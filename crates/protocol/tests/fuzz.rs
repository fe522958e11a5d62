//! Fuzzing of what this crate parses from untrusted bytes (docs/FUZZING.md): the SSE decoder,
//! the Chat Completions and embeddings request parsers, upstream error bodies and chunk peeks.
//! Inputs are arbitrary bytes, generated hostile JSON, and mutations of the recorded fixtures
//! and of `fuzz/corpus/{sse,chat-request}/`.
#![allow(clippy::unwrap_used, reason = "test code: a panic is the failure report")]

use proptest::prelude::*;
use proptest::sample::Index;
use switchyard_protocol::openai::{peek_usage, ChatRequest, EmbeddingsRequest, ErrorBody};
use switchyard_protocol::sse::{SseEvent, SseParser};
use switchyard_protocol::RawObject;
use switchyard_testkit::fuzz::{self, Mutation};

fn parse_in_pieces(pieces: &[&[u8]]) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    for piece in pieces {
        parser.feed(piece, &mut out);
    }
    parser.finish(&mut out);
    out
}

/// The decoder's one promise: events do not depend on where the network cut the bytes.
fn same_events_however_split(body: Vec<u8>, cuts: Vec<Index>) -> Result<(), TestCaseError> {
    let (whole, split) = fuzz::within_deadline(move || {
        let whole = parse_in_pieces(&[&body]);
        let split = parse_in_pieces(&fuzz::split_at(&body, &cuts));
        (whole, split)
    });
    prop_assert_eq!(split, whole);
    Ok(())
}

fn mutated(seeds: &[Vec<u8>], seed: &Index, edits: &[Mutation]) -> Vec<u8> {
    fuzz::mutate(seed.get::<Vec<u8>>(seeds), edits)
}

/// A parsed request written back upstream is the same request: nothing the first parse accepted
/// is lost or changed on the way out.
fn request_round_trips(body: Vec<u8>) -> Result<(), TestCaseError> {
    let checked = fuzz::within_deadline(move || {
        let _ = RawObject::parse(&body);
        let _ = EmbeddingsRequest::parse(&body).map(|e| e.input());
        let _ = ErrorBody::from_upstream(&body);
        let _ = peek_usage(&body);
        let request = ChatRequest::parse(&body).ok()?;
        let again = ChatRequest::parse(&request.to_upstream_body(request.model(), true));
        Some((request, again))
    });
    if let Some((request, again)) = checked {
        let again = again.map_err(|e| TestCaseError::fail(format!("the upstream body does not parse again: {e}")))?;
        prop_assert_eq!(again.model(), request.model());
        prop_assert_eq!(again.messages(), request.messages());
        prop_assert_eq!(again.stream(), request.stream());
    }
    Ok(())
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn sse_arbitrary_bytes_decode_the_same_at_any_split(body in proptest::collection::vec(any::<u8>(), 0..512), cuts in fuzz::cuts()) {
        same_events_however_split(body, cuts)?;
    }

    #[test]
    fn sse_mutated_recordings_decode_the_same_at_any_split(seed in any::<Index>(), edits in fuzz::mutations(), cuts in fuzz::cuts()) {
        let body = mutated(fuzz::sse_seeds(), &seed, &edits);
        same_events_however_split(body, cuts)?;
    }

    #[test]
    fn chat_request_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        request_round_trips(body)?;
    }

    #[test]
    fn chat_request_generated_json(fields in fuzz::json_object_text(), messages in fuzz::json_text(), model in fuzz::json_text()) {
        request_round_trips(format!(r#"{{"model":{model},"messages":{messages},"extra":{fields}}}"#).into_bytes())?;
        // A well-formed core as well, so that the parse gets past `model` and `messages`.
        request_round_trips(format!(r#"{{"model":"m","messages":[{{"role":"user","content":{messages}}}],"x":{fields}}}"#).into_bytes())?;
    }

    #[test]
    fn chat_request_mutated_recordings(seed in any::<Index>(), edits in fuzz::mutations(), json_edits in fuzz::json_edits()) {
        let seeds = fuzz::request_seeds();
        request_round_trips(mutated(seeds, &seed, &edits))?;
        if let Some(edited) = fuzz::edit_json(seed.get::<Vec<u8>>(seeds), &json_edits) {
            request_round_trips(edited)?;
        }
    }
}

#[test]
fn the_committed_corpus_replays_cleanly() {
    for body in fuzz::sse_seeds() {
        let whole = parse_in_pieces(&[body]);
        let bytewise: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(parse_in_pieces(&bytewise), whole);
    }
    for body in fuzz::request_seeds() {
        request_round_trips(body.clone()).unwrap();
    }
}
