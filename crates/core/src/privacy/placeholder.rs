//! The placeholder syntax `<LABEL_N>` and the scan for placeholder-shaped literals already in the
//! input. Such a literal (a user pasting `<EMAIL_1>`, or a prompt injection planting one) is
//! itself redacted to an issued placeholder whose original is the literal text, so every
//! `<LABEL_N>` the model sees was issued by this request's vault and restores to exactly what
//! the client wrote: a user's literal `<EMAIL_1>` can never come back as someone's address.

use std::ops::Range;

/// `<LABEL_N>`.
pub(crate) fn format(label: &str, n: u32) -> String {
    format!("<{label}_{n}>")
}

/// Every `<LABEL_N>` in `text` whose label is one of `labels`.
/// `found` receives each literal's range and the index of its label in `labels`.
pub(crate) fn literals(text: &str, labels: &[String], mut found: impl FnMut(Range<usize>, usize)) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(p) = bytes[i..].iter().position(|&b| b == b'<') {
        let start = i + p;
        i = start + 1;
        let body = bytes[i..].iter().take_while(|&&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_').count();
        let end = i + body;
        if bytes.get(end) != Some(&b'>') {
            continue;
        }
        let inner = &text[i..end];
        let Some((label, n)) = inner.rsplit_once('_') else {
            continue;
        };
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Some(known) = labels.iter().position(|l| l == label) {
            found(start..end + 1, known);
            i = end + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_placeholders_with_a_known_label_are_literals() {
        let labels = vec!["EMAIL".to_string(), "CREDIT_CARD".to_string()];
        let text = "a <EMAIL_1> b <CREDIT_CARD_12> c <EMAIL_> <FOO_1> <EMAIL_1 <<EMAIL_2>";
        let mut out = Vec::new();
        literals(text, &labels, |r, l| out.push((&text[r], l)));
        assert_eq!(out, vec![("<EMAIL_1>", 0), ("<CREDIT_CARD_12>", 1), ("<EMAIL_2>", 0)]);
    }
}
