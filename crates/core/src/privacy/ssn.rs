//! US Social Security numbers: `AAA-GG-SSSS` or `AAA GG SSSS` in the ranges the SSA issues (area
//! not 000, 666 or 900–999; group not 00; serial not 0000). A bare nine-digit number is an SSN
//! only when a context word ("SSN", "social security", …) stands shortly before it: without one,
//! nine digits are far more often an order, account or zip+4 number than an SSN.

use std::ops::Range;

use super::bounds::{context_before, in_digit_stream, number_ends};
use super::digits;

const CONTEXT: &[&str] = &["ssn", "social security", "soc sec", "ss#", "ss #", "ss no", "ssn#"];
const CONTEXT_WINDOW: usize = 40;

/// The SSN starting at the digit `start`, if there is one.
pub(crate) fn at(bytes: &[u8], start: usize) -> Option<Range<usize>> {
    let seps: &[u8] = if in_digit_stream(bytes, start) { b"-" } else { b" -" };
    let (first, grouped) = digits::first_group(bytes, start, seps);
    if !(first == 3 && grouped || first == 9) {
        return None;
    }
    let g = digits::read(bytes, start, seps);
    let shaped = if g.count >= 3 && g.lens[..3] == [3, 2, 4] && g.uniform(3) && g.cut_ok(3) {
        Some(3)
    } else if g.lens[0] == 9 && g.cut_ok(1) && context_before(bytes, start, CONTEXT_WINDOW, CONTEXT) {
        Some(1)
    } else {
        None
    }?;
    let end = g.ends[shaped - 1];
    if shaped == g.count && !number_ends(bytes, end) {
        return None;
    }
    let mut buf = [0u8; 9];
    let d = digits::collect(&bytes[start..end], &mut buf)?;
    let area = &d[..3];
    let valid = area != b"000" && area != b"666" && area[0] != b'9' && &d[3..5] != b"00" && &d[5..] != b"0000";
    valid.then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(s: &str) -> Option<&str> {
        let start = s.find(|c: char| c.is_ascii_digit())?;
        at(s.as_bytes(), start).map(|r| &s[r])
    }

    #[test]
    fn dashed_and_spaced_ssns_in_valid_ranges_are_found() {
        assert_eq!(find("SSN 123-45-6789."), Some("123-45-6789"));
        assert_eq!(find("it is 123 45 6789"), Some("123 45 6789"));
    }

    #[test]
    fn numbers_outside_the_issued_ranges_are_not_ssns() {
        for s in ["000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567", "123-45-0000"] {
            assert_eq!(find(s), None, "{s}");
        }
    }

    #[test]
    fn nine_bare_digits_are_an_ssn_only_after_a_context_word() {
        assert_eq!(find("my social security number is 123456789"), Some("123456789"));
        assert_eq!(find("order 123456789 shipped"), None);
    }

    #[test]
    fn mixed_separators_and_longer_runs_are_not_ssns() {
        assert_eq!(find("123-45 6789"), None);
        assert_eq!(find("123-45-6789-1"), None);
    }
}
