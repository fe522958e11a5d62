//! Response-cache storage: opaque bytes under keys the caller has already hashed and scoped to
//! one tenant.

use std::time::Duration;

use bytes::Bytes;

use super::StoreError;

/// A store of cache entries. Keys arrive hashed and tenant-scoped: a store never derives, shares
/// or lists keys, so two tenants can only meet under the same key, which the caller rules out.
#[async_trait::async_trait]
pub trait CacheStore: Send + Sync + 'static {
    /// The value stored under `key`, or `None` when there is none, it expired, or it cannot be
    /// read back (a corrupt value is a miss, never an error).
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError>;

    /// Stores `value` under `key` for `ttl`, replacing what was there. A store may decline to keep
    /// a value (too large for its bound); a zero `ttl` removes the key.
    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), StoreError>;

    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}
