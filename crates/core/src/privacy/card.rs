//! Payment card numbers: 13–19 digits, bare or grouped with spaces or dashes, whose prefix is a
//! known issuer range for that length and whose Luhn check digit holds. A 16-digit order number
//! that fails Luhn is not a card; one that passes and starts like a card is, and that is the
//! residual false-positive rate (about one in ten of card-prefixed random numbers).

use std::ops::Range;

use super::bounds::{after_group_of_four, in_digit_stream, number_ends};
use super::checksum::luhn;
use super::digits;

/// The card number starting at the digit `start`, if there is one.
pub(crate) fn at(bytes: &[u8], start: usize) -> Option<Range<usize>> {
    let seps: &[u8] = if in_digit_stream(bytes, start) { b"-" } else { b" -" };
    let (first, grouped) = digits::first_group(bytes, start, seps);
    if first > 19 || first < 13 && !(grouped && first >= 2) {
        return None;
    }
    let g = digits::read(bytes, start, seps);
    (1..=g.count).rev().find_map(|k| {
        let n = g.digits(k);
        let grouped_ok = k == 1 || g.lens[..k].iter().all(|&l| (2..=8).contains(&l));
        let end = g.ends[k - 1];
        if !(13..=19).contains(&n) || !grouped_ok || !g.uniform(k) || !g.cut_ok(k) {
            return None;
        }
        if k == g.count && !number_ends(bytes, end) {
            return None;
        }
        // Space-grouped after an IBAN-style group: the tail of a longer grouped number.
        if k > 1 && g.seps[0] == b' ' && after_group_of_four(bytes, start) {
            return None;
        }
        let mut buf = [0u8; 19];
        let number = digits::collect(&bytes[start..end], &mut buf)?;
        (issuer_accepts(number) && luhn_digits(number)).then_some(start..end)
    })
}

fn luhn_digits(number: &[u8]) -> bool {
    std::str::from_utf8(number).is_ok_and(luhn)
}

/// Whether some card network issues numbers with this prefix and length.
fn issuer_accepts(number: &[u8]) -> bool {
    let prefix = |n: usize| -> u32 { number[..n].iter().fold(0, |acc, &d| acc * 10 + u32::from(d - b'0')) };
    let len = number.len();
    let p2 = prefix(2);
    let p3 = prefix(3);
    let p4 = prefix(4);
    match number[0] {
        // Visa
        b'4' => matches!(len, 13 | 16 | 19),
        // Mastercard, Mir, Mastercard 2-series
        b'2' => (2221..=2720).contains(&p4) && len == 16 || (2200..=2204).contains(&p4) && len >= 16,
        // Amex, Diners, JCB
        b'3' => {
            (p2 == 34 || p2 == 37) && len == 15
                || ((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39) && len >= 14
                || (3528..=3589).contains(&p4) && len >= 16
        }
        // Mastercard and Maestro
        b'5' => (51..=55).contains(&p2) && len == 16 || matches!(p2, 50 | 56..=58) && len >= 13,
        // Discover, UnionPay, RuPay, Maestro
        b'6' => {
            (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || p2 == 62 || p2 == 60) && len >= 16
                || p4 == 6304
                || p2 == 67 && len >= 13
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(s: &str) -> Option<&str> {
        let start = s.find(|c: char| c.is_ascii_digit())?;
        at(s.as_bytes(), start).map(|r| &s[r])
    }

    #[test]
    fn grouped_and_bare_test_cards_of_the_main_networks_are_found() {
        assert_eq!(find("card 4111 1111 1111 1111 ok"), Some("4111 1111 1111 1111"));
        assert_eq!(find("5500-0000-0000-0004."), Some("5500-0000-0000-0004"));
        assert_eq!(find("amex 3782 822463 10005"), Some("3782 822463 10005"));
        assert_eq!(find("6011111111111117"), Some("6011111111111117"));
    }

    #[test]
    fn a_number_failing_luhn_or_without_an_issuer_prefix_is_not_a_card() {
        assert_eq!(find("order 4111 1111 1111 1112"), None);
        assert_eq!(find("tracking 9400111899223334445566"), None);
        assert_eq!(find("id 1234567812345670"), None);
        assert_eq!(find("mistyped IBAN ES13 2567 3775 4289 6702 2071"), None);
        let table = "years 2023 4111 1111 1111 1111";
        assert_eq!(at(table.as_bytes(), 11), None, "space-grouped inside a stream of numbers");
    }

    #[test]
    fn mixed_separators_or_a_longer_dashed_run_are_not_a_card() {
        assert_eq!(find("4111-1111 1111-1111"), None);
        assert_eq!(find("4111-1111-1111-1111-2222"), None);
    }
}
