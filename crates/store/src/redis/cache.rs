//! `CacheStore` on Redis, shared by every gateway instance. Each entry is one string
//! `switchyard:cache:<key>` written with `SET … PX ttl`, so Redis keeps the expiry and evicts
//! under its own `maxmemory` policy.
//!
//! A stored value is a one-byte format marker and then the body, so that the format can change
//! while instances of two releases share one Redis (each reads an unknown marker as a miss):
//! - `0`: the value as given (when compressing would not make it smaller);
//! - `1`: the value's length as a little-endian `u32`, then the value as one LZ4 block.
//!
//! LZ4 (the pure-Rust `lz4_flex`) rather than zstd: no C build, and it compresses and decompresses
//! at GB/s, so a 50 KB entry costs tens of microseconds on either side; cached JSON still shrinks
//! several times over.

use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::RedisError;
use bytes::Bytes;
use switchyard_core::store::{CacheStore, StoreError};

const PREFIX: &str = "switchyard:cache:";
const RAW: u8 = 0;
const LZ4: u8 = 1;
/// No entry is this large; a stored length beyond it is corruption, not a reason to allocate.
const MAX_VALUE_BYTES: usize = 256 << 20;

#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
}

impl RedisCache {
    pub fn new(conn: ConnectionManager) -> Self {
        Self { conn }
    }

    /// Connects to `url` (`redis://…`), giving up after `timeout`; every later command also
    /// fails after `timeout` instead of waiting on a Redis that stopped answering. Errors name the
    /// server as `host:port`, never the password.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let client = ::redis::Client::open(url).map_err(|e| StoreError::Other(format!("redis cache: invalid URL: {e}")))?;
        let server = client.get_connection_info().addr.to_string();
        let config = ConnectionManagerConfig::new().set_connection_timeout(timeout).set_response_timeout(timeout).set_number_of_retries(1);
        let conn = tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| StoreError::Other(format!("redis cache: no connection to {server} within {timeout:?}")))?
            .map_err(|e| StoreError::Other(format!("redis cache: cannot connect to {server}: {e}")))?;
        Ok(Self::new(conn))
    }
}

fn redis_error(e: RedisError) -> StoreError {
    StoreError::Other(format!("redis cache: {e}"))
}

fn redis_key(key: &str) -> String {
    format!("{PREFIX}{key}")
}

#[async_trait::async_trait]
impl CacheStore for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let stored: Option<Vec<u8>> =
            ::redis::cmd("GET").arg(redis_key(key)).query_async(&mut self.conn.clone()).await.map_err(redis_error)?;
        let Some(stored) = stored else { return Ok(None) };
        match decode(Bytes::from(stored)) {
            Ok(value) => Ok(Some(value)),
            Err(why) => {
                tracing::warn!(key, why, "unreadable cache entry in Redis, treated as a miss");
                Ok(None)
            }
        }
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), StoreError> {
        if ttl.is_zero() {
            return self.delete(key).await;
        }
        // PX takes whole milliseconds and refuses 0.
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        ::redis::cmd("SET")
            .arg(redis_key(key))
            .arg(encode(&value))
            .arg("PX")
            .arg(ttl_ms)
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(redis_error)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        ::redis::cmd("DEL").arg(redis_key(key)).query_async::<()>(&mut self.conn.clone()).await.map_err(redis_error)
    }
}

/// The stored form of `value`: compressed when that makes it smaller.
fn encode(value: &[u8]) -> Vec<u8> {
    if let Ok(len) = u32::try_from(value.len()) {
        let mut out = vec![0u8; 5 + lz4_flex::block::get_maximum_output_size(value.len())];
        out[0] = LZ4;
        out[1..5].copy_from_slice(&len.to_le_bytes());
        if let Ok(n) = lz4_flex::block::compress_into(value, &mut out[5..]) {
            if 5 + n < 1 + value.len() {
                out.truncate(5 + n);
                return out;
            }
        }
    }
    let mut out = Vec::with_capacity(1 + value.len());
    out.push(RAW);
    out.extend_from_slice(value);
    out
}

/// The value back from its stored form, or why it cannot be read.
fn decode(stored: Bytes) -> Result<Bytes, &'static str> {
    match stored.first() {
        Some(&RAW) => Ok(stored.slice(1..)),
        Some(&LZ4) => {
            let header: [u8; 4] = stored.get(1..5).and_then(|h| h.try_into().ok()).ok_or("truncated header")?;
            let len = u32::from_le_bytes(header) as usize;
            if len > MAX_VALUE_BYTES {
                return Err("stated length out of range");
            }
            let value = lz4_flex::block::decompress(&stored[5..], len).map_err(|_| "corrupt LZ4 block")?;
            if value.len() != len {
                return Err("length differs from the stated length");
            }
            Ok(Bytes::from(value))
        }
        Some(_) => Err("unknown format marker"),
        None => Err("empty value"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trips_and_compresses_what_compresses() {
        let json = br#"{"choices":[{"message":{"role":"assistant","content":"hello hello hello hello"}}]}"#.repeat(100);
        let random: Vec<u8> = (0..5000).map(|_| fastrand::u8(..)).collect();
        for value in [&json[..], &random[..], b"", b"x"] {
            let stored = encode(value);
            assert_eq!(decode(Bytes::from(stored.clone())).unwrap(), value);
            assert!(stored.len() <= 1 + value.len(), "never more than the marker larger");
        }
        let stored = encode(&json);
        assert_eq!(stored[0], LZ4);
        assert!(stored.len() * 5 < json.len(), "{} → {}", json.len(), stored.len());
        assert_eq!(encode(&random)[0], RAW);
    }

    #[test]
    fn damaged_values_are_refused_not_panicked_on() {
        let json = br#"{"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}"#.repeat(50);
        let good = encode(&json);
        let mut cases: Vec<Vec<u8>> = vec![vec![], vec![9, 1, 2], vec![LZ4, 1], vec![LZ4, 0xff, 0xff, 0xff, 0xff, 0]];
        cases.push(good[..good.len() / 2].to_vec());
        let mut longer = good.clone();
        longer[1..5].copy_from_slice(&(json.len() as u32 + 10).to_le_bytes());
        cases.push(longer);
        for i in 5..good.len() {
            let mut flipped = good.clone();
            flipped[i] ^= 0x5a;
            // A flipped literal byte may still decode (to different bytes); it must never panic.
            let _ = decode(Bytes::from(flipped));
        }
        for case in cases {
            assert!(decode(Bytes::from(case.clone())).is_err(), "{case:?}");
        }
    }
}
