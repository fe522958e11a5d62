//! Byte-level helpers that every detector shares: what counts as a word character next to a
//! candidate, and whether context words stand shortly before it.

/// A byte that continues a word: ASCII letters, digits and `_`. Bytes of multi-byte UTF-8
/// characters are not, so "4111…€" still ends a card number; that costs nothing in precision
/// because every detector validates its own characters.
pub(crate) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether a number-shaped candidate may start at `start`: not glued to a word, and not the
/// continuation of a dotted or dashed number (`1.2.3.4.5`, `2024-01-15`, `12/25`).
pub(crate) fn number_starts(bytes: &[u8], start: usize) -> bool {
    let Some(&prev) = start.checked_sub(1).and_then(|i| bytes.get(i)) else {
        return true;
    };
    if is_word(prev) {
        return false;
    }
    let joiner = matches!(prev, b'.' | b'-' | b'/' | b',' | b':');
    let before = start.checked_sub(2).and_then(|i| bytes.get(i));
    !(joiner && before.is_some_and(u8::is_ascii_digit))
}

/// Whether a number-shaped candidate may end at `end`: not glued to a word and not followed by
/// `.`, `-` or `,` and another digit, which would make it a prefix of a longer number.
pub(crate) fn number_ends(bytes: &[u8], end: usize) -> bool {
    match bytes.get(end) {
        None => true,
        Some(&b) if is_word(b) => false,
        Some(b'.' | b'-' | b',') => !bytes.get(end + 1).is_some_and(u8::is_ascii_digit),
        Some(_) => true,
    }
}

/// Whether a token may start at `start` without continuing a word.
pub(crate) fn word_starts(bytes: &[u8], start: usize) -> bool {
    start == 0 || !is_word(bytes[start - 1])
}

/// Whether `start` follows a digit and a space, inside a stream of space-separated numbers
/// ("1 0 0 1", "2024 2025 2026"): nothing there can be told to be a space-grouped card, SSN or
/// phone number (which groups would it be?), so those shapes are not looked for, and tables of
/// numbers cost a glance per number instead of a full read.
pub(crate) fn in_digit_stream(bytes: &[u8], start: usize) -> bool {
    start >= 2 && bytes[start - 1] == b' ' && bytes[start - 2].is_ascii_digit()
}

/// Whether the token before `start` is a space and a group of four upper-case letters or digits,
/// as IBANs are printed ("IE91 VCWT 0181 8880 2380 0"): a grouped number starting there is the
/// tail of something longer (a mistyped IBAN), not a phone or card of its own.
pub(crate) fn after_group_of_four(bytes: &[u8], start: usize) -> bool {
    let Some(group_start) = start.checked_sub(5) else {
        return false;
    };
    let group = &bytes[group_start..start - 1];
    bytes[start - 1] == b' '
        && group.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && (group_start == 0 || !is_word(bytes[group_start - 1]))
}

/// Whether one of `words` (lower case ASCII) starts a word within `window` bytes before `start`.
/// Used where a value is only recognisable with context: a bare nine-digit SSN, an unformatted
/// phone number, an AWS secret key.
pub(crate) fn context_before(bytes: &[u8], start: usize, window: usize, words: &[&str]) -> bool {
    // Only word starts are compared, and only with words of the same first letter: this runs for
    // every bare number-shaped candidate, which in numeric JSON is most numbers.
    (start.saturating_sub(window)..start).any(|i| {
        let first = bytes[i].to_ascii_lowercase();
        first.is_ascii_alphabetic()
            && (i == 0 || !bytes[i - 1].is_ascii_alphabetic())
            && words
                .iter()
                .any(|w| w.as_bytes()[0] == first && start - i >= w.len() && bytes[i..i + w.len()].eq_ignore_ascii_case(w.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_after_a_dot_and_a_digit_is_a_continuation_not_a_start() {
        let s = b"1.2.3.4.5";
        assert!(number_starts(s, 0));
        assert!(!number_starts(s, 2));
        assert!(number_starts(b"end. 42", 5));
    }

    #[test]
    fn a_sentence_full_stop_ends_a_number_but_a_dot_and_digit_does_not() {
        assert!(number_ends(b"42. Next", 2));
        assert!(!number_ends(b"42.5", 2));
        assert!(!number_ends(b"42a", 2));
    }

    #[test]
    fn a_number_after_an_iban_style_group_of_four_is_a_tail() {
        let s = b"IE91 VCWT 0181 8880";
        assert!(after_group_of_four(s, 10));
        assert!(!after_group_of_four(b"Card 4111 1111", 5), "Card is not upper case");
        assert!(!after_group_of_four(b"XIE91 0181", 6), "the group must stand alone");
    }

    #[test]
    fn context_words_only_count_at_the_start_of_a_word() {
        let s = b"my SSN: 123456789";
        assert!(context_before(s, 8, 32, &["ssn"]));
        assert!(!context_before(b"glassn 123456789", 7, 32, &["ssn"]));
    }
}
