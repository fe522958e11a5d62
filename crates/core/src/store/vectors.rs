//! The semantic cache's vector index: which cache entry, in one scope, was asked the question
//! nearest in meaning to this one. The in-process index is `crate::semantic::SemanticIndex`;
//! `switchyard-store` keeps vectors in PostgreSQL with pgvector, shared by every instance.

use super::StoreError;

/// Vectors by scope, each pointing to a cache entry. Similarity is cosine; vectors need not be
/// normalised by the caller, and vectors of other dimensions in the same scope never compare.
#[async_trait::async_trait]
pub trait VectorIndex: Send + Sync + 'static {
    /// Stores `vector` for `entry_key` in `scope` until `expires_at_ms`, replacing an entry with
    /// the same key. `Ok(false)`: not stored, because the vector has no direction (all zeros or
    /// not finite).
    async fn insert(&self, scope: &str, vector: Vec<f32>, entry_key: String, expires_at_ms: i64, now_ms: i64) -> Result<bool, StoreError>;

    /// The key of the entry in `scope` most similar to `vector`, with its similarity, when that
    /// is at least `threshold` and the entry has not expired at `now_ms`.
    async fn nearest(&self, scope: &str, vector: &[f32], threshold: f32, now_ms: i64) -> Result<Option<(String, f32)>, StoreError>;
}
