//! E-mail addresses, found from their `@`: the local part is read leftwards and the domain
//! rightwards, then the domain must have at least two labels and an alphabetic top-level label.
//! ASCII addresses only (internationalised local parts and IDN domains in Unicode form are not
//! detected; their punycode form is).

use std::ops::Range;

/// File extensions that follow `@` in asset names (`icon@2x.png`) and would otherwise look like
/// a top-level domain.
const NOT_TLDS: &[&str] = &["png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp"];

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// The address around the `@` at `at`, if it is one.
pub(crate) fn at(bytes: &[u8], at: usize) -> Option<Range<usize>> {
    let mut start = at;
    while start > 0 && is_local(bytes[start - 1]) {
        start -= 1;
    }
    while start < at && matches!(bytes[start], b'.' | b'-' | b'+') {
        start += 1;
    }
    let local = &bytes[start..at];
    if local.is_empty() || local.len() > 64 || local.ends_with(b".") || has_double_dot(local) {
        return None;
    }
    let mut end = at + 1;
    while end < bytes.len() && is_domain(bytes[end]) {
        end += 1;
    }
    while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
        end -= 1;
    }
    // `git@github.com:org/repo.git` is an scp-style SSH address, not a mailbox.
    let ssh_path = bytes.get(end) == Some(&b':') && bytes.get(end + 1).is_some_and(|b| !b.is_ascii_whitespace());
    (valid_domain(&bytes[at + 1..end]) && !ssh_path).then_some(start..end)
}

fn has_double_dot(s: &[u8]) -> bool {
    s.windows(2).any(|w| w == b"..")
}

fn valid_domain(domain: &[u8]) -> bool {
    if domain.len() > 253 || has_double_dot(domain) {
        return false;
    }
    let mut labels = domain.split(|&b| b == b'.');
    let mut count = 0;
    let mut last: &[u8] = &[];
    for label in labels.by_ref() {
        if label.is_empty() || label.len() > 63 || label.starts_with(b"-") || label.ends_with(b"-") {
            return false;
        }
        count += 1;
        last = label;
    }
    let tld_ok = (last.len() >= 2 && last.iter().all(u8::is_ascii_alphabetic)) || last.starts_with(b"xn--");
    count >= 2 && tld_ok && !NOT_TLDS.iter().any(|ext| last.eq_ignore_ascii_case(ext.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(s: &str) -> Option<&str> {
        let at_pos = s.find('@')?;
        at(s.as_bytes(), at_pos).map(|r| &s[r])
    }

    #[test]
    fn an_address_in_a_sentence_is_found_without_its_punctuation() {
        assert_eq!(find("Write to jane.doe+tag@mail.example.co.uk."), Some("jane.doe+tag@mail.example.co.uk"));
        assert_eq!(find("(bob@example.com)"), Some("bob@example.com"));
    }

    #[test]
    fn package_versions_retina_assets_and_ssh_remotes_are_not_addresses() {
        assert_eq!(find("pin lodash@4.17.21"), None);
        assert_eq!(find("see icon@2x.png"), None);
        assert_eq!(find("ping @channel now"), None);
        assert_eq!(find("user@localhost"), None);
        assert_eq!(find("git clone git@github.com:org/repo.git"), None);
        assert_eq!(find("Contact: jane@example.com: she replies fast"), Some("jane@example.com"));
    }
}
