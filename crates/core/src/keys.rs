//! Virtual keys: how they look, how they are made, and how a presented key is checked against
//! the keyed hash the store keeps.
//!
//! A key is `sk-sy-` + an 8-character public id + `_` + a 32-character secret part, all base62
//! (`[0-9A-Za-z]`), for example `sk-sy-Ab3dE5gH_…`. The secret part carries 190 bits from the OS
//! random number generator. The store keeps only
//! - `prefix`: `sy-` + the 8-character id (`sy-Ab3dE5gH`), unique, which is how a presented key is
//!   found without a scan, and which is safe to show in lists and logs;
//! - `hash`: HMAC-SHA256 of the whole key under the server's [`KeySecret`].
//!
//! A stolen database alone cannot be used to test guesses offline: that needs the key secret too.
//! Instances that share one PostgreSQL database must therefore share one configured secret; the
//! embedded single-instance default generates one in `<data_dir>/key_secret`
//! ([`KeySecret::load_or_create`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const KEY_START: &str = "sk-sy-";
/// Length of the public id after `sk-sy-` (and after `sy-` in the stored prefix).
pub const ID_LEN: usize = 8;
/// Length of the secret part after `_`: 32 base62 characters, about 190 bits.
pub const SECRET_LEN: usize = 32;
/// The whole key: `sk-sy-` + id + `_` + secret part.
pub const KEY_LEN: usize = KEY_START.len() + ID_LEN + 1 + SECRET_LEN;
/// A configured key secret must be at least this many bytes long.
pub const MIN_SECRET_BYTES: usize = 32;
/// Random bytes in a generated key secret (written to the file as 64 hex characters).
const GENERATED_SECRET_BYTES: usize = 32;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The server's HMAC key for virtual-key hashes. Never printed: `Debug` shows `[redacted]`.
#[derive(Clone)]
pub struct KeySecret(Vec<u8>);

impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySecret([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeySecretError {
    #[error("the key secret is {len} bytes long; it needs at least {MIN_SECRET_BYTES} random bytes (for example the output of `openssl rand -hex 32`)")]
    TooShort { len: usize },
    #[error("the key secret repeats too few distinct characters to be random; generate one with `openssl rand -hex 32`")]
    NotRandom,
    #[error("cannot read or write the key secret file {path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    #[error("the OS random number generator failed: {0}")]
    Random(String),
}

impl KeySecret {
    /// A secret from configuration text (surrounding whitespace ignored), used as given: the same
    /// text gives the same secret on every instance.
    pub fn from_text(text: &str) -> Result<Self, KeySecretError> {
        let bytes = text.trim().as_bytes();
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(KeySecretError::TooShort { len: bytes.len() });
        }
        // Cheap guard against `aaaa…` or `0000…`-style placeholders; random hex has 16 symbols.
        let mut seen = [false; 256];
        bytes.iter().for_each(|b| seen[usize::from(*b)] = true);
        if seen.iter().filter(|s| **s).count() < 8 {
            return Err(KeySecretError::NotRandom);
        }
        Ok(Self(bytes.to_vec()))
    }

    /// A fresh random secret, as the hex text `from_text` reads back.
    fn generate_text() -> Result<String, KeySecretError> {
        let mut bytes = [0u8; GENERATED_SECRET_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| KeySecretError::Random(e.to_string()))?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Reads the secret from `path`, or creates it there (mode 0600, parent directories too) when
    /// the file does not exist. For the embedded single-instance default; instances that share a
    /// database must share a configured secret instead.
    pub fn load_or_create(path: &Path) -> Result<Self, KeySecretError> {
        let file_error = |source| KeySecretError::File { path: path.to_path_buf(), source };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                warn_if_readable_by_others(path);
                return Self::from_text(&text);
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(file_error(e)),
            Err(_) => {}
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(file_error)?;
        }
        let text = Self::generate_text()?;
        match create_private(path) {
            Ok(mut file) => {
                file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(file_error)?;
                Self::from_text(&text)
            }
            // Another process created it between our read and our create: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::from_text(&std::fs::read_to_string(path).map_err(file_error)?),
            Err(e) => Err(file_error(e)),
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; this cannot fail.
        <HmacSha256 as KeyInit>::new_from_slice(&self.0).expect("HMAC accepts any key length")
    }
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the key secret file is readable by other users; run chmod 600 on it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// A key just made: the plaintext is shown to its owner once and never stored.
pub struct NewKey {
    pub plaintext: String,
    /// `sy-` + 8 characters; store it in `KeyRecord.prefix`.
    pub prefix: String,
    /// HMAC-SHA256(secret, plaintext); store it in `KeyRecord.hash`.
    pub hash: Vec<u8>,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey").field("plaintext", &"[redacted]").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// Makes a new key from the OS random number generator.
pub fn generate(secret: &KeySecret) -> Result<NewKey, KeySecretError> {
    let id = random_base62(ID_LEN)?;
    let secret_part = random_base62(SECRET_LEN)?;
    let plaintext = format!("{KEY_START}{id}_{secret_part}");
    let hash = hash(secret, &plaintext);
    let prefix = prefix_of(&plaintext).expect("a generated key has our format").to_string();
    Ok(NewKey { plaintext, prefix, hash })
}

/// The stored prefix (`sy-` + 8 characters) of a key in our format, borrowed from `presented`;
/// `None` for anything else (other vendors' keys, `Bearer …`, wrong lengths or characters).
pub fn prefix_of(presented: &str) -> Option<&str> {
    let bytes = presented.as_bytes();
    let id_end = KEY_START.len() + ID_LEN;
    let well_formed = bytes.len() == KEY_LEN
        && presented.starts_with(KEY_START)
        && bytes[id_end] == b'_'
        && bytes[KEY_START.len()..id_end].iter().chain(&bytes[id_end + 1..]).all(u8::is_ascii_alphanumeric);
    // `sk-sy-XXXXXXXX…` → `sy-XXXXXXXX`: the prefix is a slice of the key itself.
    well_formed.then(|| &presented[3..id_end])
}

/// Whether `presented` is the key whose hash is `stored_hash`, compared in constant time.
pub fn verify(secret: &KeySecret, presented: &str, stored_hash: &[u8]) -> bool {
    let mut mac = secret.mac();
    mac.update(presented.as_bytes());
    mac.verify_slice(stored_hash).is_ok()
}

/// Whether two secrets (an admin key and what a client sent) are equal, in time that depends on
/// neither: both are reduced to fixed-length MACs first, so not even the length leaks.
pub fn secrets_equal(expected: &str, presented: &str) -> bool {
    const DOMAIN: &[u8] = b"switchyard secret comparison";
    let tag = |text: &str| {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(DOMAIN).expect("HMAC accepts any key length");
        mac.update(text.as_bytes());
        mac
    };
    let expected_tag = tag(expected).finalize().into_bytes();
    tag(presented).verify_slice(&expected_tag).is_ok()
}

fn hash(secret: &KeySecret, plaintext: &str) -> Vec<u8> {
    let mut mac = secret.mac();
    mac.update(plaintext.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// `len` uniformly random base62 characters: bytes ≥ 248 (4 × 62) are dropped so that every
/// character is equally likely.
fn random_base62(len: usize) -> Result<String, KeySecretError> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| KeySecretError::Random(e.to_string()))?;
        for b in buf.iter().filter(|b| **b < 248).take(len - out.len()) {
            out.push(char::from(BASE62[usize::from(*b % 62)]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> KeySecret {
        KeySecret::from_text("0123456789abcdef0123456789abcdef-test-secret").unwrap()
    }

    #[test]
    fn a_generated_key_verifies_and_has_the_documented_shape() {
        let key = generate(&secret()).unwrap();
        assert_eq!(key.plaintext.len(), KEY_LEN);
        assert!(key.plaintext.starts_with("sk-sy-"), "{}", key.plaintext);
        assert_eq!(key.prefix.len(), 3 + ID_LEN);
        assert!(key.prefix.starts_with("sy-") && key.plaintext.starts_with(&format!("sk-{}_", key.prefix)));
        assert_eq!(prefix_of(&key.plaintext), Some(key.prefix.as_str()));
        assert_eq!(key.hash.len(), 32);
        assert!(verify(&secret(), &key.plaintext, &key.hash));
    }

    #[test]
    fn keys_are_random() {
        let a = generate(&secret()).unwrap();
        let b = generate(&secret()).unwrap();
        assert_ne!(a.prefix, b.prefix);
        assert_ne!(a.plaintext, b.plaintext);
    }

    #[test]
    fn a_wrong_key_or_secret_fails() {
        let key = generate(&secret()).unwrap();
        let other = generate(&secret()).unwrap();
        assert!(!verify(&secret(), &other.plaintext, &key.hash));
        let other_secret = KeySecret::from_text("another-secret-that-is-long-enough-0123456789").unwrap();
        assert!(!verify(&other_secret, &key.plaintext, &key.hash));
        assert!(!verify(&secret(), &key.plaintext, &key.hash[..31]));
        assert!(!verify(&secret(), &key.plaintext, &[]));
    }

    #[test]
    fn a_tampered_prefix_or_secret_part_fails() {
        let key = generate(&secret()).unwrap();
        for position in [6, KEY_LEN - 1] {
            let mut bytes = key.plaintext.clone().into_bytes();
            bytes[position] = if bytes[position] == b'a' { b'b' } else { b'a' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert!(prefix_of(&tampered).is_some());
            assert!(!verify(&secret(), &tampered, &key.hash), "{position}");
        }
    }

    #[test]
    fn foreign_formats_have_no_prefix() {
        let good = generate(&secret()).unwrap().plaintext;
        let cases = [
            String::new(),
            "Bearer".into(),
            format!("Bearer {good}"),
            format!("{good}x"),
            good[..KEY_LEN - 1].to_string(),
            good.replacen('_', "-", 1),
            good.replacen("sk-sy-", "sk-xy-", 1),
            "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD".into(),
            format!("sk-sy-abcdefg!_{}", "a".repeat(SECRET_LEN)),
            format!("sk-sy-abcdefgh_{}é", "a".repeat(SECRET_LEN - 2)),
        ];
        for case in cases {
            assert_eq!(prefix_of(&case), None, "{case}");
        }
    }

    #[test]
    fn debug_never_prints_secrets() {
        let text = "0123456789abcdef0123456789abcdef-test-secret";
        let key = generate(&secret()).unwrap();
        let printed = format!("{:?} {:?}", KeySecret::from_text(text).unwrap(), key);
        assert!(printed.contains("[redacted]"), "{printed}");
        assert!(!printed.contains("0123456789abcdef") && !printed.contains(&key.plaintext[15..]), "{printed}");
    }

    #[test]
    fn short_or_placeholder_secrets_are_refused() {
        let short = KeySecret::from_text("  too-short  ").unwrap_err().to_string();
        assert!(short.contains("9 bytes") && short.contains("at least 32"), "{short}");
        assert!(matches!(KeySecret::from_text(&"a".repeat(64)), Err(KeySecretError::NotRandom)));
    }

    #[test]
    fn a_created_secret_is_private_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/key_secret");
        let first = KeySecret::load_or_create(&path).unwrap();
        let second = KeySecret::load_or_create(&path).unwrap();
        assert_eq!(first.0, second.0);
        assert_eq!(std::fs::read_to_string(&path).unwrap().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let key = generate(&first).unwrap();
        assert!(verify(&second, &key.plaintext, &key.hash));
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(secrets_equal("admin-key-0123456789", "admin-key-0123456789"));
        assert!(!secrets_equal("admin-key-0123456789", "admin-key-012345678"));
        assert!(!secrets_equal("admin-key-0123456789", ""));
    }
}
