//! The one credential type: secret strings that never print, and round-robin over several keys.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A secret value (API key). `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(from = "String")]
pub struct Secret(Arc<str>);

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s.into())
    }
}

impl Secret {
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The keys of one provider, handed out in turn.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: Vec<Secret>,
    next: AtomicUsize,
}

impl KeyRing {
    pub fn new(keys: Vec<Secret>) -> Self {
        Self { keys, next: AtomicUsize::new(0) }
    }

    /// The `api_key` and `api_keys` settings every provider accepts, empty ones dropped.
    pub fn from_settings(api_key: &Option<Secret>, api_keys: &[Secret]) -> Self {
        Self::new(api_key.iter().chain(api_keys).filter(|k| !k.expose().is_empty()).cloned().collect())
    }

    pub fn next(&self) -> Option<&Secret> {
        if self.keys.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.keys.len();
        Some(&self.keys[i])
    }

    /// Removes every key (and anything shaped like an API key) from text that may reach a client
    /// or a log: upstream error messages echo keys back.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for key in &self.keys {
            if !key.expose().is_empty() {
                out = out.replace(key.expose(), "[redacted]");
            }
        }
        redact_key_shapes(&out)
    }
}

/// Masks tokens that look like provider keys (`sk-…`, `sk-ant-…`, `gsk_…`, `AIza…`, `xai-…`).
pub fn redact_key_shapes(text: &str) -> String {
    const PREFIXES: [&str; 5] = ["sk-", "gsk_", "AIza", "xai-", "fw_"];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for p in PREFIXES {
            if rest.starts_with(p) && out.chars().last().is_none_or(|c| !c.is_ascii_alphanumeric()) {
                let tail = &rest[p.len()..];
                let len = tail.find(|c: char| !(c.is_ascii_alphanumeric() || "-_*.".contains(c))).unwrap_or(tail.len());
                if len >= 6 {
                    out.push_str("[redacted]");
                    rest = &tail[len..];
                    continue 'outer;
                }
            }
        }
        let c = rest.chars().next().expect("non-empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_configured_keys_and_key_shapes() {
        let ring = KeyRing::new(vec![Secret::new("my-private-token-123")]);
        let text = "bad key my-private-token-123; also sk-proj-abc123XYZ*****9876 and gsk_abcdefgh. ok sk-1";
        let red = ring.redact(text);
        assert!(!red.contains("my-private-token-123"));
        assert!(!red.contains("abc123XYZ"));
        assert!(!red.contains("gsk_abcdefgh"));
        assert!(red.contains("ok sk-1"), "short tokens are left alone: {red}");
        assert_eq!(format!("{:?}", Secret::new("sk-secret")), "Secret([redacted])");
    }

    #[test]
    fn keys_rotate() {
        let ring = KeyRing::new(vec![Secret::new("a"), Secret::new("b")]);
        let got: Vec<_> = (0..4).map(|_| ring.next().unwrap().expose().to_string()).collect();
        assert_eq!(got, ["a", "b", "a", "b"]);
    }
}
