//! One contract suite for every `CacheStore`: `MemoryCache`, and `RedisCache` on the real Redis at
//! `SWITCHYARD_TEST_REDIS_URL` (skipped only when `SWITCHYARD_SKIP_REDIS` says why). Every test
//! builds its keys under its own random prefix. Redis keeps expiry in its own time, so the TTL
//! test sleeps for real (a few hundred ms). Then what only one backend has: the memory bound and
//! its LRU order; Redis's compressed stored form and its handling of a damaged value.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

#[macro_use]
#[path = "support/contract.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchyard_core::store::CacheStore;
use switchyard_store::{MemoryCache, RedisCache};

const HOUR: Duration = Duration::from_secs(3600);
/// The memory store's bound in the shared scenarios: room for the 1 MB value (an eighth of it).
const MEMORY_BYTES: usize = 64 << 20;

/// A store under test and a key prefix of its own.
struct Fixture {
    store: Arc<dyn CacheStore>,
    /// `None` for memory: its instances share the one store.
    redis_url: Option<String>,
    prefix: String,
}

impl Fixture {
    fn memory() -> Option<Self> {
        Some(Self { store: Arc::new(MemoryCache::new(MEMORY_BYTES)), redis_url: None, prefix: prefix() })
    }

    async fn redis() -> Option<Self> {
        let url = redis_url()?;
        Some(Self { store: Arc::new(connect(&url).await), redis_url: Some(url), prefix: prefix() })
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// `n` handles on the same entries, as `n` gateway instances would hold them: on Redis each
    /// with its own connection.
    async fn instances(&self, n: usize) -> Vec<Arc<dyn CacheStore>> {
        let mut out: Vec<Arc<dyn CacheStore>> = Vec::new();
        for _ in 0..n {
            match &self.redis_url {
                Some(url) => out.push(Arc::new(connect(url).await)),
                None => out.push(self.store.clone()),
            }
        }
        out
    }
}

fn redis_url() -> Option<String> {
    match std::env::var("SWITCHYARD_TEST_REDIS_URL") {
        Ok(url) => Some(url),
        Err(_) => match std::env::var("SWITCHYARD_SKIP_REDIS") {
            Ok(why) if !why.trim().is_empty() => {
                eprintln!("SKIPPED: Redis half of the cache contract (SWITCHYARD_SKIP_REDIS={why})");
                None
            }
            _ => {
                panic!("SWITCHYARD_TEST_REDIS_URL is not set; set it (e.g. redis://127.0.0.1:6379) or say why not in SWITCHYARD_SKIP_REDIS")
            }
        },
    }
}

async fn connect(url: &str) -> RedisCache {
    RedisCache::connect(url, Duration::from_secs(2)).await.unwrap_or_else(|e| panic!("Redis at {url}: {e}"))
}

/// A plain connection, to look at and damage what `RedisCache` stored.
async fn raw(url: &str) -> ::redis::aio::MultiplexedConnection {
    ::redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap()
}

fn prefix() -> String {
    format!("sytest:{}", uuid::Uuid::now_v7())
}

/// A cached chat completion of about `n` bytes: JSON, repetitive the way real answers are.
fn answer(n: usize) -> Bytes {
    let mut s =
        String::from(r#"{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":""#);
    let mut i = 0;
    while s.len() < n.saturating_sub(40) {
        s.push_str(&format!("The answer to question {i} is in section {}. ", i % 17));
        i += 1;
    }
    s.push_str(r#""},"finish_reason":"stop"}]}"#);
    Bytes::from(s)
}

fn random(n: usize) -> Bytes {
    let mut rng = fastrand::Rng::with_seed(n as u64);
    Bytes::from((0..n).map(|_| rng.u8(..)).collect::<Vec<u8>>())
}

contract!(
    binary_and_large_values_round_trip,
    entries_expire_after_their_ttl,
    delete_removes_only_its_key,
    put_overwrites,
    instances_see_each_others_entries,
    get_latency,
);

async fn binary_and_large_values_round_trip(f: Fixture) {
    let s = &f.store;
    let values = [
        ("empty", Bytes::new()),
        ("binary", Bytes::from_static(&[0, 255, 0, 1, 0xc3, 0x28, b'\n', 0])),
        ("json", answer(20_000)),
        ("random", random(30_000)),
        ("large-json", answer(1 << 20)),
        ("large-random", random(1 << 20)),
    ];
    for (name, value) in &values {
        s.put(&f.key(name), value.clone(), HOUR).await.unwrap();
    }
    for (name, value) in &values {
        assert_eq!(s.get(&f.key(name)).await.unwrap().as_ref(), Some(value), "{name}");
    }
    assert_eq!(s.get(&f.key("never-put")).await.unwrap(), None);
    // Keys are compared whole: one that extends another is a different entry.
    assert_eq!(s.get(&f.key("json:")).await.unwrap(), None);
    assert_eq!(s.get(&f.key("jso")).await.unwrap(), None);
}

async fn entries_expire_after_their_ttl(f: Fixture) {
    let s = &f.store;
    s.put(&f.key("short"), answer(2_000), Duration::from_millis(200)).await.unwrap();
    s.put(&f.key("long"), answer(2_000), HOUR).await.unwrap();
    let written = Instant::now();
    let early = s.get(&f.key("short")).await.unwrap();
    if written.elapsed() < Duration::from_millis(150) {
        assert_eq!(early, Some(answer(2_000)), "still there well inside its TTL");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.get(&f.key("short")).await.unwrap(), None, "gone after its TTL");
    assert_eq!(s.get(&f.key("long")).await.unwrap(), Some(answer(2_000)));
    // A zero TTL stores nothing and removes what was there.
    s.put(&f.key("long"), answer(10), Duration::ZERO).await.unwrap();
    assert_eq!(s.get(&f.key("long")).await.unwrap(), None);
    // Below a millisecond still stores (for at least that long), it is not an error.
    s.put(&f.key("tiny"), answer(10), Duration::from_micros(10)).await.unwrap();
}

async fn delete_removes_only_its_key(f: Fixture) {
    let s = &f.store;
    s.put(&f.key("a"), answer(100), HOUR).await.unwrap();
    s.put(&f.key("b"), answer(200), HOUR).await.unwrap();
    s.delete(&f.key("a")).await.unwrap();
    s.delete(&f.key("never-put")).await.unwrap();
    assert_eq!(s.get(&f.key("a")).await.unwrap(), None);
    assert_eq!(s.get(&f.key("b")).await.unwrap(), Some(answer(200)));
    s.put(&f.key("a"), answer(300), HOUR).await.unwrap();
    assert_eq!(s.get(&f.key("a")).await.unwrap(), Some(answer(300)), "a deleted key can be stored again");
}

async fn put_overwrites(f: Fixture) {
    let s = &f.store;
    s.put(&f.key("k"), answer(5_000), Duration::from_millis(200)).await.unwrap();
    s.put(&f.key("k"), random(50), HOUR).await.unwrap();
    assert_eq!(s.get(&f.key("k")).await.unwrap(), Some(random(50)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.get(&f.key("k")).await.unwrap(), Some(random(50)), "the new TTL replaced the old one");
}

async fn instances_see_each_others_entries(f: Fixture) {
    let [a, b]: [Arc<dyn CacheStore>; 2] = f.instances(2).await.try_into().ok().unwrap();
    a.put(&f.key("shared"), answer(10_000), HOUR).await.unwrap();
    assert_eq!(b.get(&f.key("shared")).await.unwrap(), Some(answer(10_000)));
    b.put(&f.key("shared"), answer(500), HOUR).await.unwrap();
    assert_eq!(a.get(&f.key("shared")).await.unwrap(), Some(answer(500)));
    b.delete(&f.key("shared")).await.unwrap();
    assert_eq!(a.get(&f.key("shared")).await.unwrap(), None);
}

/// Prints (does not assert) the cost of a hit on a 10 KB answer.
async fn get_latency(f: Fixture) {
    let s = &f.store;
    let key = f.key("hot");
    s.put(&key, answer(10_000), HOUR).await.unwrap();
    for _ in 0..50 {
        s.get(&key).await.unwrap();
    }
    let n = 2_000;
    let start = Instant::now();
    for _ in 0..n {
        assert!(s.get(&key).await.unwrap().is_some());
    }
    let backend = if f.redis_url.is_some() { "redis" } else { "memory" };
    println!("cache get, 10 KB value, {backend}: {:.1} µs", start.elapsed().as_secs_f64() * 1e6 / n as f64);
}

// ---- MemoryCache only ----

#[tokio::test]
async fn memory_bound_holds_and_evicts_least_recently_used() {
    let max = 100_000;
    let cache = MemoryCache::new(max);
    let p = prefix();
    let key = |i: usize| format!("{p}:{i:05}");
    cache.put(&key(0), answer(1_000), HOUR).await.unwrap();
    for i in 1..2_000 {
        cache.put(&key(i), answer(1_000), HOUR).await.unwrap();
        assert!(cache.used_bytes() <= max, "{} bytes after put {i}", cache.used_bytes());
        if i % 20 == 0 {
            assert!(cache.get(&key(0)).await.unwrap().is_some(), "entry 0, read every 20 puts, survives put {i}");
        }
    }
    assert!(cache.used_bytes() > max * 9 / 10, "the bound is used, not just respected: {}", cache.used_bytes());
    let per_entry = key(1999).len() + answer(1_000).len();
    assert_eq!(cache.len(), max / per_entry, "every key and value is the same size");
    assert_eq!(cache.get(&key(1)).await.unwrap(), None, "the coldest entries went first");
    assert_eq!(cache.get(&key(1999)).await.unwrap(), Some(answer(1_000)));

    // Entry 0 and the newest `n - 1` are left. Reading the coldest of those moves it to the warm
    // end: it survives the next eviction, its unread neighbour does not.
    let n = cache.len();
    let coldest = 2000 - (n - 1);
    assert_eq!(cache.get(&key(coldest - 1)).await.unwrap(), None);
    assert!(cache.get(&key(coldest)).await.unwrap().is_some());
    cache.put(&key(5_000), answer(1_000), HOUR).await.unwrap();
    assert!(cache.get(&key(coldest)).await.unwrap().is_some(), "entry {coldest} was read just before");
    assert_eq!(cache.get(&key(coldest + 1)).await.unwrap(), None, "entry {} was not", coldest + 1);
    assert_eq!(cache.len(), n);
}

#[tokio::test]
async fn memory_does_not_store_an_oversized_value_and_drops_the_old_one() {
    let cache = MemoryCache::new(80_000);
    cache.put("k", answer(1_000), HOUR).await.unwrap();
    cache.put("k", answer(10_500), HOUR).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), None, "more than an eighth of the bound is not kept, and the old value is stale");
    assert_eq!((cache.len(), cache.used_bytes()), (0, 0));
    cache.put("k", answer(9_000), HOUR).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), Some(answer(9_000)), "within an eighth is kept");
}

// ---- RedisCache only ----

#[tokio::test]
async fn redis_stores_values_compressed_behind_a_format_marker() {
    let Some(url) = redis_url() else { return };
    let cache = connect(&url).await;
    let key = format!("{}:big", prefix());
    let value = answer(50_000);
    cache.put(&key, value.clone(), HOUR).await.unwrap();
    let mut conn = raw(&url).await;
    let stored: Vec<u8> = ::redis::cmd("GET").arg(format!("switchyard:cache:{key}")).query_async(&mut conn).await.unwrap();
    assert_eq!(stored[0], 1, "marker of the LZ4 format");
    assert!(stored.len() * 4 < value.len(), "{} bytes stored for {}", stored.len(), value.len());
    let ttl_ms: i64 = ::redis::cmd("PTTL").arg(format!("switchyard:cache:{key}")).query_async(&mut conn).await.unwrap();
    assert!(ttl_ms > 3_500_000 && ttl_ms <= 3_600_000, "Redis keeps the TTL: {ttl_ms} ms");
    // What does not compress is stored as it is, behind its own marker.
    cache.put(&key, random(5_000), HOUR).await.unwrap();
    let stored: Vec<u8> = ::redis::cmd("GET").arg(format!("switchyard:cache:{key}")).query_async(&mut conn).await.unwrap();
    assert_eq!((stored[0], &stored[1..]), (0, &random(5_000)[..]));
    assert_eq!(cache.get(&key).await.unwrap(), Some(random(5_000)));
}

#[tokio::test]
async fn redis_reads_a_damaged_or_foreign_value_as_a_miss() {
    let Some(url) = redis_url() else { return };
    let cache = connect(&url).await;
    let mut conn = raw(&url).await;
    let p = prefix();
    let key = format!("{p}:k");
    cache.put(&key, answer(20_000), HOUR).await.unwrap();
    let stored: Vec<u8> = ::redis::cmd("GET").arg(format!("switchyard:cache:{key}")).query_async(&mut conn).await.unwrap();
    let truncated = stored[..stored.len() / 2].to_vec();
    let mut wrong_length = stored.clone();
    wrong_length[1..5].copy_from_slice(&40_000u32.to_le_bytes());
    let damaged: [(&str, Vec<u8>); 5] = [
        ("truncated", truncated),
        ("wrong stated length", wrong_length),
        ("unknown marker", b"\x07whatever a later release writes".to_vec()),
        ("empty", Vec::new()),
        ("huge stated length", vec![1, 0xff, 0xff, 0xff, 0x7f, 0]),
    ];
    for (what, bytes) in damaged {
        let _: () = ::redis::cmd("SET").arg(format!("switchyard:cache:{key}")).arg(bytes).query_async(&mut conn).await.unwrap();
        assert_eq!(cache.get(&key).await.unwrap(), None, "{what}");
    }
    // The next put repairs it.
    cache.put(&key, answer(20_000), HOUR).await.unwrap();
    assert_eq!(cache.get(&key).await.unwrap(), Some(answer(20_000)));
}

#[tokio::test]
async fn redis_connect_errors_do_not_show_the_password() {
    let err = RedisCache::connect("redis://user:s3cret-pw@127.0.0.1:1/0", Duration::from_millis(500))
        .await
        .err()
        .expect("nothing listens on port 1");
    let text = err.to_string();
    assert!(!text.contains("s3cret-pw"), "{text}");
    assert!(text.contains("127.0.0.1:1"), "names the server: {text}");
}
