//! `cache:` (the store: size, TTL bounds, whether hits count against limits) and the per-model
//! `models.<alias>.cache:` opt-in, read and validated on their own.

use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Mapping;

use super::{section, ConfigError, HumanDuration};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheSection {
    /// In-memory cache size (bytes) when Redis is not configured.
    max_bytes: Option<usize>,
    /// The TTL of entries whose request and model do not say.
    ttl: Option<HumanDuration>,
    /// The longest TTL a request's `cache_ttl` may ask for.
    max_ttl: Option<HumanDuration>,
    /// Scope entries by customer for every model.
    by_customer: Option<bool>,
    /// Count cache hits against rate limits and budgets (default: hits are free).
    count_hits: Option<bool>,
    /// Where semantic matching keeps prompts' vectors.
    semantic_index: Option<SemanticIndexKind>,
}

/// `cache.semantic_index`: in this process (each instance its own) or in PostgreSQL with
/// pgvector (the `database:`, shared by every instance using it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SemanticIndexKind {
    #[default]
    Memory,
    Postgres,
}

impl SemanticIndexKind {
    pub fn is_postgres(self) -> bool {
        self == SemanticIndexKind::Postgres
    }
}

/// The validated top-level settings.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub max_bytes: usize,
    pub ttl: Duration,
    pub max_ttl: Duration,
    pub by_customer: bool,
    pub count_hits: bool,
    pub semantic_index: SemanticIndexKind,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024 * 1024,
            ttl: Duration::from_secs(3600),
            max_ttl: Duration::from_secs(86_400),
            by_customer: false,
            count_hits: false,
            semantic_index: SemanticIndexKind::Memory,
        }
    }
}

/// `models.<alias>.cache`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCacheConfig {
    /// Cache this model's deterministic requests (temperature 0 or a seed) without being asked.
    #[serde(default)]
    pub enabled: bool,
    /// Cache even requests that do not ask for determinism.
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub ttl: Option<HumanDuration>,
    #[serde(default)]
    pub by_customer: Option<bool>,
    /// Opt-in semantic matching after the exact lookup.
    #[serde(default)]
    pub semantic: Option<SemanticConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SemanticConfig {
    /// The model (alias or `provider/model`) that embeds prompts, reached through the gateway's
    /// own routing.
    pub embeddings_model: String,
    /// Cosine similarity at or above which a cached answer is served.
    #[serde(default = "default_threshold")]
    pub threshold: f32,
}

fn default_threshold() -> f32 {
    0.92
}

pub fn read(map: &Mapping, errors: &mut Vec<ConfigError>) -> CacheConfig {
    let section = section::<CacheSection>(map, "cache", errors).unwrap_or_default();
    let defaults = CacheConfig::default();
    let config = CacheConfig {
        max_bytes: section.max_bytes.unwrap_or(defaults.max_bytes),
        ttl: section.ttl.map_or(defaults.ttl, |d| d.0),
        max_ttl: section.max_ttl.map_or(defaults.max_ttl, |d| d.0),
        by_customer: section.by_customer.unwrap_or(false),
        count_hits: section.count_hits.unwrap_or(false),
        semantic_index: section.semantic_index.unwrap_or_default(),
    };
    if config.max_bytes < 1024 * 1024 {
        errors.push(ConfigError::new("cache.max_bytes", "must be at least 1048576 (1 MiB)"));
    }
    if config.ttl.is_zero() || config.ttl > config.max_ttl {
        errors.push(ConfigError::new("cache.ttl", "must be above 0 and at most cache.max_ttl"));
    }
    // pgvector lives in the `database:`, read here from the (already interpolated) file.
    let database = map.get("database").and_then(|v| v.as_str()).unwrap_or("");
    if config.semantic_index == SemanticIndexKind::Postgres
        && !(database.starts_with("postgres://") || database.starts_with("postgresql://"))
    {
        errors.push(ConfigError::new(
            "cache.semantic_index",
            "`postgres` keeps vectors in the `database:`, which must then be a postgres:// URL",
        ));
    }
    config
}

/// Checks a model's cache settings; `path` is `models.<alias>.cache`.
pub fn check_model(model: &ModelCacheConfig, top: &CacheConfig, path: &str, errors: &mut Vec<ConfigError>) {
    if let Some(ttl) = &model.ttl {
        if ttl.0.is_zero() || ttl.0 > top.max_ttl {
            errors.push(ConfigError::new(&format!("{path}.ttl"), "must be above 0 and at most cache.max_ttl"));
        }
    }
    if let Some(s) = &model.semantic {
        if !(s.threshold > 0.0 && s.threshold <= 1.0) {
            errors.push(ConfigError::new(
                &format!("{path}.semantic.threshold"),
                "must be a cosine similarity above 0 and at most 1 (e.g. 0.92)",
            ));
        }
        if s.embeddings_model.trim().is_empty() {
            errors.push(ConfigError::new(
                &format!("{path}.semantic.embeddings_model"),
                "must name a model, e.g. mock/embed or openai/text-embedding-3-small",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_yaml(text: &str) -> (CacheConfig, Vec<ConfigError>) {
        let map: Mapping = serde_yaml::from_str(text).unwrap();
        let mut errors = Vec::new();
        (read(&map, &mut errors), errors)
    }

    #[test]
    fn the_semantic_index_is_in_memory_unless_postgres_is_asked_with_a_postgres_database() {
        assert_eq!(read_yaml("{}").0.semantic_index, SemanticIndexKind::Memory);
        assert_eq!(read_yaml("cache: { semantic_index: memory }").0.semantic_index, SemanticIndexKind::Memory);
        let (config, errors) = read_yaml("database: postgres://u:hunter2@db/sy\ncache: { semantic_index: postgres }");
        assert!(errors.is_empty(), "{errors:?}");
        assert!(config.semantic_index.is_postgres());
        for without in ["cache: { semantic_index: postgres }", "database: sqlite:///tmp/x.db\ncache: { semantic_index: postgres }"] {
            let errors = read_yaml(without).1;
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].path, "cache.semantic_index");
            assert!(errors[0].message.contains("postgres://"), "{}", errors[0].message);
        }
        let errors = read_yaml("cache: { semantic_index: qdrant }").1;
        assert!(errors.iter().any(|e| e.path.starts_with("cache") && e.message.contains("memory")), "{errors:?}");
    }
}
