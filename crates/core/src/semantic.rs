//! The semantic cache's parts that know neither HTTP nor storage: which text of a request is
//! embedded, the scope an entry is visible in, and the in-process vector index (the default
//! `VectorIndex`; pgvector is the other) that finds the nearest earlier question. The index answers "which cache entry", never the answer itself: the
//! caller reads the entry from the cache store by the key it gets back.
//!
//! Size: a lookup is a linear scan of one scope (cosine over normalised vectors, so one dot
//! product per entry): at most `max_per_scope` entries × the embedding's dimensions multiply-adds
//! — 2,048 × 1,536 ≈ 3 M, about a millisecond — under a read lock that inserts wait for. Memory is
//! `max_entries` × dimensions × 4 bytes (100,000 × 1,536 ≈ 600 MB: size it to the model).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use crate::store::{StoreError, VectorIndex};
use sha2::{Digest, Sha256};
use switchyard_protocol::openai::{ChatRequest, MessageContent};

/// The scope of an entry: a hash of the tenant, the model asked for, the system prompt and the
/// customer (when the cache is per customer). Each part is length-prefixed and an absent customer
/// differs from an empty one, so no two different tuples share a scope.
pub fn semantic_scope(tenant: &str, model: &str, system_prompt: &str, customer: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(b"switchyard-semantic-v1");
    for part in [Some(tenant), Some(model), Some(system_prompt), customer] {
        match part {
            Some(p) => {
                h.update([1]);
                h.update((p.len() as u64).to_le_bytes());
                h.update(p.as_bytes());
            }
            None => h.update([0]),
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The text a request is matched on: the last message, when it is a user message of text only
/// and the conversation has no earlier assistant turn (a follow-up such as "and tomorrow?" means
/// something else in every conversation). `None` (no semantic lookup or store) for anything
/// else, and for any conversation with tools —
/// offered tools, tool calls or tool results: a tool call's arguments come from the exact wording
/// (`weather in Paris` vs `weather in Lyon` embed close), so reusing them for a neighbour is wrong.
pub fn query_text(request: &ChatRequest) -> Option<String> {
    if request.contains("tools") || request.contains("functions") {
        return None;
    }
    let messages = request.messages();
    if messages
        .iter()
        .any(|m| m.role == "tool" || m.role == "function" || m.role == "assistant" || m.tool_calls.as_ref().is_some_and(|c| !c.is_empty()))
    {
        return None;
    }
    let last = messages.last().filter(|m| m.role == "user")?;
    let text_only = match &last.content {
        Some(MessageContent::Text(_)) => true,
        Some(MessageContent::Parts(parts)) => parts.iter().all(|p| p.kind == "text"),
        None => false,
    };
    let text = last.text();
    (text_only && !text.trim().is_empty()).then_some(text)
}

/// The system and developer messages, in order, joined by blank lines (for `semantic_scope`).
pub fn system_prompt(request: &ChatRequest) -> String {
    let parts: Vec<String> = request.messages().iter().filter(|m| m.role == "system" || m.role == "developer").map(|m| m.text()).collect();
    parts.join("\n\n")
}

/// The first vector of an OpenAI embeddings answer (`encoding_format: "float"`).
pub fn first_embedding(body: &[u8]) -> Option<Vec<f32>> {
    #[derive(serde::Deserialize)]
    struct List {
        data: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        embedding: Vec<f32>,
    }
    let list: List = serde_json::from_slice(body).ok()?;
    list.data.into_iter().next().map(|i| i.embedding).filter(|v| !v.is_empty())
}

struct Entry {
    seq: u64,
    key: String,
    expires_at_ms: i64,
    /// Unit length.
    vector: Vec<f32>,
}

#[derive(Default)]
struct Inner {
    scopes: HashMap<Arc<str>, VecDeque<Entry>>,
    /// Every live entry by insertion number: the first is the oldest, evicted when full.
    order: BTreeMap<u64, Arc<str>>,
    next_seq: u64,
}

/// Vectors by scope, in process. Bounded: at most `max_entries` in all and `max_per_scope` in one
/// scope (which bounds a lookup's scan); the oldest entry goes first when either is reached.
/// Expired entries are skipped by lookups and removed by inserts.
pub struct SemanticIndex {
    max_entries: usize,
    max_per_scope: usize,
    inner: RwLock<Inner>,
}

impl SemanticIndex {
    pub fn new(max_entries: usize, max_per_scope: usize) -> Self {
        Self { max_entries: max_entries.max(1), max_per_scope: max_per_scope.max(1), inner: RwLock::default() }
    }

    /// Stores `vector` (normalised here) for `entry_key` in `scope`, replacing an entry with the
    /// same key. False when the vector has no direction (all zeros or not finite).
    pub fn insert(&self, scope: &str, mut vector: Vec<f32>, entry_key: String, expires_at_ms: i64, now_ms: i64) -> bool {
        if !normalise(&mut vector) {
            return false;
        }
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let inner = &mut *inner;
        let scope: Arc<str> = inner.scopes.get_key_value(scope).map(|(k, _)| k.clone()).unwrap_or_else(|| Arc::from(scope));
        let entries = inner.scopes.entry(scope.clone()).or_default();
        entries.retain(|e| {
            let keep = e.expires_at_ms > now_ms && e.key != entry_key;
            if !keep {
                inner.order.remove(&e.seq);
            }
            keep
        });
        if entries.len() >= self.max_per_scope {
            if let Some(oldest) = entries.pop_front() {
                inner.order.remove(&oldest.seq);
            }
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        entries.push_back(Entry { seq, key: entry_key, expires_at_ms, vector });
        inner.order.insert(seq, scope);
        while inner.order.len() > self.max_entries {
            let Some((seq, scope)) = inner.order.pop_first() else {
                break;
            };
            if let Some(entries) = inner.scopes.get_mut(&scope) {
                // Entries are in insertion order, so the oldest overall is the front of its scope.
                if entries.front().is_some_and(|e| e.seq == seq) {
                    entries.pop_front();
                }
                if entries.is_empty() {
                    inner.scopes.remove(&scope);
                }
            }
        }
        true
    }

    /// The entry in `scope` most similar to `vector` (cosine), if at least `threshold` and not
    /// expired at `now_ms`.
    pub fn nearest(&self, scope: &str, vector: &[f32], threshold: f32, now_ms: i64) -> Option<(String, f32)> {
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        if !(norm.is_finite() && norm > 0.0) {
            return None;
        }
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let mut best: Option<(&Entry, f32)> = None;
        // An entry from another embedding model (other dimensions) is never comparable.
        for e in inner.scopes.get(scope)?.iter().filter(|e| e.expires_at_ms > now_ms && e.vector.len() == vector.len()) {
            let similarity = e.vector.iter().zip(vector).map(|(a, b)| a * b).sum::<f32>() / norm;
            if similarity >= threshold && best.is_none_or(|(_, s)| similarity > s) {
                best = Some((e, similarity));
            }
        }
        best.map(|(e, s)| (e.key.clone(), s))
    }

    /// Live and not yet pruned entries, in all scopes.
    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The in-process index behind the storage trait: every call is answered at once, never fails.
#[async_trait::async_trait]
impl VectorIndex for SemanticIndex {
    async fn insert(&self, scope: &str, vector: Vec<f32>, entry_key: String, expires_at_ms: i64, now_ms: i64) -> Result<bool, StoreError> {
        Ok(SemanticIndex::insert(self, scope, vector, entry_key, expires_at_ms, now_ms))
    }

    async fn nearest(&self, scope: &str, vector: &[f32], threshold: f32, now_ms: i64) -> Result<Option<(String, f32)>, StoreError> {
        Ok(SemanticIndex::nearest(self, scope, vector, threshold, now_ms))
    }
}

fn normalise(v: &mut [f32]) -> bool {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_providers::mock::embed::{embed, DEFAULT_DIMENSIONS};

    const THRESHOLD: f32 = 0.92;
    const LATER: i64 = 1_000_000;

    fn v(text: &str) -> Vec<f32> {
        embed(text, DEFAULT_DIMENSIONS)
    }

    fn request(body: serde_json::Value) -> ChatRequest {
        ChatRequest::parse(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_paraphrase_finds_the_entry_and_an_unrelated_question_does_not() {
        let index = SemanticIndex::new(100, 100);
        let scope = semantic_scope("team:a", "gpt-4o-mini", "", None);
        assert!(index.insert(&scope, v("How do I reset my password?"), "k-password".into(), LATER, 0));
        assert!(index.insert(&scope, v("Write a haiku about autumn leaves"), "k-haiku".into(), LATER, 0));
        let (key, similarity) = index.nearest(&scope, &v("how can I reset my password"), THRESHOLD, 1).unwrap();
        assert_eq!(key, "k-password");
        assert!(similarity > 0.95 && similarity <= 1.0001, "{similarity}");
        assert_eq!(index.nearest(&scope, &v("How do I reset my router?"), THRESHOLD, 1), None);
        assert_eq!(index.nearest(&scope, &v("What is the capital of France?"), THRESHOLD, 1), None);
        // Not normalised by the caller: the similarity is still a cosine.
        let scaled: Vec<f32> = v("write me a haiku about the autumn leaves").iter().map(|x| x * 7.0).collect();
        assert_eq!(index.nearest(&scope, &scaled, THRESHOLD, 1).map(|(k, _)| k).as_deref(), Some("k-haiku"));
    }

    #[test]
    fn other_scopes_are_never_returned() {
        let index = SemanticIndex::new(100, 100);
        let question = v("How do I reset my password?");
        let mine = semantic_scope("team:a", "m", "You are terse.", Some("c1"));
        index.insert(&mine, question.clone(), "k".into(), LATER, 0);
        for other in [
            semantic_scope("team:b", "m", "You are terse.", Some("c1")),
            semantic_scope("team:a", "m2", "You are terse.", Some("c1")),
            semantic_scope("team:a", "m", "You are verbose.", Some("c1")),
            semantic_scope("team:a", "m", "You are terse.", Some("c2")),
            semantic_scope("team:a", "m", "You are terse.", None),
        ] {
            assert_ne!(other, mine);
            assert_eq!(index.nearest(&other, &question, 0.0, 1), None);
        }
        assert!(index.nearest(&mine, &question, 0.99, 1).is_some());
    }

    #[test]
    fn scopes_are_unambiguous() {
        assert_ne!(semantic_scope("ab", "c", "", None), semantic_scope("a", "bc", "", None));
        assert_ne!(semantic_scope("a", "b", "", Some("")), semantic_scope("a", "b", "", None));
        assert_eq!(semantic_scope("a", "b", "s", Some("c")), semantic_scope("a", "b", "s", Some("c")));
        assert_eq!(semantic_scope("a", "b", "s", None).len(), 64);
    }

    #[test]
    fn expired_entries_are_ignored_and_pruned() {
        let index = SemanticIndex::new(100, 100);
        index.insert("s", v("How do I reset my password?"), "old".into(), 100, 0);
        assert!(index.nearest("s", &v("How do I reset my password?"), THRESHOLD, 99).is_some());
        assert_eq!(index.nearest("s", &v("How do I reset my password?"), THRESHOLD, 100), None);
        index.insert("s", v("Write a haiku about autumn leaves"), "new".into(), LATER, 150);
        assert_eq!(index.len(), 1, "the expired entry was pruned by the insert");
        // The same key stored again replaces its entry rather than adding one.
        index.insert("s", v("Write a haiku about autumn leaves"), "new".into(), LATER, 160);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn the_index_is_bounded_and_the_oldest_goes_first() {
        let index = SemanticIndex::new(3, 2);
        let texts = ["reset my password", "capital of France", "haiku about autumn", "sourdough bread recipe"];
        for (i, t) in texts.iter().enumerate() {
            index.insert(if i < 3 { "a" } else { "b" }, v(t), format!("k{i}"), LATER, 0);
        }
        // Scope `a` holds at most 2: k0 went when k2 came; the whole index holds at most 3.
        assert_eq!(index.len(), 3);
        assert_eq!(index.nearest("a", &v(texts[0]), THRESHOLD, 1), None);
        assert!(index.nearest("a", &v(texts[1]), THRESHOLD, 1).is_some());
        index.insert("c", v("tcp versus udp"), "k4".into(), LATER, 0);
        assert_eq!(index.len(), 3);
        assert_eq!(index.nearest("a", &v(texts[1]), THRESHOLD, 1), None, "k1 was the oldest overall");
        for (scope, i) in [("a", 2), ("b", 3)] {
            assert_eq!(index.nearest(scope, &v(texts[i]), THRESHOLD, 1).map(|(k, _)| k), Some(format!("k{i}")));
        }
        assert!(!index.insert("a", vec![0.0; DEFAULT_DIMENSIONS], "zero".into(), LATER, 0));
        assert_eq!(index.nearest("a", &v(texts[2])[..8], 0.0, 1), None, "other dimensions never compare");
    }

    #[test]
    fn the_query_text_is_the_last_user_message_of_a_conversation_without_tools() {
        let q = |messages: serde_json::Value| query_text(&request(serde_json::json!({"model": "m", "messages": messages})));
        let system = serde_json::json!({"role": "system", "content": "You are terse."});
        assert_eq!(q(serde_json::json!([system, {"role": "user", "content": "Reset my password"}])).as_deref(), Some("Reset my password"));
        let parts = serde_json::json!([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]);
        assert_eq!(q(parts).as_deref(), Some("a b"));
        let image = serde_json::json!([{"role": "user", "content": [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]);
        assert_eq!(q(image), None, "the text alone does not say what was asked");
        assert_eq!(q(serde_json::json!([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])), None);
        assert_eq!(q(serde_json::json!([{"role": "user", "content": "  "}])), None);
        let tool_turns = serde_json::json!([
            {"role": "user", "content": "weather in Paris"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "user", "content": "and tomorrow?"}
        ]);
        assert_eq!(q(tool_turns), None);
        let offered = request(
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "weather in Paris"}], "tools": [{"type": "function", "function": {"name": "weather"}}]}),
        );
        assert_eq!(query_text(&offered), None);
    }

    #[test]
    fn the_system_prompt_joins_system_and_developer_messages() {
        let r = request(serde_json::json!({"model": "m", "messages": [
            {"role": "system", "content": "One."}, {"role": "developer", "content": "Two."}, {"role": "user", "content": "q"}
        ]}));
        assert_eq!(system_prompt(&r), "One.\n\nTwo.");
        assert_eq!(system_prompt(&request(serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "q"}]}))), "");
    }

    #[test]
    fn reads_the_first_vector_of_an_embeddings_answer() {
        let body = switchyard_testkit::fixture_bytes("openai/embeddings-float.json");
        assert_eq!(first_embedding(&body), Some(vec![0.0057293195, -0.012727811, 0.020042092, -0.013437585, 0.022833068]));
        assert_eq!(first_embedding(br#"{"data":[]}"#), None);
        assert_eq!(first_embedding(b"nope"), None);
    }
}
