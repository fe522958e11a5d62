//! Builds the response cache from the config: entries in Redis when `redis:` is set (shared by
//! every instance, compressed, TTL kept by Redis), else in memory bounded by `cache.max_bytes`;
//! per-model settings from `models.<alias>.cache`; semantic vectors in process, or in the
//! `database:` with pgvector when `cache.semantic_index: postgres`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use switchyard_core::cache::policy::CacheSettings;
use switchyard_core::lookup::{Cache, SemanticSettings};
use switchyard_core::store::{CacheStore, StoreError};
use switchyard_store::{LazyRedis, MemoryCache, PgVectorIndex};

use crate::config::{Config, Database};

/// A lookup waits this long on an in-memory store (never, in practice).
const MEMORY_TIMEOUT: Duration = Duration::from_secs(1);
/// A Redis cache read waits at most this long (less if `governance.redis_timeout` is shorter).
const CACHE_REDIS_TIMEOUT: Duration = Duration::from_millis(50);

/// Fails only when pgvector is configured and cannot be set up (unreachable, not installed).
pub async fn build(config: &Config) -> Result<Cache, StoreError> {
    let top = &config.cache;
    let (store, timeout): (Arc<dyn CacheStore>, Duration) = match &config.redis {
        // A slow Redis read is a miss, not a wait: the answer is fetched upstream instead.
        Some(url) => {
            let timeout = config.governance.redis_timeout.min(CACHE_REDIS_TIMEOUT);
            (Arc::new(LazyRedis::cache(url.clone(), timeout)), timeout)
        }
        None => (Arc::new(MemoryCache::new(top.max_bytes)), MEMORY_TIMEOUT),
    };
    let Settings { per_model, fallback, semantic } = settings(config);
    let cache = Cache::new(store, per_model, fallback, timeout, top.count_hits).with_semantic(semantic);
    match &config.database {
        // The config check ensures `postgres` comes with a PostgreSQL database.
        Database::Postgres(url) if top.semantic_index.is_postgres() => {
            Ok(cache.with_vector_index(Arc::new(PgVectorIndex::connect(url).await?)))
        }
        _ => Ok(cache),
    }
}

/// The cache of a reloaded config: `running`'s entries, flights and vectors under the new file's
/// per-model settings (the store itself, `cache.max_bytes` and `redis:`, need a restart).
pub fn reconfigure(running: &Cache, config: &Config) -> Cache {
    let Settings { per_model, fallback, semantic } = settings(config);
    running.reconfigured(per_model, fallback, config.cache.count_hits, semantic)
}

/// What `models.<alias>.cache` and the `cache:` defaults say, per model.
struct Settings {
    per_model: HashMap<String, CacheSettings>,
    fallback: CacheSettings,
    semantic: HashMap<String, SemanticSettings>,
}

fn settings(config: &Config) -> Settings {
    let top = &config.cache;
    let per_model = config
        .model_cache
        .iter()
        .map(|(alias, m)| {
            let settings = CacheSettings {
                enabled: m.enabled,
                ttl: m.ttl.map_or(top.ttl, |d| d.0),
                max_ttl: top.max_ttl,
                by_customer: m.by_customer.unwrap_or(top.by_customer),
                force: m.force,
            };
            (alias.clone(), settings)
        })
        .collect();
    let fallback = CacheSettings { enabled: false, ttl: top.ttl, max_ttl: top.max_ttl, by_customer: top.by_customer, force: false };
    let semantic = config
        .model_cache
        .iter()
        .filter_map(|(alias, m)| {
            let s = m.semantic.as_ref()?;
            Some((alias.clone(), SemanticSettings { embeddings_model: s.embeddings_model.clone(), threshold: s.threshold }))
        })
        .collect();
    Settings { per_model, fallback, semantic }
}
