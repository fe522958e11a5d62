//! Detector tests: every type together, overlap resolution, config names, random input.

use super::*;
use crate::privacy::{CustomMatcher, Validator};

fn all() -> Detector {
    Detector::new(&EntityKind::BUILT_IN, &[]).unwrap()
}

fn found(d: &Detector, text: &str) -> Vec<(String, String)> {
    d.detect(text).into_iter().map(|f| (f.kind.name().to_string(), text[f.range].to_string())).collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn every_built_in_type_is_found_in_one_text_in_order() {
    let text = "Mail jane@example.com or call +1 415 555 2671; card 4111 1111 1111 1111, \
                IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789, host 10.0.0.7 \
                and fe80::1, key AKIAIOSFODNN7EXAMPLE.";
    assert_eq!(
        found(&all(), text),
        pairs(&[
            ("email", "jane@example.com"),
            ("phone", "+1 415 555 2671"),
            ("credit_card", "4111 1111 1111 1111"),
            ("iban", "DE89 3704 0044 0532 0130 00"),
            ("us_ssn", "123-45-6789"),
            ("ip_address", "10.0.0.7"),
            ("ip_address", "fe80::1"),
            ("secret", "AKIAIOSFODNN7EXAMPLE"),
        ])
    );
}

#[test]
fn only_the_types_asked_for_are_reported() {
    let d = Detector::new(&[EntityKind::Email], &[]).unwrap();
    assert_eq!(found(&d, "a@b.io 4111111111111111 10.0.0.1"), pairs(&[("email", "a@b.io")]));
}

#[test]
fn clean_prose_with_numbers_has_no_findings() {
    let text = "Release 1.2.3 shipped on 2024-01-15 at 10:30:00 with 4,096 tokens, order #123456 \
                and build a94a8fe5ccb19ba61c4c0873d391e987982fbbd3 (uuid 123e4567-e89b-12d3-a456-426614174000).";
    assert_eq!(found(&all(), text), vec![]);
}

#[test]
fn the_longest_overlapping_candidate_wins() {
    // "+1 415 555 2671" contains the national "1 415 555 2671"; one finding, the longer.
    assert_eq!(found(&all(), "+1 415 555 2671"), pairs(&[("phone", "+1 415 555 2671")]));
}

#[test]
fn equally_long_candidates_go_to_the_more_specific_type() {
    let custom = [CustomEntity {
        name: "account".into(),
        matcher: CustomMatcher::Regex { pattern: r"\d{4} \d{4} \d{4} \d{4}".into(), validator: Validator::None },
    }];
    let d = Detector::new(&[EntityKind::CreditCard], &custom).unwrap();
    assert_eq!(
        found(&d, "4111 1111 1111 1111 and 1234 5678 9012 3456"),
        pairs(&[("credit_card", "4111 1111 1111 1111"), ("account", "1234 5678 9012 3456")])
    );
}

#[test]
fn config_names_build_a_detector_and_unknown_names_are_errors() {
    let custom = [CustomEntity { name: "patient".into(), matcher: CustomMatcher::Dictionary { terms: vec!["Ada Lovelace".into()] } }];
    let d = Detector::from_names(&["email", "patient"], &custom).unwrap();
    assert_eq!(found(&d, "ada lovelace <ada@example.org>"), pairs(&[("patient", "ada lovelace"), ("email", "ada@example.org")]));
    assert_eq!(Detector::from_names(&["passport"], &[]).err(), Some(PrivacyError::UnknownType("passport".into())));
}

#[test]
fn custom_names_that_are_not_labels_or_shadow_built_ins_are_rejected() {
    let bad = |name: &str| CustomEntity { name: name.into(), matcher: CustomMatcher::Dictionary { terms: vec!["x".into()] } };
    assert!(Detector::new(&[], &[bad("Email")]).is_err());
    assert!(Detector::new(&[], &[bad("email")]).is_err());
    assert!(Detector::new(&[], &[bad("a b")]).is_err());
    assert!(Detector::new(&[], &[bad("dup"), bad("dup")]).is_err());
}

#[test]
fn findings_never_overlap_and_are_sorted_on_random_digit_soup() {
    let d = all();
    let mut rng = fastrand::Rng::with_seed(7);
    let alphabet = b"0123456789 -.+()@:abcDEF";
    for _ in 0..2000 {
        let len = rng.usize(0..60);
        let text: String = (0..len).map(|_| alphabet[rng.usize(..alphabet.len())] as char).collect();
        let f = d.detect(&text);
        for w in f.windows(2) {
            assert!(w[0].range.end <= w[1].range.start, "{text:?}: {f:?}");
        }
    }
}

#[test]
fn non_ascii_text_around_findings_is_handled_on_char_boundaries() {
    let text = "Größe: 4111 1111 1111 1111€ — écrivez à zoë@example.fr ✓";
    assert_eq!(found(&all(), text)[0], ("credit_card".to_string(), "4111 1111 1111 1111".to_string()));
    assert_eq!(found(&all(), text).len(), 1, "a non-ASCII local part is not detected");
}

#[test]
fn random_unicode_text_never_panics_and_findings_sit_on_char_boundaries() {
    let d = all();
    let mut rng = fastrand::Rng::with_seed(11);
    let pieces = [
        "é",
        "€",
        "日本",
        "4111",
        " ",
        "-",
        "@",
        "x.io",
        ":",
        "::",
        "1",
        "+",
        "(",
        ")",
        "DE89",
        "sk-",
        "AKIA",
        "eyJ",
        "<EMAIL_1>",
        "\n",
        "-----BEGIN ",
        "PRIVATE KEY-----",
        "aws ",
        ".",
    ];
    for _ in 0..3000 {
        let text: String = (0..rng.usize(0..30)).map(|_| pieces[rng.usize(..pieces.len())]).collect();
        for f in d.detect(&text) {
            assert!(text.is_char_boundary(f.range.start) && text.is_char_boundary(f.range.end));
        }
    }
}

#[test]
fn a_detector_can_be_shared_between_request_tasks() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<Detector>();
    shared::<crate::privacy::Vault>();
}

#[test]
fn an_ipv4_address_glued_to_a_label_by_a_colon_is_found() {
    assert_eq!(found(&all(), "IP:192.168.0.7 host:10.0.0.1"), pairs(&[("ip_address", "192.168.0.7"), ("ip_address", "10.0.0.1")]));
}

#[test]
fn numbers_after_a_json_colon_are_scanned() {
    let json = r#"{"card":4111111111111111,"phone":"+14155552671","ip":"10.1.2.3","n":1}"#;
    assert_eq!(found(&all(), json), pairs(&[("credit_card", "4111111111111111"), ("phone", "+14155552671"), ("ip_address", "10.1.2.3")]));
}

#[test]
fn a_secret_beats_a_longer_candidate_it_is_part_of() {
    let text = "git clone https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/org/repo.git";
    assert_eq!(found(&all(), text), pairs(&[("secret", "ghp_16C7e42F292c6912E7710c838347Ae178B4a")]));
}
