//! Credentials, found from their literal prefixes with one Aho-Corasick pass and then checked
//! for the shape each issuer uses: AWS access key ids (`AKIA…`/`ASIA…`) and secret keys (40
//! base64 characters shortly after an "aws" context word), OpenAI (`sk-…`, `sk-proj-…`) and
//! Anthropic (`sk-ant-…`) API keys, GitHub tokens (`ghp_` & co., `github_pat_`), JWTs (three
//! base64url parts whose header decodes to JSON with an `alg`), PEM private key blocks, Slack
//! tokens and webhooks, Google API keys (`AIza…`), and the password in a URL's user info
//! (`postgres://app:<password>@db:5432`), which is all that is reported of such a URL.

use std::ops::Range;

use aho_corasick::{AhoCorasick, MatchKind};

use super::bounds::{is_word, word_starts};

#[derive(Clone, Copy, Debug)]
enum Shape {
    AwsKeyId,
    AwsContext,
    OpenAi,
    ScopedApiKey,
    GitHub,
    GitHubPat,
    Jwt,
    PemBlock,
    Slack,
    SlackWebhook,
    GoogleApiKey,
    UrlPassword,
}

static PREFIXES: &[(&str, Shape)] = &[
    ("AKIA", Shape::AwsKeyId),
    ("ASIA", Shape::AwsKeyId),
    ("aws", Shape::AwsContext),
    ("AWS", Shape::AwsContext),
    ("Aws", Shape::AwsContext),
    ("sk-", Shape::OpenAi),
    ("sk-proj-", Shape::ScopedApiKey),
    ("sk-svcacct-", Shape::ScopedApiKey),
    ("sk-admin-", Shape::ScopedApiKey),
    ("sk-ant-", Shape::ScopedApiKey),
    ("ghp_", Shape::GitHub),
    ("gho_", Shape::GitHub),
    ("ghs_", Shape::GitHub),
    ("ghu_", Shape::GitHub),
    ("ghr_", Shape::GitHub),
    ("github_pat_", Shape::GitHubPat),
    ("eyJ", Shape::Jwt),
    ("-----BEGIN ", Shape::PemBlock),
    ("xoxb-", Shape::Slack),
    ("xoxp-", Shape::Slack),
    ("xoxa-", Shape::Slack),
    ("xoxr-", Shape::Slack),
    ("xoxs-", Shape::Slack),
    ("xoxe-", Shape::Slack),
    ("xapp-", Shape::Slack),
    ("hooks.slack.com/services/", Shape::SlackWebhook),
    ("AIza", Shape::GoogleApiKey),
    ("://", Shape::UrlPassword),
];

/// The longest PEM block looked for (an RSA-8192 key is ~6.5 KB).
const PEM_MAX: usize = 16 * 1024;

/// How far after an "aws" context word an AWS secret access key is looked for.
const AWS_WINDOW: usize = 120;

/// The prefix automaton, built once per detector.
pub(crate) struct SecretScanner {
    prefixes: AhoCorasick,
}

impl SecretScanner {
    pub(crate) fn new() -> SecretScanner {
        let prefixes = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(PREFIXES.iter().map(|(p, _)| p))
            .expect("the built-in secret prefixes are valid literals");
        SecretScanner { prefixes }
    }

    /// Every secret in `text`, passed to `found` — not in order: a key found from its "aws" word
    /// lies after prefixes matched later. The detector sorts.
    pub(crate) fn scan(&self, text: &str, mut found: impl FnMut(Range<usize>)) {
        let bytes = text.as_bytes();
        // How far AWS secret keys have been looked for after "aws" words: two such words before
        // one key ("aws_access_key_id … aws_secret_access_key = …") read the text between them
        // once, and the key is reported once.
        let mut aws_scanned = 0;
        // A token prefix inside the run of token characters that the previous token prefix
        // started ("sk-sk-sk-…", "AKIA" in a JWT signature) is part of that token, not a new
        // one: skipping it keeps the scan linear however the prefixes repeat.
        let mut token_run_end = 0;
        for m in self.prefixes.find_iter(text) {
            let shape = PREFIXES[m.pattern().as_usize()].1;
            if matches!(shape, Shape::AwsContext) {
                if let Some(range) = aws_secret_after(bytes, m.start(), m.end(), &mut aws_scanned) {
                    found(range);
                }
                continue;
            }
            let token_shape = !matches!(shape, Shape::PemBlock | Shape::SlackWebhook | Shape::UrlPassword);
            if token_shape {
                if m.start() < token_run_end {
                    continue;
                }
                token_run_end = span(bytes, m.start(), |b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            }
            if let Some(range) = check(bytes, m.start(), m.end(), shape) {
                found(range);
            }
        }
    }
}

fn check(bytes: &[u8], start: usize, body: usize, shape: Shape) -> Option<Range<usize>> {
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    let token = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    if !matches!(shape, Shape::PemBlock | Shape::SlackWebhook | Shape::AwsContext | Shape::UrlPassword) && !word_starts(bytes, start) {
        return None;
    }
    match shape {
        Shape::AwsKeyId => {
            let end = span(bytes, body, |b| b.is_ascii_uppercase() || b.is_ascii_digit());
            (end - body == 16 && !bytes.get(end).is_some_and(|&b| alnum(b))).then_some(start..end)
        }
        // Needs the scan's state; handled in `SecretScanner::scan`.
        Shape::AwsContext => None,
        Shape::OpenAi => {
            let end = span(bytes, body, token);
            let b = &bytes[body..end];
            let mixed = b.iter().any(u8::is_ascii_digit) && b.iter().any(u8::is_ascii_uppercase) && b.iter().any(u8::is_ascii_lowercase);
            (b.len() >= 20 && mixed).then_some(start..end)
        }
        Shape::ScopedApiKey => {
            let end = span(bytes, body, token);
            let b = &bytes[body..end];
            let mixed = b.iter().any(u8::is_ascii_digit) && b.iter().any(u8::is_ascii_alphabetic);
            (b.len() >= 20 && mixed).then_some(start..end)
        }
        Shape::GitHub => {
            let end = span(bytes, body, alnum);
            (end - body >= 30 && !bytes.get(end).is_some_and(|&b| is_word(b))).then_some(start..end)
        }
        Shape::GitHubPat => {
            let end = span(bytes, body, |b| alnum(b) || b == b'_');
            (end - body >= 22).then_some(start..end)
        }
        Shape::Jwt => jwt(bytes, start),
        Shape::PemBlock => pem(bytes, start, body),
        Shape::Slack => {
            let end = span(bytes, body, |b| alnum(b) || b == b'-');
            let b = &bytes[body..end];
            (b.len() >= 10 && b.iter().any(u8::is_ascii_digit)).then_some(start..end)
        }
        Shape::SlackWebhook => {
            let end = span(bytes, body, |b| alnum(b) || b == b'/');
            let from = start.checked_sub(8).filter(|&s| &bytes[s..start] == b"https://").unwrap_or(start);
            (end - body >= 20).then_some(from..end)
        }
        Shape::UrlPassword => url_password(bytes, body),
        Shape::GoogleApiKey => {
            let end = span(bytes, body, token);
            (end - body == 35).then_some(start..end)
        }
    }
}

/// The end of the run of bytes from `from` that satisfy `ok`.
fn span(bytes: &[u8], from: usize, ok: impl Fn(u8) -> bool) -> usize {
    from + bytes[from..].iter().take_while(|&&b| ok(b)).count()
}

/// A 40-character base64 token (mixed case and a digit, as random keys are) within
/// `AWS_WINDOW` bytes after an "aws" word. `scanned` is where earlier windows stopped (always
/// at a token boundary); the window starts there if that is further on.
fn aws_secret_after(bytes: &[u8], start: usize, body: usize, scanned: &mut usize) -> Option<Range<usize>> {
    if start > 0 && bytes[start - 1].is_ascii_alphabetic() {
        return None;
    }
    let b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'/' || b == b'+';
    let limit = (body + AWS_WINDOW).min(bytes.len());
    let mut i = body.max(*scanned);
    while i < limit {
        if !b64(bytes[i]) {
            i += 1;
            continue;
        }
        let end = span(bytes, i, b64);
        let t = &bytes[i..end];
        // `_` joins identifiers; `=` after the token is base64 padding of a longer blob. An `=`
        // before it is an assignment (`AWS_SECRET_ACCESS_KEY=…`).
        let glued = i > 0 && bytes[i - 1] == b'_' || bytes.get(end).is_some_and(|&b| b == b'_' || b == b'=');
        let key = t.len() == 40
            && !glued
            && t.iter().any(u8::is_ascii_digit)
            && t.iter().any(u8::is_ascii_uppercase)
            && t.iter().any(u8::is_ascii_lowercase);
        i = end;
        if key {
            *scanned = end;
            return Some(end - 40..end);
        }
    }
    *scanned = (*scanned).max(i);
    None
}

/// The password of `scheme://user:password@host`: user info ends at the first `@` before any
/// `/`, whitespace or quote, and holds a `:` (the user name may be empty, as in Redis URLs).
fn url_password(bytes: &[u8], body: usize) -> Option<Range<usize>> {
    let userinfo_end = span(bytes, body, |b| !b.is_ascii_whitespace() && !matches!(b, b'/' | b'@' | b'"' | b'\'' | b'<' | b'>'));
    if bytes.get(userinfo_end) != Some(&b'@') {
        return None;
    }
    let colon = body + bytes[body..userinfo_end].iter().position(|&b| b == b':')?;
    let password = colon + 1..userinfo_end;
    (!password.is_empty()).then_some(password)
}

fn jwt(bytes: &[u8], start: usize) -> Option<Range<usize>> {
    let b64url = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let header_end = span(bytes, start, b64url);
    if bytes.get(header_end) != Some(&b'.') {
        return None;
    }
    let payload_end = span(bytes, header_end + 1, b64url);
    if payload_end - header_end < 3 || bytes.get(payload_end) != Some(&b'.') {
        return None;
    }
    let end = span(bytes, payload_end + 1, b64url);
    let header = base64url_decode(&bytes[start..header_end])?;
    let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header).ok()?;
    json.contains_key("alg").then_some(start..end)
}

fn base64url_decode(s: &[u8]) -> Option<Vec<u8>> {
    let value = |b: u8| -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &b in s {
        acc = (acc << 6) | value(b)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `-----BEGIN … PRIVATE KEY-----` through the matching `-----END …-----`; a block cut off before
/// its END line runs to the end of its base64 body.
fn pem(bytes: &[u8], start: usize, body: usize) -> Option<Range<usize>> {
    let line_end = body + bytes[body..].iter().position(|&b| b == b'\n').unwrap_or(bytes.len() - body);
    let header = &bytes[body..line_end];
    let label_end = find(header, b"-----")?;
    if !header[..label_end].ends_with(b"PRIVATE KEY") {
        return None;
    }
    let after = body + label_end + 5;
    // Keys are a few kilobytes; bounding the search keeps many unterminated BEGIN lines linear.
    let search_end = (after + PEM_MAX).min(bytes.len());
    if let Some(end_at) = find(&bytes[after..search_end], b"-----END ") {
        let close_from = after + end_at + 9;
        let close = find(&bytes[close_from..], b"-----")?;
        return Some(start..close_from + close + 5);
    }
    let base64_body = |b: u8| b.is_ascii_alphanumeric() || b"+/=\r\n \t\\".contains(&b);
    let mut end = span(bytes, after, base64_body);
    while end > after && bytes[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    Some(start..end)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(s: &str) -> Vec<&str> {
        let mut ranges = Vec::new();
        SecretScanner::new().scan(s, |r| ranges.push(r));
        ranges.sort_by_key(|r| r.start);
        ranges.into_iter().map(|r| &s[r]).collect()
    }

    #[test]
    fn aws_key_ids_and_secret_keys_after_an_aws_word_are_found() {
        let s = "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_eq!(secrets(s), vec!["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]);
    }

    #[test]
    fn an_aws_secret_key_assigned_to_its_environment_variable_is_found() {
        let key = "93Od5M8esjp7wVZlp7/gKsNXr2H1ndQEfLjpY/4J";
        assert_eq!(secrets(&format!("Set AWS_SECRET_ACCESS_KEY={key} in the runner.")), vec![key]);
        assert!(secrets(&format!("aws blob {key}==")).is_empty());
    }

    #[test]
    fn openai_anthropic_and_github_tokens_are_found_but_prose_with_sk_is_not() {
        let ant = "sk-ant-api03-AbCdEf0123456789_ghIJklMNopQRstUVwxYZ-0123456789abcd";
        let openai = "sk-proj-Ab3dEf6hIj9kLmNoPqRsTuVwXyZ012345678";
        let gh = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
        let s = format!("keys: {ant}, {openai} and {gh}. Use sk-learn or a task-list; ask-me-anything");
        assert_eq!(secrets(&s), vec![ant, openai, gh]);
    }

    #[test]
    fn a_jwt_is_found_only_when_its_header_is_json_with_an_alg() {
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(secrets(&format!("Bearer {jwt}.")), vec![jwt]);
        assert!(secrets("eyJub3RfYV9qd3QiOjF9.eyJzdWIiOjF9.sig").is_empty());
    }

    #[test]
    fn a_pem_private_key_block_is_found_whole_and_a_certificate_is_not() {
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc+/=\n-----END RSA PRIVATE KEY-----";
        assert_eq!(secrets(&format!("here:\n{key}\nthanks")), vec![key]);
        assert!(secrets("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----").is_empty());
    }

    #[test]
    fn only_the_password_of_a_url_with_user_info_is_a_secret() {
        assert_eq!(secrets("DATABASE_URL=postgres://app:s3cr%40t!@db.internal:5432/main"), vec!["s3cr%40t!"]);
        assert_eq!(secrets("redis://:hunter2@cache:6379"), vec!["hunter2"], "Redis has no user name");
        assert!(secrets("see https://example.com/a:b@c and git@github.com:org/repo").is_empty());
    }

    #[test]
    fn repeated_prefixes_cost_linear_time() {
        let text = "sk-".repeat(100_000);
        let start = std::time::Instant::now();
        assert!(secrets(&text).is_empty());
        // Quadratic rescanning of the 300 KB run would take tens of seconds unoptimised.
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "{:?}", start.elapsed());
    }

    #[test]
    fn slack_and_google_keys_are_found() {
        let slack = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx";
        let google = "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe";
        assert_eq!(secrets(&format!("{slack} {google}")), vec![slack, google]);
    }
}
