//! Step `cache lookup`: decide whether a request may be answered from the cache (its fields,
//! its model's settings, `Cache-Control`), look its exact key up, then — for models that opt in —
//! its meaning (the last user message embedded by a configured embeddings model, compared within
//! the same tenant, model, system prompt and customer), and on a miss make it the one request
//! that goes upstream for that key (single flight) or wait for the one that does. What a miss
//! brings back is stored by its `Fill`, complete answers only.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::store::{CacheStore, VectorIndex};

use switchyard_protocol::openai::ChatRequest;

use crate::cache::entry::Entry;
use crate::cache::key::cache_key;
use crate::cache::policy::{decide, CacheSettings, Mode};
use crate::cache::Status;
use crate::flight::{wait, Flights, Leader, Role};
use crate::request::Parsed;
use crate::semantic::{query_text, semantic_scope, system_prompt, SemanticIndex};

/// Semantic matching for one model.
#[derive(Debug, Clone)]
pub struct SemanticSettings {
    /// The model (alias or `provider/model`) that embeds prompts.
    pub embeddings_model: String,
    /// Cosine similarity at or above which a cached answer is served.
    pub threshold: f32,
}

/// Turns text into a vector through the gateway's own routing. `None`: no vector (the model
/// failed or has none); the request then goes on without semantic matching.
#[async_trait::async_trait]
pub trait Embedder: Send + Sync {
    async fn embed(&self, model: &str, text: &str) -> Option<Vec<f32>>;
}

const SEMANTIC_MAX_ENTRIES: usize = 100_000;
const SEMANTIC_MAX_PER_SCOPE: usize = 10_000;

pub struct Cache {
    store: Arc<dyn CacheStore>,
    flights: Flights<Arc<Entry>>,
    /// Per model alias (or `provider/model`), from `models.<name>.cache`.
    settings: HashMap<String, CacheSettings>,
    /// For models without settings: caching only when the request asks.
    fallback: CacheSettings,
    /// The longest a lookup waits on the store (a miss after that).
    timeout: Duration,
    /// Whether hits count against rate limits and budgets.
    pub count_hits: bool,
    /// Per model alias, for models that opted in.
    semantic: HashMap<String, SemanticSettings>,
    /// Where prompts' vectors are found: in process unless `with_vector_index` says otherwise.
    index: Arc<dyn VectorIndex>,
}

/// What the lookup found.
pub enum Lookup {
    /// Caching does not apply (the request, its model or `Cache-Control: no-store` said so).
    Bypass,
    Hit(Arc<Entry>),
    /// A cached answer to a request of the same meaning, with its similarity.
    SemanticHit(Arc<Entry>, f32),
    /// Go upstream; give what comes back to the `Fill`.
    Miss(Fill),
}

impl Lookup {
    /// What `x-switchyard-cache` reports.
    pub fn status(&self) -> Status {
        match self {
            Lookup::Bypass => Status::Bypass,
            Lookup::Hit(_) => Status::Hit,
            Lookup::SemanticHit(..) => Status::SemanticHit,
            Lookup::Miss(_) => Status::Miss,
        }
    }
}

impl Cache {
    pub fn new(
        store: Arc<dyn CacheStore>,
        settings: HashMap<String, CacheSettings>,
        fallback: CacheSettings,
        timeout: Duration,
        count_hits: bool,
    ) -> Self {
        let index = Arc::new(SemanticIndex::new(SEMANTIC_MAX_ENTRIES, SEMANTIC_MAX_PER_SCOPE));
        Self { store, flights: Flights::default(), settings, fallback, timeout, count_hits, semantic: HashMap::new(), index }
    }

    pub fn with_semantic(mut self, semantic: HashMap<String, SemanticSettings>) -> Self {
        self.semantic = semantic;
        self
    }

    /// Keeps the semantic vectors in `index` (pgvector) instead of in process.
    pub fn with_vector_index(mut self, index: Arc<dyn VectorIndex>) -> Self {
        self.index = index;
        self
    }

    /// The same store, requests in flight and vector index under the per-model settings of a
    /// reloaded config: entries, single flights and learned vectors survive the reload.
    pub fn reconfigured(
        &self,
        settings: HashMap<String, CacheSettings>,
        fallback: CacheSettings,
        count_hits: bool,
        semantic: HashMap<String, SemanticSettings>,
    ) -> Self {
        Self {
            store: self.store.clone(),
            flights: self.flights.clone(),
            settings,
            fallback,
            timeout: self.timeout,
            count_hits,
            semantic,
            index: self.index.clone(),
        }
    }

    /// `wait_limit` bounds how long an identical request in flight is waited for.
    pub async fn lookup(
        &self,
        parsed: &Parsed,
        tenant: &str,
        customer: Option<&str>,
        cache_control: Option<&str>,
        wait_limit: Duration,
        embedder: &dyn Embedder,
    ) -> Lookup {
        // Only chat answers are cached; embeddings are cheap and always go upstream.
        let Some(request) = parsed.request.chat() else { return Lookup::Bypass };
        let model = request.model();
        let settings = self.settings.get(model).unwrap_or(&self.fallback);
        let decision = decide(&parsed.fields, request, settings, cache_control);
        if matches!(decision.mode, Mode::Bypass) {
            return Lookup::Bypass;
        }
        let customer = if decision.by_customer { customer } else { None };
        // A request without a canonical form is never cached (it could only collide).
        let Some(key) = cache_key(request, model, tenant, customer) else { return Lookup::Bypass };
        if matches!(decision.mode, Mode::Lookup) {
            if let Some(entry) = self.get(&key).await {
                return Lookup::Hit(entry);
            }
        }
        let mut meaning = None;
        if let Some(settings) = self.semantic.get(model) {
            match self.by_meaning(request, settings, tenant, customer, embedder).await {
                (Some((entry, similarity)), _) if matches!(decision.mode, Mode::Lookup) => return Lookup::SemanticHit(entry, similarity),
                (_, m) => meaning = m,
            }
        }
        let fill = |leader| Fill {
            key: key.clone(),
            ttl: decision.ttl,
            store: self.store.clone(),
            timeout: self.timeout,
            leader,
            meaning: meaning.clone().map(|(scope, vector)| (scope, vector, self.index.clone())),
        };
        match self.flights.join(&key) {
            Role::Leader(leader) => Lookup::Miss(fill(Some(leader))),
            Role::Follower(rx) => match wait(rx, wait_limit).await {
                Some(entry) if matches!(decision.mode, Mode::Lookup) => Lookup::Hit(entry),
                // The leader failed (or this request refreshes): go upstream alone.
                _ => Lookup::Miss(fill(None)),
            },
        }
    }

    /// The nearest cached answer by meaning, and (for storing a miss) the scope and vector.
    async fn by_meaning(
        &self,
        request: &ChatRequest,
        settings: &SemanticSettings,
        tenant: &str,
        customer: Option<&str>,
        embedder: &dyn Embedder,
    ) -> (Option<(Arc<Entry>, f32)>, Option<(String, Vec<f32>)>) {
        let Some(text) = query_text(request) else { return (None, None) };
        let Some(vector) = embedder.embed(&settings.embeddings_model, &text).await else { return (None, None) };
        // The embeddings model is part of the scope: vectors of two models never compare.
        let model = format!("{}\n{}", request.model(), settings.embeddings_model);
        let scope = semantic_scope(tenant, &model, &system_prompt(request), customer);
        let now = crate::time::now_ms();
        let found = match self.index.nearest(&scope, &vector, settings.threshold, now).await {
            Ok(Some((key, similarity))) => self.get(&key).await.map(|entry| (entry, similarity)),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "semantic index lookup failed: treated as no match");
                None
            }
        };
        (found, Some((scope, vector)))
    }

    async fn get(&self, key: &str) -> Option<Arc<Entry>> {
        match tokio::time::timeout(self.timeout, self.store.get(key)).await {
            Ok(Ok(Some(bytes))) => Entry::decode(&bytes).map(Arc::new),
            Ok(Ok(None)) => None,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "cache read failed: treated as a miss");
                None
            }
            Err(_) => None,
        }
    }
}

/// The miss's part: store the answer (complete answers only) and hand it to the waiters.
/// Dropped without an answer, it releases the waiters to go upstream themselves.
pub struct Fill {
    key: String,
    ttl: Duration,
    store: Arc<dyn CacheStore>,
    timeout: Duration,
    leader: Option<Leader<Arc<Entry>>>,
    /// For semantic models: where and under which vector the answer is indexed.
    meaning: Option<(String, Vec<f32>, Arc<dyn VectorIndex>)>,
}

impl Fill {
    /// Stores the answer before the response is finished, so that the same request sent right
    /// after this one hits (waiting at most the store's timeout, then the vector index's), and
    /// hands it to the waiters.
    pub async fn complete(mut self, entry: Entry) {
        let entry = Arc::new(entry);
        let bytes = bytes::Bytes::from(entry.encode());
        if let Some(leader) = self.leader.take() {
            leader.finish(entry);
        }
        let stored = match tokio::time::timeout(self.timeout, self.store.put(&self.key, bytes, self.ttl)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot store a cache entry");
                false
            }
            Err(_) => {
                tracing::warn!("storing a cache entry timed out");
                false
            }
        };
        // Indexed once stored, so that the index never points to an entry that was not.
        if let Some((scope, vector, index)) = self.meaning.take().filter(|_| stored) {
            let now = crate::time::now_ms();
            if let Err(e) = index.insert(&scope, vector, self.key.clone(), now + self.ttl.as_millis() as i64, now).await {
                tracing::warn!(error = %e, "cannot index a cache entry by meaning: it is found by exact match only");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use switchyard_providers::mock::embed::{embed, DEFAULT_DIMENSIONS};

    use bytes::Bytes;

    use crate::store::StoreError;

    /// A cache store that keeps everything and never expires: enough for lookups and fills.
    #[derive(Default)]
    struct Kept(Mutex<HashMap<String, Bytes>>);

    #[async_trait::async_trait]
    impl CacheStore for Kept {
        async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
            Ok(self.0.lock().unwrap().get(key).cloned())
        }
        async fn put(&self, key: &str, value: Bytes, _: Duration) -> Result<(), StoreError> {
            self.0.lock().unwrap().insert(key.to_string(), value);
            Ok(())
        }
        async fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.0.lock().unwrap().remove(key);
            Ok(())
        }
    }

    struct MockEmbedder;

    #[async_trait::async_trait]
    impl Embedder for MockEmbedder {
        async fn embed(&self, _model: &str, text: &str) -> Option<Vec<f32>> {
            Some(embed(text, DEFAULT_DIMENSIONS))
        }
    }

    /// A vector index whose database is down.
    struct Down;

    #[async_trait::async_trait]
    impl VectorIndex for Down {
        async fn insert(&self, _: &str, _: Vec<f32>, _: String, _: i64, _: i64) -> Result<bool, StoreError> {
            Err(StoreError::Server("postgres://u@db:5432/sy: no answer within 2s".into()))
        }

        async fn nearest(&self, _: &str, _: &[f32], _: f32, _: i64) -> Result<Option<(String, f32)>, StoreError> {
            Err(StoreError::Server("postgres://u@db:5432/sy: no answer within 2s".into()))
        }
    }

    fn cache() -> Cache {
        let settings = CacheSettings {
            enabled: true,
            ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(60),
            by_customer: false,
            force: false,
        };
        let semantic = SemanticSettings { embeddings_model: "mock/embed".into(), threshold: 0.9 };
        Cache::new(Arc::new(Kept::default()), HashMap::from([("m".to_string(), settings.clone())]), settings, Duration::from_secs(1), false)
            .with_semantic(HashMap::from([("m".to_string(), semantic)]))
    }

    /// The `x-switchyard-cache` a request would get, its similarity on a semantic hit; a miss's
    /// answer is stored as the gateway would.
    async fn ask(cache: &Cache, question: &str) -> (&'static str, Option<f32>) {
        let body = serde_json::json!({"model": "m", "temperature": 0, "messages": [{"role": "user", "content": question}]});
        let parsed = crate::request::parse(body.to_string().as_bytes(), crate::request::decode_chat, Default::default()).unwrap();
        let lookup = cache.lookup(&parsed, "team:a", None, None, Duration::from_secs(1), &MockEmbedder).await;
        let header = lookup.status().as_str();
        match lookup {
            Lookup::Miss(fill) => {
                let answer = serde_json::json!({"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": question}, "finish_reason": "stop"}]});
                fill.complete(Entry::from_value(answer, "mock", "echo", 0.0).unwrap()).await;
                (header, None)
            }
            Lookup::SemanticHit(_, similarity) => (header, Some(similarity)),
            _ => (header, None),
        }
    }

    #[tokio::test]
    async fn paraphrases_hit_through_the_default_in_process_index() {
        let cache = cache();
        assert_eq!(ask(&cache, "What is the capital city of France?").await.0, "MISS");
        let (header, similarity) = ask(&cache, "what is the capital city of france").await;
        assert_eq!(header, "SEMANTIC_HIT");
        assert!(similarity.is_some_and(|s| s >= 0.9), "{similarity:?}");
        assert_eq!(ask(&cache, "How long should bread dough rise?").await.0, "MISS", "unrelated");
    }

    #[tokio::test]
    async fn a_failing_index_is_no_match_and_exact_hits_still_work() {
        let cache = cache().with_vector_index(Arc::new(Down));
        assert_eq!(ask(&cache, "What is the capital city of France?").await.0, "MISS", "stored, though not indexed");
        assert_eq!(ask(&cache, "What is the capital city of France?").await.0, "HIT", "found by its exact key");
        assert_eq!(ask(&cache, "what is the capital city of france").await.0, "MISS", "no match, not an error");
    }
}
