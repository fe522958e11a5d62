//! Phone numbers, in international form (`+CC …`, validated against the country's numbering
//! plan in `phone_plan`) and the common national forms: North American `(415) 555-2671`,
//! `415-555-2671`, `1 415 555 2671`, and trunk-prefixed European/Australian numbers such as
//! `020 7946 0958`, `030/901820` or `06 12 34 56 78`. A bare run of digits is a phone number only
//! after a context word ("call", "phone", …): "any 10 digits" would flag timestamps and order
//! numbers.
//! Seven-digit local numbers (`555-1234`) are not detected.
//!
//! Why not the `phonenumber` crate (a libphonenumber port), measured with 0.3.10 in release: a
//! clean build of it takes ~75 s of CPU (76 crates), loading its metadata takes ~190 ms on first
//! use, and one parse + `is_valid` costs ~15 µs — one phone number per kilobyte would spend the
//! whole 20 µs/KB redaction budget. Length and leading-digit rules per country give the same
//! answer on the formats people paste into prompts, at well under a microsecond.

use std::ops::Range;

use super::bounds::{after_group_of_four, context_before, in_digit_stream, is_word, number_ends};
use super::digits;
use super::phone_plan::{nanp, valid_international};

const CONTEXT: &[&str] = &["phone", "tel", "call", "mobile", "cell", "fax", "sms", "whatsapp", "text me", "contact", "reach me", "dial"];
const CONTEXT_WINDOW: usize = 40;
const MAX_GROUPS: usize = 8;
const MAX_DIGITS: usize = 17;

/// A phone-shaped run: its digits and where each group ends.
struct Run {
    digits: [u8; MAX_DIGITS],
    /// Digits before the end of each group.
    digit_ends: [usize; MAX_GROUPS],
    byte_ends: [usize; MAX_GROUPS],
    /// Whether each group was written in parentheses.
    paren: [bool; MAX_GROUPS],
    /// The separator after each group (0 when none was needed, after a closing parenthesis).
    seps: [u8; MAX_GROUPS],
    groups: usize,
    /// Whether the run went on beyond what was read.
    more: bool,
}

/// The phone number starting at `start` (a digit, `+` or `(`), if there is one.
pub(crate) fn at(bytes: &[u8], start: usize) -> Option<Range<usize>> {
    if start > 0 && (is_word(bytes[start - 1]) || bytes[start - 1] == b'+') {
        return None;
    }
    let plus = bytes[start] == b'+';
    if !plus && !national_may_start(bytes, start) {
        return None;
    }
    let run = read(bytes, start + usize::from(plus))?;
    (1..=run.groups).rev().find_map(|k| {
        let whole = k == run.groups && !run.more;
        if !whole && run.seps[k - 1] != b' ' {
            return None;
        }
        let end = run.byte_ends[k - 1];
        if whole && !number_ends(bytes, end) {
            return None;
        }
        let ok = if plus { international(&run, k) } else { national(bytes, start, &run, k) };
        ok.then_some(start..end)
    })
}

/// A cheap look at the first group before reading a national number: an area code in
/// parentheses, a trunk `1`, a three-digit area code, a trunk-`0` prefix, or a bare run of a
/// phone's length; and not inside a stream of space-separated numbers ("5408 0719 7397 4195"
/// holds no phone number at "0719").
fn national_may_start(bytes: &[u8], start: usize) -> bool {
    if bytes[start] == b'(' {
        let (inside, _) = digits::first_group(bytes, start + 1, b"");
        return (2..=5).contains(&inside) && bytes.get(start + 1 + inside) == Some(&b')');
    }
    if in_digit_stream(bytes, start) || after_group_of_four(bytes, start) {
        return false;
    }
    let (first, _) = digits::first_group(bytes, start, b"");
    match bytes[start] {
        b'0' => (2..=12).contains(&first),
        // A trunk "1" is followed by a separator and the area code: "1-800-…", "1 (312) …".
        b'1' if first == 1 => {
            matches!(bytes.get(start + 1), Some(b' ' | b'-' | b'.'))
                && bytes.get(start + 2).is_some_and(|&b| b.is_ascii_digit() || b == b'(')
        }
        _ => matches!(first, 3 | 10 | 11),
    }
}

fn read(bytes: &[u8], mut i: usize) -> Option<Run> {
    let mut run = Run {
        digits: [0; MAX_DIGITS],
        digit_ends: [0; MAX_GROUPS],
        byte_ends: [0; MAX_GROUPS],
        paren: [false; MAX_GROUPS],
        seps: [0; MAX_GROUPS],
        groups: 0,
        more: false,
    };
    let mut n = 0;
    let mut used_paren = false;
    loop {
        let paren = bytes.get(i) == Some(&b'(');
        if paren {
            if used_paren {
                return None;
            }
            used_paren = true;
            i += 1;
        }
        let from = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            if n == MAX_DIGITS {
                // Too long for a phone from here on: what was read before this group may
                // still be one ("+1 415 555 2671 12345678901234").
                run.more = true;
                return (run.groups > 0).then_some(run);
            }
            run.digits[n] = bytes[i];
            n += 1;
            i += 1;
        }
        if i == from {
            return (run.groups > 0).then_some(run);
        }
        if paren {
            if bytes.get(i) != Some(&b')') {
                return None;
            }
            i += 1;
        }
        let g = run.groups;
        run.digit_ends[g] = n;
        run.byte_ends[g] = i;
        run.paren[g] = paren;
        run.groups += 1;
        let sep = bytes.get(i).copied().filter(|b| matches!(b, b' ' | b'-' | b'.' | b'/'));
        let next = bytes.get(i + usize::from(sep.is_some())).copied();
        let continues = next.is_some_and(|b| b.is_ascii_digit() || b == b'(' && !used_paren);
        // A closing parenthesis may be followed by the next group directly: "(415)555-2671".
        if !continues || (sep.is_none() && !paren) {
            return Some(run);
        }
        if run.groups == MAX_GROUPS {
            run.more = true;
            return Some(run);
        }
        run.seps[g] = sep.unwrap_or(0);
        i += usize::from(sep.is_some());
    }
}

fn international(run: &Run, k: usize) -> bool {
    let total = run.digit_ends[k - 1];
    let mut buf = [0u8; MAX_DIGITS];
    let mut n = 0;
    for g in 0..k {
        let from = if g == 0 { 0 } else { run.digit_ends[g - 1] };
        let group = &run.digits[from..run.digit_ends[g]];
        // "+44 (0)20 …": the parenthesised trunk prefix is not dialled from abroad.
        if run.paren[g] && group == b"0" && g == 1 {
            continue;
        }
        buf[n..n + group.len()].copy_from_slice(group);
        n += group.len();
    }
    total <= 16 && n <= 15 && valid_international(&buf[..n]).is_some()
}

fn national(bytes: &[u8], start: usize, run: &Run, k: usize) -> bool {
    let digits = &run.digits[..run.digit_ends[k - 1]];
    let mut lens = [0usize; MAX_GROUPS];
    for (g, len) in lens.iter_mut().enumerate().take(k) {
        *len = run.digit_ends[g] - if g == 0 { 0 } else { run.digit_ends[g - 1] };
    }
    let lens = &lens[..k];
    let bare = k == 1;
    let context = || context_before(bytes, start, CONTEXT_WINDOW, CONTEXT);
    // The paren may only wrap an area code: the first group, or the second after a trunk "1".
    let area = usize::from(digits[0] == b'1' && lens[0] == 1);
    if (0..k).any(|g| run.paren[g] && g != area) {
        return false;
    }
    // People write one separator through a national number, the area-code parenthesis aside;
    // mixed ones are clause and part numbers ("252.227-7013").
    let uniform_from = (0..k).find(|&g| run.paren[g]).map_or(0, |g| g + 1);
    let seps = &run.seps[uniform_from.min(k - 1)..k - 1];
    if seps.iter().any(|&s| s != seps[0]) {
        return false;
    }
    // `AAA-GG-SSSS` is the shape of an SSN and `0XXXX-XXXX` of a ZIP+4 code ("Boston, MA
    // 02110-1301"), not of any national phone format.
    if lens == [3, 2, 4] || lens == [5, 4] {
        return false;
    }
    // "030/901820" is how German numbers are written; North American ones never use a slash,
    // and refusing it there keeps dates like 12/25/2024 out.
    let slashed = run.seps[..k - 1].contains(&b'/');
    match digits {
        _ if slashed && digits[0] != b'0' => false,
        [b'1', rest @ ..] if rest.len() == 10 => nanp(rest) && (lens == [1, 3, 3, 4] || bare && context()),
        [b'0', second, ..] => {
            *second != b'0' && (9..=12).contains(&digits.len()) && (k >= 2 && lens.iter().all(|&l| l >= 2) || bare && context())
        }
        _ if digits.len() == 10 => nanp(digits) && (lens == [3, 3, 4] || bare && context()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(s: &str) -> Option<&str> {
        let start = s.find(|c: char| c.is_ascii_digit() || c == '+' || c == '(')?;
        at(s.as_bytes(), start).map(|r| &s[r])
    }

    #[test]
    fn international_numbers_are_found_in_their_usual_groupings() {
        assert_eq!(find("call +1 415 555 2671 now"), Some("+1 415 555 2671"));
        assert_eq!(find("+44 (0)20 7946 0958."), Some("+44 (0)20 7946 0958"));
        assert_eq!(find("+33 6 12 34 56 78"), Some("+33 6 12 34 56 78"));
        assert_eq!(find("+14155552671"), Some("+14155552671"));
        assert_eq!(find("+49-30-901820"), Some("+49-30-901820"));
    }

    #[test]
    fn national_north_american_and_trunk_prefixed_numbers_are_found() {
        assert_eq!(find("(415) 555-2671"), Some("(415) 555-2671"));
        assert_eq!(find("415.555.2671"), Some("415.555.2671"));
        assert_eq!(find("1-415-555-2671"), Some("1-415-555-2671"));
        assert_eq!(find("1 (312) 555-0123"), Some("1 (312) 555-0123"));
        assert_eq!(find("020 7946 0958"), Some("020 7946 0958"));
        assert_eq!(find("06 12 34 56 78"), Some("06 12 34 56 78"));
        assert_eq!(find("Tel. 030/901820"), Some("030/901820"));
    }

    #[test]
    fn a_bare_run_of_ten_digits_needs_a_context_word() {
        assert_eq!(find("call me on 4155552671"), Some("4155552671"));
        assert_eq!(find("order 4155552671 shipped"), None);
    }

    #[test]
    fn dates_versions_timestamps_and_invalid_plans_are_not_phones() {
        for s in [
            "2024-01-15",
            "1.2.3.4",
            "1700000000",
            "+1 123 456 7890",
            "+99 123 456 789",
            "123-456-7890",
            "555-1234",
            "10:30:00+05:30",
            "017-32-0000",
            "12/25/2024",
            "01/15/2024",
            "415/555/2671",
            "252.227-7013",
            "Boston, MA 02110-1301",
        ] {
            assert_eq!(find(s), None, "{s}");
        }
    }

    #[test]
    fn a_national_number_does_not_start_in_the_middle_of_a_digit_run() {
        let s = "ref 5408 0719 7397 4195";
        assert_eq!(at(s.as_bytes(), 9), None);
    }

    #[test]
    fn a_number_is_cut_at_a_space_when_the_run_goes_on() {
        assert_eq!(find("+1 415 555 2671 24 hours"), Some("+1 415 555 2671"));
        assert_eq!(find("+1 415 555 2671 12345678901234"), Some("+1 415 555 2671"));
        assert_eq!(find("+1 415 555 267112345678901234"), None);
    }
}
