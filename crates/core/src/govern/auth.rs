//! Step `authenticate`: the presented virtual key becomes a `Caller`. Keys live in memory (loaded
//! at start, followed through the store's change sequence), so the check is a hash-map lookup by
//! the key's public prefix plus one HMAC compared in constant time — no database on the request
//! path, and a database outage leaves every known key working.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::store::KeyRecord;

use crate::keys::{prefix_of, verify, KeySecret};

/// Who is calling. Without a key (allowed only when keys are not required) the caller is the
/// anonymous `default` tenant.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: Option<Arc<KeyRecord>>,
    /// What isolates data between callers (cache entries, limits): the key's team, else the key.
    pub tenant: String,
}

impl Caller {
    pub fn anonymous() -> Self {
        Self { key: None, tenant: "default".into() }
    }

    fn of(key: Arc<KeyRecord>) -> Self {
        let tenant = match &key.team {
            Some(team) => format!("team:{team}"),
            None => format!("key:{}", key.id),
        };
        Self { key: Some(key), tenant }
    }

    pub fn key_id(&self) -> Option<&str> {
        self.key.as_deref().map(|k| k.id.as_str())
    }

    pub fn team(&self) -> Option<&str> {
        self.key.as_deref().and_then(|k| k.team.as_deref())
    }

    /// The customer a key is bound to, which the request cannot override.
    pub fn bound_customer(&self) -> Option<&str> {
        self.key.as_deref().and_then(|k| k.customer.as_deref())
    }

    /// Whether this caller may use `model` (the name it asked for).
    pub fn may_use(&self, model: &str) -> bool {
        match self.key.as_deref() {
            Some(k) if !k.models.is_empty() => k.models.iter().any(|m| m == model),
            _ => true,
        }
    }
}

/// Why a request was not authenticated. The messages say what to do and reveal nothing about
/// which keys exist: unknown, revoked, expired and malformed keys read the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    Invalid,
    /// A key this instance has not seen, and the store did not answer in time to say whether it
    /// exists. Not a verdict on the key: the caller may retry.
    Unverifiable,
}

impl AuthError {
    pub fn message(self) -> &'static str {
        match self {
            AuthError::Missing => "this gateway requires a virtual key: send `Authorization: Bearer sk-sy-…`",
            AuthError::Invalid => "the API key is not valid: it is unknown, revoked or expired",
            AuthError::Unverifiable => "the API key could not be checked just now (the key store did not answer); retry shortly",
        }
    }
}

/// What a lookup needs to do next.
pub enum Lookup {
    Known(Caller),
    /// A key in our format whose prefix this instance has not seen: it may have been created a
    /// moment ago on another instance; the caller asks the store once (`KeyCache::learn`).
    Unknown {
        prefix: String,
    },
}

pub struct KeyCache {
    secret: Arc<KeySecret>,
    require: bool,
    by_prefix: RwLock<HashMap<String, Arc<KeyRecord>>>,
}

impl KeyCache {
    pub fn new(secret: Arc<KeySecret>, require: bool) -> Self {
        Self { secret, require, by_prefix: RwLock::new(HashMap::new()) }
    }

    pub fn required(&self) -> bool {
        self.require
    }

    /// `token` is the bearer token (or `x-api-key`), if any.
    pub fn lookup(&self, token: Option<&str>, now_ms: i64) -> Result<Lookup, AuthError> {
        let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
            return if self.require { Err(AuthError::Missing) } else { Ok(Lookup::Known(Caller::anonymous())) };
        };
        let Some(prefix) = prefix_of(token) else {
            // Not one of our keys. Without `require_keys` clients may send anything (the OpenAI
            // SDK insists on some api_key); it is ignored, never forwarded.
            return if self.require { Err(AuthError::Invalid) } else { Ok(Lookup::Known(Caller::anonymous())) };
        };
        let found = self.by_prefix.read().expect("key cache lock").get(prefix).cloned();
        match found {
            Some(key) => self.check(key, token, now_ms).map(Lookup::Known),
            None => Ok(Lookup::Unknown { prefix: prefix.to_string() }),
        }
    }

    /// Completes an `Unknown` lookup with what the store said about the prefix.
    pub fn learn(&self, token: &str, record: Option<KeyRecord>, now_ms: i64) -> Result<Caller, AuthError> {
        let record = record.ok_or(AuthError::Invalid)?;
        let key = keep_newest(&mut self.by_prefix.write().expect("key cache lock"), record);
        self.check(key, token, now_ms)
    }

    fn check(&self, key: Arc<KeyRecord>, token: &str, now_ms: i64) -> Result<Caller, AuthError> {
        if key.revoked_at_ms.is_some() || key.expires_at_ms.is_some_and(|at| at <= now_ms) || !verify(&self.secret, token, &key.hash) {
            return Err(AuthError::Invalid);
        }
        Ok(Caller::of(key))
    }

    /// Applies keys created or changed since the last refresh (revoked ones stay, marked).
    pub fn apply(&self, keys: Vec<KeyRecord>) {
        if keys.is_empty() {
            return;
        }
        let mut map = self.by_prefix.write().expect("key cache lock");
        for key in keys {
            keep_newest(&mut map, key);
        }
    }

    pub fn len(&self) -> usize {
        self.by_prefix.read().expect("key cache lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Stores `key` unless the cache already holds a newer version of it (a store lookup that raced
/// the change feed must not bring back a key the feed has since revoked); returns the version kept.
fn keep_newest(map: &mut HashMap<String, Arc<KeyRecord>>, key: KeyRecord) -> Arc<KeyRecord> {
    match map.get(&key.prefix) {
        Some(held) if held.seq > key.seq => held.clone(),
        _ => {
            let key = Arc::new(key);
            map.insert(key.prefix.clone(), key.clone());
            key
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate;

    fn cache_with_key() -> (KeyCache, String, KeyRecord) {
        let secret = Arc::new(KeySecret::from_text("3f1c9a7e5b2d4f6081a3c5e7f9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7").unwrap());
        let minted = generate(&secret).unwrap();
        let record =
            KeyRecord { id: "key_1".into(), prefix: minted.prefix.clone(), hash: minted.hash.clone(), seq: 5, ..Default::default() };
        (KeyCache::new(secret, true), minted.plaintext, record)
    }

    #[test]
    fn a_lookup_answered_after_a_revocation_does_not_bring_the_key_back() {
        let (cache, token, live) = cache_with_key();
        cache.apply(vec![KeyRecord { revoked_at_ms: Some(1), seq: 6, ..live.clone() }]);
        // The store lookup started before the revocation and answers with the older version.
        assert_eq!(cache.learn(&token, Some(live), 10).unwrap_err(), AuthError::Invalid);
        assert!(matches!(cache.lookup(Some(&token), 10), Err(AuthError::Invalid)));
    }

    #[test]
    fn a_newer_version_replaces_an_older_one() {
        let (cache, token, live) = cache_with_key();
        cache.apply(vec![live.clone()]);
        assert!(matches!(cache.lookup(Some(&token), 10), Ok(Lookup::Known(_))));
        cache.apply(vec![KeyRecord { revoked_at_ms: Some(1), seq: 6, ..live }]);
        assert!(matches!(cache.lookup(Some(&token), 10), Err(AuthError::Invalid)));
    }
}
