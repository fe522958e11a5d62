//! IP addresses. IPv4 is four dotted decimal octets of at most 255 without leading zeros, not
//! part of a longer dotted run (`1.2.3.4` is an address — it is a valid one — but `1.2.3.4.5`
//! and `256.1.1.1` are not). IPv6 candidates are runs of hex digits, colons and dots around a
//! colon, handed to the standard library's parser, so `12:30:45` and MAC addresses fail there.
//!
//! Not reported, because they identify nobody: loopback (`127.0.0.0/8`, `::1`) and unspecified
//! (`0.0.0.0`, `::`) addresses, which fill code and configs pasted into prompts; and a dotted
//! quad right after "version", "release" or "build", which is a version number.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use super::bounds::{context_before, is_word, number_ends};

const VERSION_WORDS: &[&str] = &["version", "ver", "release", "build", "firmware", "kernel", "rev"];
/// Room for the version word and a separator: "version 1.2.3.4", "Release: 1.2.3.4".
const VERSION_WINDOW: usize = 12;

/// The IPv4 address starting at the digit `start`, if there is one.
pub(crate) fn v4_at(bytes: &[u8], start: usize) -> Option<Range<usize>> {
    let mut i = start;
    for octet in 0..4 {
        if octet > 0 {
            if bytes.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let from = i;
        let mut value = 0u32;
        while i < bytes.len() && bytes[i].is_ascii_digit() && i - from < 4 {
            value = value * 10 + u32::from(bytes[i] - b'0');
            i += 1;
        }
        let len = i - from;
        if len == 0 || len > 3 || value > 255 || len > 1 && bytes[from] == b'0' {
            return None;
        }
    }
    let addr: Ipv4Addr = std::str::from_utf8(&bytes[start..i]).ok()?.parse().ok()?;
    let identifies = !addr.is_loopback() && !addr.is_unspecified();
    let version = context_before(bytes, start, VERSION_WINDOW, VERSION_WORDS);
    (number_ends(bytes, i) && identifies && !version).then_some(start..i)
}

fn is_v6_char(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// The IPv6 address around the colon at `colon`, if there is one, and the offset to resume
/// scanning from (past the candidate, so its other colons are not tried again).
pub(crate) fn v6_around(bytes: &[u8], colon: usize) -> (Option<Range<usize>>, usize) {
    let mut start = colon;
    while start > 0 && is_v6_char(bytes[start - 1]) {
        start -= 1;
    }
    let mut end = colon + 1;
    while end < bytes.len() && is_v6_char(bytes[end]) {
        end += 1;
    }
    let resume = end;
    // A trailing dot is punctuation, not part of an embedded IPv4 tail.
    while end > colon + 1 && bytes[end - 1] == b'.' {
        end -= 1;
    }
    let candidate = &bytes[start..end];
    let colons = candidate.iter().filter(|&&b| b == b':').count();
    let glued = start > 0 && is_word(bytes[start - 1]) || end < bytes.len() && is_word(bytes[end]);
    // Real addresses carry a decimal digit somewhere; `a::b` and `dead::beef` are code paths.
    // Eight groups need seven colons (six before an IPv4 tail); fewer need a "::". Times like
    // 10:30:00 fail here without a parse.
    let shaped = candidate.windows(2).any(|w| w == b"::") || colons == 7 || colons == 6 && candidate.contains(&b'.');
    if colons < 2 || glued || !shaped || !candidate.iter().any(u8::is_ascii_digit) {
        return (None, resume);
    }
    let parsed = std::str::from_utf8(candidate).ok().and_then(|s| s.parse::<Ipv6Addr>().ok());
    let identifies = parsed.filter(|a| !a.is_loopback() && !a.is_unspecified());
    (identifies.map(|_| start..end), resume)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Option<&str> {
        let start = s.find(|c: char| c.is_ascii_digit())?;
        v4_at(s.as_bytes(), start).map(|r| &s[r])
    }

    fn v6(s: &str) -> Option<&str> {
        let colon = s.find(':')?;
        v6_around(s.as_bytes(), colon).0.map(|r| &s[r])
    }

    #[test]
    fn dotted_quads_with_valid_octets_are_addresses() {
        assert_eq!(v4("host 192.168.1.20:8080 up"), Some("192.168.1.20"));
        assert_eq!(v4("net 10.0.0.0/8"), Some("10.0.0.0"));
        assert_eq!(v4("at 1.2.3.4."), Some("1.2.3.4"));
    }

    #[test]
    fn out_of_range_octets_leading_zeros_and_longer_runs_are_not() {
        for s in ["256.1.1.1", "1.2.3.4.5", "01.2.3.4", "1.2.3", "10.0.0.1a"] {
            assert_eq!(v4(s), None, "{s}");
        }
    }

    #[test]
    fn loopback_unspecified_and_version_numbers_are_not_reported() {
        for s in ["http://127.0.0.1:4000", "bind 0.0.0.0", "version 1.2.3.4", "Release: 10.0.19041.1", "build 4.3.2.1"] {
            assert_eq!(v4(s), None, "{s}");
        }
        assert_eq!(v6("[::1]:4000"), None);
        assert_eq!(v6("bind [::0]:80"), None);
    }

    #[test]
    fn ipv6_addresses_are_found_and_times_paths_and_macs_are_not() {
        assert_eq!(v6("from 2001:db8::8a2e:370:7334, then"), Some("2001:db8::8a2e:370:7334"));
        assert_eq!(v6("link-local fe80::1."), Some("fe80::1"));
        assert_eq!(v6("mapped ::ffff:192.0.2.1"), Some("::ffff:192.0.2.1"));
        for s in ["at 12:30:45", "use std::fmt", "let x = a::b();", "dead::beef", "mac 00:1a:2b:3c:4d:5e", "Vec::new()"] {
            assert_eq!(v6(s), None, "{s}");
        }
    }
}
