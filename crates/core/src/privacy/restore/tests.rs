//! Restore tests: one shot, every chunk boundary, random chunkings, JSON-string mode.

use super::*;
use crate::privacy::{Detector, EntityKind, Redactor};

/// A vault with two e-mails, a phone and a custom value containing JSON-special characters.
fn vault() -> Arc<Vault> {
    let custom = [crate::privacy::CustomEntity {
        name: "quote".into(),
        matcher: crate::privacy::CustomMatcher::Regex {
            pattern: r#"say "[^"]*" \\ now"#.into(),
            validator: crate::privacy::Validator::None,
        },
    }];
    let d = Detector::new(&EntityKind::BUILT_IN, &custom).unwrap();
    let mut r = Redactor::new(&d);
    let redacted = r.redact(r#"jane@example.com +1 415 555 2671 bob@example.com x say "hi" \ now"#).unwrap();
    assert_eq!(redacted, "<EMAIL_1> <PHONE_1> <EMAIL_2> x <QUOTE_1>");
    Arc::new(r.finish().0)
}

const ANSWER: &str = "Hi <EMAIL_1>, we'll call <PHONE_1>; cc <EMAIL_2> <EMAIL_3> <<EMAIL_1>> <EMAIL_ <QUOTE_1>";

fn expected() -> &'static str {
    r#"Hi jane@example.com, we'll call +1 415 555 2671; cc bob@example.com <EMAIL_3> <jane@example.com> <EMAIL_ say "hi" \ now"#
}

fn stream(vault: &Arc<Vault>, chunks: &[&str], mode: RestoreMode) -> String {
    let mut r = Restorer::new(vault.clone(), mode);
    let mut out = String::new();
    for c in chunks {
        out.push_str(&r.push(c));
    }
    out.push_str(&r.finish());
    out
}

#[test]
fn one_shot_restore_replaces_only_issued_placeholders() {
    assert_eq!(restore(&vault(), ANSWER, RestoreMode::Text), expected());
}

#[test]
fn text_without_placeholders_is_borrowed() {
    assert!(matches!(restore(&vault(), "plain <b>", RestoreMode::Text), Cow::Borrowed(_)));
}

#[test]
fn every_split_into_two_chunks_restores_the_same_text() {
    let v = vault();
    for cut in (0..=ANSWER.len()).filter(|&i| ANSWER.is_char_boundary(i)) {
        let (a, b) = ANSWER.split_at(cut);
        assert_eq!(stream(&v, &[a, b], RestoreMode::Text), expected(), "cut at {cut}");
    }
}

#[test]
fn one_character_chunks_restore_the_same_text() {
    let v = vault();
    let chunks: Vec<String> = ANSWER.chars().map(String::from).collect();
    let refs: Vec<&str> = chunks.iter().map(String::as_str).collect();
    assert_eq!(stream(&v, &refs, RestoreMode::Text), expected());
}

#[test]
fn random_chunkings_always_give_the_fully_restored_text() {
    let v = vault();
    let mut rng = fastrand::Rng::with_seed(15);
    let pieces = ["<EMAIL_1>", "<PHONE_1>", "<QUOTE_1>", "<EMAIL_", "<", ">", "<EMAIL_9>", " text ", "é", "<<"];
    for _ in 0..3000 {
        let text: String = (0..rng.usize(0..12)).map(|_| pieces[rng.usize(..pieces.len())]).collect();
        let want = restore(&v, &text, RestoreMode::Text).into_owned();
        let mut chunks = Vec::new();
        let mut rest = text.as_str();
        while !rest.is_empty() {
            let mut cut = rng.usize(1..=4).min(rest.len());
            while !rest.is_char_boundary(cut) {
                cut += 1;
            }
            let (a, b) = rest.split_at(cut);
            chunks.push(a);
            rest = b;
        }
        assert_eq!(stream(&v, &chunks, RestoreMode::Text), want, "{text:?} as {chunks:?}");
    }
}

#[test]
fn only_a_possible_placeholder_start_is_held_back() {
    let mut r = Restorer::new(vault(), RestoreMode::Text);
    assert_eq!(r.push("Hello <EM"), "Hello ");
    assert_eq!(r.held(), 3);
    assert_eq!(r.push("AIL_1> and <b"), "jane@example.com and <b");
    assert_eq!(r.held(), 0);
    assert_eq!(r.push("x <PHONE_"), "x ");
    assert_eq!(r.finish(), "<PHONE_");
}

#[test]
fn json_mode_escapes_originals_so_streamed_arguments_stay_valid_json() {
    let v = vault();
    let args = r#"{"to": "<EMAIL_1>", "note": "<QUOTE_1>"}"#;
    let chunks: Vec<String> = args.as_bytes().chunks(3).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
    let refs: Vec<&str> = chunks.iter().map(String::as_str).collect();
    let out = stream(&v, &refs, RestoreMode::JsonString);
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed["to"], "jane@example.com");
    assert_eq!(parsed["note"], r#"say "hi" \ now"#);
}

#[test]
fn json_mode_restores_placeholders_with_escaped_brackets() {
    let v = vault();
    let args = r#"{"to":"\u003cEMAIL_1\u003e","cc":"\u003CEMAIL_2>","raw":"\\u003cEMAIL_1\u003e"}"#;
    let out = restore(&v, args, RestoreMode::JsonString);
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed["to"], "jane@example.com");
    assert_eq!(parsed["cc"], "bob@example.com");
    // An escaped backslash followed by "u003c" is literal text, not an escaped bracket.
    assert_eq!(parsed["raw"], r"\u003cEMAIL_1>");
    // Text mode leaves escapes alone: they only mean brackets inside JSON.
    assert_eq!(restore(&v, r"\u003cEMAIL_1\u003e", RestoreMode::Text), r"\u003cEMAIL_1\u003e");
}

#[test]
fn random_chunkings_of_json_arguments_give_the_one_shot_result() {
    let v = vault();
    let mut rng = fastrand::Rng::with_seed(16);
    let pieces =
        ["<EMAIL_1>", r"\u003cPHONE_1\u003e", r"\u003CQUOTE_1>", r"\\", r"\n", r"\u003c", "<", r#"\""#, "a", "é", "<EMAIL_", r"\u003e"];
    for _ in 0..3000 {
        let text: String = (0..rng.usize(0..12)).map(|_| pieces[rng.usize(..pieces.len())]).collect();
        let want = restore(&v, &text, RestoreMode::JsonString).into_owned();
        let mut chunks = Vec::new();
        let mut rest = text.as_str();
        while !rest.is_empty() {
            let mut cut = rng.usize(1..=3).min(rest.len());
            while !rest.is_char_boundary(cut) {
                cut += 1;
            }
            let (a, b) = rest.split_at(cut);
            chunks.push(a);
            rest = b;
        }
        assert_eq!(stream(&v, &chunks, RestoreMode::JsonString), want, "{text:?} as {chunks:?}");
    }
}
