//! The one credential type: secret strings that never print, and round-robin over several keys.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{ErrorKind, ProviderError};

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

/// The keys of one provider, handed out in turn; a key the provider refused (401/403) or
/// rate-limited (429) sits out a cooldown while the others carry the load.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: Vec<Secret>,
    next: AtomicUsize,
    cooldowns: Mutex<Vec<Option<Instant>>>,
}

/// How long a refused key sits out; a rate-limited one sits out its `Retry-After` (or this
/// default), at most `MAX_COOLDOWN`.
const AUTH_COOLDOWN: Duration = Duration::from_secs(60);
const RATE_LIMIT_COOLDOWN: Duration = Duration::from_secs(10);
const MAX_COOLDOWN: Duration = Duration::from_secs(300);

impl KeyRing {
    pub fn new(keys: Vec<Secret>) -> Self {
        let cooldowns = Mutex::new(vec![None; keys.len()]);
        Self { keys, next: AtomicUsize::new(0), cooldowns }
    }

    /// The `api_key` and `api_keys` settings every provider accepts, empty ones dropped.
    pub fn from_settings(api_key: &Option<Secret>, api_keys: &[Secret]) -> Self {
        Self::new(api_key.iter().chain(api_keys).filter(|k| !k.expose().is_empty()).cloned().collect())
    }

    /// The next key in turn that is not cooling down (when all are, the one free soonest).
    pub fn next(&self) -> Option<&Secret> {
        let n = self.keys.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        if n == 1 {
            return Some(&self.keys[0]);
        }
        let now = Instant::now();
        let cooldowns = self.cooldowns.lock().unwrap_or_else(|p| p.into_inner());
        let free = (0..n).map(|k| (start + k) % n).find(|&i| cooldowns[i].is_none_or(|until| until <= now));
        let i = free.unwrap_or_else(|| (0..n).min_by_key(|&i| cooldowns[i]).unwrap_or(0));
        Some(&self.keys[i])
    }

    /// Puts `key` in cooldown when the provider refused or rate-limited it.
    pub fn report(&self, key: &Secret, error: &ProviderError) {
        let pause = match error.kind {
            ErrorKind::Auth => AUTH_COOLDOWN,
            ErrorKind::RateLimited => error.retry_after.unwrap_or(RATE_LIMIT_COOLDOWN),
            _ => return,
        };
        if let Some(i) = self.keys.iter().position(|k| k == key) {
            let mut cooldowns = self.cooldowns.lock().unwrap_or_else(|p| p.into_inner());
            cooldowns[i] = Some(Instant::now() + pause.min(MAX_COOLDOWN));
        }
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
    fn a_refused_or_limited_key_sits_out_while_the_others_serve() {
        let ring = KeyRing::new(vec![Secret::new("a"), Secret::new("b"), Secret::new("c")]);
        ring.report(&Secret::new("b"), &ProviderError::new(ErrorKind::Auth, "no"));
        let limited =
            ProviderError { retry_after: Some(Duration::from_secs(30)), ..ProviderError::new(ErrorKind::RateLimited, "slow down") };
        ring.report(&Secret::new("c"), &limited);
        ring.report(&Secret::new("a"), &ProviderError::new(ErrorKind::Server, "not the key's fault"));
        let got: Vec<_> = (0..6).map(|_| ring.next().unwrap().expose().to_string()).collect();
        assert_eq!(got, ["a"; 6]);
        // All cooling: the one free soonest (c, 30 s, before b's 60 s) is used rather than none.
        ring.report(&Secret::new("a"), &ProviderError::new(ErrorKind::Auth, "no"));
        assert_eq!(ring.next().unwrap().expose(), "c");
    }

    #[test]
    fn keys_rotate() {
        let ring = KeyRing::new(vec![Secret::new("a"), Secret::new("b")]);
        let got: Vec<_> = (0..4).map(|_| ring.next().unwrap().expose().to_string()).collect();
        assert_eq!(got, ["a", "b", "a", "b"]);
    }
}
