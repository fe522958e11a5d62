//! One contract suite for every `VectorIndex`: the in-process `SemanticIndex` (switchyard-core)
//! and `PgVectorIndex` on the PostgreSQL with pgvector at `SWITCHYARD_TEST_PGVECTOR_URL` (skipped
//! only when `SWITCHYARD_SKIP_PGVECTOR` says why), each pgvector test in a fresh schema while the
//! extension stays in `public`. The vectors are the mock provider's embeddings of real questions,
//! so "a paraphrase" is what the gateway would see. Then what only pgvector has: instances
//! sharing entries, expired rows purged, calls on a hung database bounded by the timeout, and a
//! PostgreSQL without pgvector named as such.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

#[path = "support/services.rs"]
mod services;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use switchyard_core::semantic::SemanticIndex;
use switchyard_core::store::VectorIndex;
use switchyard_providers::mock::embed::{embed, DEFAULT_DIMENSIONS};
use switchyard_store::PgVectorIndex;

const THRESHOLD: f32 = 0.92;
const LATER: i64 = 4_000_000_000_000;

/// Runs each scenario against every index.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Fixture::memory()).await
            })*
        }
        mod pgvector {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(f) = super::Fixture::pgvector().await { super::$name(f).await }
            })*
        }
    };
}

struct Fixture {
    index: Arc<dyn VectorIndex>,
    /// Only for pgvector.
    schema: Option<PgSchema>,
}

impl Fixture {
    fn memory() -> Self {
        Self { index: Arc::new(SemanticIndex::new(1000, 1000)), schema: None }
    }

    async fn pgvector() -> Option<Self> {
        let schema = PgSchema::create().await?;
        let index = PgVectorIndex::connect(&schema.url).await.unwrap_or_else(|e| panic!("connect pgvector: {e}"));
        Some(Self { index: Arc::new(index), schema: Some(schema) })
    }
}

fn v(text: &str) -> Vec<f32> {
    embed(text, DEFAULT_DIMENSIONS)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |x: &[f32]| x.iter().map(|y| y * y).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

async fn nearest(index: &dyn VectorIndex, scope: &str, text: &str, threshold: f32, now: i64) -> Option<String> {
    index.nearest(scope, &v(text), threshold, now).await.expect("nearest").map(|(key, _)| key)
}

async fn insert(index: &dyn VectorIndex, scope: &str, text: &str, key: &str, expires_at_ms: i64, now: i64) {
    assert!(index.insert(scope, v(text), key.into(), expires_at_ms, now).await.expect("insert"), "stored {key}");
}

contract!(
    paraphrases_above_the_threshold_hit_and_unrelated_prompts_miss,
    other_scopes_are_never_returned,
    expired_entries_are_not_found,
    a_key_stored_again_replaces_its_vector,
    other_dimensions_and_empty_vectors_never_match,
);

async fn paraphrases_above_the_threshold_hit_and_unrelated_prompts_miss(f: Fixture) {
    let index = &*f.index;
    insert(index, "s", "How do I reset my password?", "k-password", LATER, 0).await;
    insert(index, "s", "Write a haiku about autumn leaves", "k-haiku", LATER, 0).await;
    let (key, similarity) = index.nearest("s", &v("how can I reset my password"), THRESHOLD, 1).await.unwrap().expect("a paraphrase hits");
    assert_eq!(key, "k-password");
    let expected = cosine(&v("How do I reset my password?"), &v("how can I reset my password"));
    assert!(expected >= THRESHOLD && (similarity - expected).abs() < 1e-4, "similarity {similarity}, cosine {expected}");
    // Not normalised by the caller: still a cosine.
    let scaled: Vec<f32> = v("write me a haiku about the autumn leaves").iter().map(|x| x * 7.0).collect();
    assert_eq!(index.nearest("s", &scaled, THRESHOLD, 1).await.unwrap().map(|(k, _)| k).as_deref(), Some("k-haiku"));
    for unrelated in ["How do I reset my router?", "What is the capital of France?", "sourdough bread recipe"] {
        assert_eq!(nearest(index, "s", unrelated, THRESHOLD, 1).await, None, "{unrelated}");
    }
    // The threshold is the caller's: the nearest entry is returned at any lower bar.
    let close = cosine(&v("How do I reset my router?"), &v("How do I reset my password?"));
    assert!(close < THRESHOLD);
    assert_eq!(nearest(index, "s", "How do I reset my router?", close - 0.01, 1).await.as_deref(), Some("k-password"));
}

async fn other_scopes_are_never_returned(f: Fixture) {
    let index = &*f.index;
    insert(index, "mine", "How do I reset my password?", "k", LATER, 0).await;
    for other in ["mine2", "min", "MINE", ""] {
        assert_eq!(nearest(index, other, "How do I reset my password?", 0.0, 1).await, None, "{other:?}");
    }
    assert_eq!(nearest(index, "mine", "How do I reset my password?", 0.99, 1).await.as_deref(), Some("k"));
}

async fn expired_entries_are_not_found(f: Fixture) {
    let index = &*f.index;
    insert(index, "s", "How do I reset my password?", "old", 100, 0).await;
    assert_eq!(nearest(index, "s", "How do I reset my password?", THRESHOLD, 99).await.as_deref(), Some("old"));
    assert_eq!(nearest(index, "s", "How do I reset my password?", THRESHOLD, 100).await, None);
    // Indexed again with a later expiry: found again.
    insert(index, "s", "How do I reset my password?", "old", 300, 150).await;
    assert_eq!(nearest(index, "s", "How do I reset my password?", THRESHOLD, 200).await.as_deref(), Some("old"));
}

async fn a_key_stored_again_replaces_its_vector(f: Fixture) {
    let index = &*f.index;
    insert(index, "s", "How do I reset my password?", "k", LATER, 0).await;
    insert(index, "s", "Write a haiku about autumn leaves", "k", LATER, 1).await;
    assert_eq!(nearest(index, "s", "How do I reset my password?", THRESHOLD, 2).await, None, "the old vector is gone");
    assert_eq!(nearest(index, "s", "Write a haiku about autumn leaves", THRESHOLD, 2).await.as_deref(), Some("k"));
}

async fn other_dimensions_and_empty_vectors_never_match(f: Fixture) {
    let index = &*f.index;
    insert(index, "s", "How do I reset my password?", "k256", LATER, 0).await;
    let short = embed("How do I reset my password?", 8);
    assert!(index.insert("s", short.clone(), "k8".into(), LATER, 0).await.unwrap());
    // Each length finds only its own kind, and neither errors.
    assert_eq!(nearest(index, "s", "how can I reset my password", THRESHOLD, 1).await.as_deref(), Some("k256"));
    assert_eq!(index.nearest("s", &short, 0.99, 1).await.unwrap().map(|(k, _)| k).as_deref(), Some("k8"));
    assert_eq!(index.nearest("s", &embed("reset password", 16), -1.0, 1).await.unwrap(), None);
    assert!(!index.insert("s", vec![0.0; DEFAULT_DIMENSIONS], "zero".into(), LATER, 0).await.unwrap(), "no direction");
    assert!(!index.insert("s", vec![f32::NAN; DEFAULT_DIMENSIONS], "nan".into(), LATER, 0).await.unwrap(), "not finite");
    assert_eq!(index.nearest("s", &vec![0.0; DEFAULT_DIMENSIONS], -1.0, 1).await.unwrap(), None);
}

// ---- pgvector only ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgvector_instances_share_their_entries() {
    let Some(f) = Fixture::pgvector().await else { return };
    let other = PgVectorIndex::connect(&f.schema.as_ref().unwrap().url).await.unwrap();
    insert(&*f.index, "s", "What is the capital city of France?", "k", LATER, 0).await;
    assert_eq!(nearest(&other, "s", "what is the capital city of france", THRESHOLD, 1).await.as_deref(), Some("k"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgvector_inserts_purge_expired_rows() {
    let Some(f) = Fixture::pgvector().await else { return };
    let schema = f.schema.as_ref().unwrap();
    for i in 0..5 {
        insert(&*f.index, &format!("scope{i}"), "How do I reset my password?", &format!("old{i}"), 100, 0).await;
    }
    assert_eq!(schema.count("expires_at_ms <= 100").await, 5);
    insert(&*f.index, "fresh", "Write a haiku about autumn leaves", "new", LATER, 200).await;
    assert_eq!(schema.count("expires_at_ms <= 200").await, 0, "every expired row, in any scope, was deleted");
    assert_eq!(schema.count("true").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_without_pgvector_is_named() {
    let url = match std::env::var("SWITCHYARD_TEST_POSTGRES_URL") {
        Ok(url) => url,
        Err(_) => return eprintln!("SKIPPED: needs the plain PostgreSQL of SWITCHYARD_TEST_POSTGRES_URL"),
    };
    let available: i64 =
        admin(&url).await.query_one("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'", &[]).await.unwrap().get(0);
    if available > 0 {
        return eprintln!("SKIPPED: the PostgreSQL at SWITCHYARD_TEST_POSTGRES_URL has pgvector");
    }
    let error = PgVectorIndex::connect(&url).await.err().expect("no pgvector, no index").to_string();
    assert!(error.contains("pgvector is not installed on this PostgreSQL"), "{error}");
    assert!(error.contains("postgres://"), "names the database: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgvector_calls_on_a_hung_database_end_within_the_timeout_and_recover() {
    let Some(schema) = PgSchema::create().await else { return };
    let host_port = schema.url.split('@').nth(1).and_then(|r| r.split('/').next()).expect("host:port in the URL").to_string();
    let proxy = FreezableProxy::start(&host_port).await;
    let url = schema.url.replacen(&host_port, &format!("127.0.0.1:{}", proxy.port), 1);
    let limit = Duration::from_millis(300);
    let index = PgVectorIndex::connect_with_timeout(&url, limit).await.unwrap();
    insert(&index, "s", "How do I reset my password?", "k", LATER, 0).await;

    // Connections stay open but nothing comes back: the worst kind of outage.
    proxy.freeze(true);
    for _ in 0..3 {
        let started = Instant::now();
        let error = index.nearest("s", &v("how can I reset my password"), THRESHOLD, 1).await.expect_err("no answer is an error");
        assert!(started.elapsed() < limit * 3, "took {:?}", started.elapsed());
        assert!(error.to_string().contains("no answer within"), "{error}");
        assert!(index.insert("s", v("Write a haiku about autumn leaves"), "k2".into(), LATER, 0).await.is_err());
    }
    proxy.freeze(false);
    for _ in 0..8 {
        assert_eq!(
            nearest(&index, "s", "how can I reset my password", THRESHOLD, 1).await.as_deref(),
            Some("k"),
            "every connection is usable again"
        );
    }
}

/// A TCP proxy that can hold every byte in both directions (connections stay open, answers never
/// come) and let them through again.
struct FreezableProxy {
    port: u16,
    frozen: tokio::sync::watch::Sender<bool>,
}

impl FreezableProxy {
    async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (frozen, rx) = tokio::sync::watch::channel(false);
        let target = target.to_string();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(&target).await else { continue };
                let ((in_read, in_write), (out_read, out_write)) = (inbound.into_split(), outbound.into_split());
                tokio::spawn(pump(in_read, out_write, rx.clone()));
                tokio::spawn(pump(out_read, in_write, rx.clone()));
            }
        });
        Self { port, frozen }
    }

    fn freeze(&self, on: bool) {
        self.frozen.send_replace(on);
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut frozen: tokio::sync::watch::Receiver<bool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.wait_for(|on| !on).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn pgvector_url() -> Option<String> {
    services::required_url(
        "SWITCHYARD_TEST_PGVECTOR_URL",
        "SWITCHYARD_SKIP_PGVECTOR",
        "the pgvector half of the vector index contract",
        "scripts/test.sh starts PostgreSQL with pgvector and sets it",
    )
}

/// A fresh schema; `url` connects with it as the search path. The extension is created in
/// `public` first, so that dropping a test's schema never drops it under another test.
struct PgSchema {
    name: String,
    url: String,
    admin_url: String,
}

impl PgSchema {
    async fn create() -> Option<Self> {
        let admin_url = pgvector_url()?;
        let name = format!("sy_vec_{:016x}", fastrand::u64(..));
        let setup = format!(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtext('switchyard.semantic_entries')); CREATE EXTENSION IF NOT EXISTS vector SCHEMA public; COMMIT; \
             CREATE SCHEMA {name};"
        );
        admin(&admin_url).await.batch_execute(&setup).await.expect("create the extension and a test schema");
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{sep}options=-c%20search_path%3D{name}");
        Some(Self { name, url, admin_url })
    }

    async fn count(&self, condition: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {}.semantic_entries WHERE {condition}", self.name);
        admin(&self.admin_url).await.query_one(&sql, &[]).await.expect("count rows").get(0)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, sql) = (self.admin_url.clone(), format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        // Drop runs inside the test's runtime, where the blocking client may not run.
        let dropped = std::thread::spawn(move || postgres::Client::connect(&url, postgres::NoTls)?.batch_execute(&sql)).join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}", self.name);
        }
    }
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect to the test PostgreSQL");
    tokio::spawn(connection);
    client
}
