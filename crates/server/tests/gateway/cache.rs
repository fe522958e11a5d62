//! The response cache through the real binary: exact hits scoped by tenant and customer,
//! streams stored and replayed in either direction, single flight, Redis shared by instances,
//! and hits logged as free with what they saved.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};
use switchyard_testkit::{fixture_reply, Accumulated, FakeUpstream, GatewayProcess, Reply};

use crate::common::*;
use crate::governance::{admin, create_key, redis_url, ADMIN_KEY};

fn cached_model(base_url: &str, extra: &str) -> String {
    format!(
        "providers:\n  up: {{ type: openai, base_url: \"{base_url}\", api_key: sk-upstream-123 }}\nmodels:\n  bot:\n    targets: [ {{ provider: up, model: gpt-4o-mini }} ]\n    cache: {{ enabled: true }}\n{extra}"
    )
}

fn ask(content: &str) -> Value {
    json!({"model": "bot", "temperature": 0, "messages": [{"role": "user", "content": content}]})
}

async fn send(gw: &GatewayProcess, body: &Value, headers: &[(&str, &str)]) -> (String, Value, reqwest::header::HeaderMap) {
    let mut request = client().post(format!("{}/chat/completions", gw.base_url())).json(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let r = request.send().await.unwrap();
    assert_eq!(r.status(), 200);
    let headers = r.headers().clone();
    let status = headers.get("x-switchyard-cache").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body, headers)
}

#[tokio::test]
async fn identical_requests_hit_scoped_by_customer_and_tenant_and_refreshable() {
    let up = FakeUpstream::start_repeating(fixture_reply("openai/text.json")).await;
    let config = format!("admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\n{}", cached_model(&up.base_url(), ""));
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let (first, original, _) = send(&gw, &ask("hello"), &[]).await;
    let (second, again, headers) = send(&gw, &ask("hello"), &[]).await;
    assert_eq!((first.as_str(), second.as_str()), ("MISS", "HIT"));
    assert_eq!(up.request_count(), 1);
    assert_eq!(original, again, "a hit is the original answer");
    assert_eq!(headers["x-switchyard-cost-usd"], "0.00000000");

    // Field order and whitespace do not matter; stream does not either (covered below).
    let reordered = json!({"messages": [{"content": "hello", "role": "user"}], "temperature": 0.0, "model": "bot"});
    assert_eq!(send(&gw, &reordered, &[]).await.0, "HIT");
    // Not deterministic and not asked: not cached. Asked: cached.
    let creative = json!({"model": "bot", "temperature": 0.9, "messages": [{"role": "user", "content": "hello"}]});
    assert_eq!(send(&gw, &creative, &[]).await.0, "BYPASS");
    let mut asked = creative.clone();
    asked["cache_enabled"] = json!(true);
    assert_eq!(send(&gw, &asked, &[]).await.0, "MISS");
    assert_eq!(send(&gw, &asked, &[]).await.0, "HIT");

    // Per customer when asked: another customer misses, the same one hits.
    let for_customer = |c: &str| {
        let mut b = ask("hello");
        b["customer_identifier"] = json!(c);
        b["cache_options"] = json!({"cache_by_customer": true});
        b
    };
    assert_eq!(send(&gw, &for_customer("acme"), &[]).await.0, "MISS");
    assert_eq!(send(&gw, &for_customer("globex"), &[]).await.0, "MISS");
    assert_eq!(send(&gw, &for_customer("acme"), &[]).await.0, "HIT");

    // Another tenant (a key of another team) never sees this tenant's entry.
    let (_, key_a) = create_key(&gw, json!({"name": "a", "team": "team-a"})).await;
    let (_, key_b) = create_key(&gw, json!({"name": "b", "team": "team-b"})).await;
    let bearer = |k: &str| format!("Bearer {k}");
    assert_eq!(send(&gw, &ask("tenant"), &[("authorization", &bearer(&key_a))]).await.0, "MISS");
    assert_eq!(send(&gw, &ask("tenant"), &[("authorization", &bearer(&key_a))]).await.0, "HIT");
    assert_eq!(send(&gw, &ask("tenant"), &[("authorization", &bearer(&key_b))]).await.0, "MISS");
    assert_eq!(send(&gw, &ask("tenant"), &[]).await.0, "MISS", "the anonymous tenant is another tenant");
    // A key that may not use the model gets no cached answer of it either.
    let (_, narrow) = create_key(&gw, json!({"name": "narrow", "team": "team-a", "models": ["other"]})).await;
    let r = client().post(format!("{}/chat/completions", gw.base_url())).bearer_auth(&narrow).json(&ask("tenant")).send().await.unwrap();
    assert_eq!(r.status(), 403);

    // Cache-Control: no-store bypasses, no-cache refreshes.
    let calls = up.request_count();
    assert_eq!(send(&gw, &ask("hello"), &[("cache-control", "no-store")]).await.0, "BYPASS");
    assert_eq!(send(&gw, &ask("hello"), &[("cache-control", "no-cache")]).await.0, "MISS");
    assert_eq!(up.request_count(), calls + 2);
    assert_eq!(send(&gw, &ask("hello"), &[]).await.0, "HIT");
}

#[tokio::test]
async fn streams_are_stored_and_replayed_and_serve_either_kind_of_request() {
    let up = FakeUpstream::start(vec![fixture_reply("openai/tool-call-parallel-stream.sse"), fixture_reply("openai/text.json")]).await;
    let gw = GatewayProcess::spawn(bin(), &cached_model(&up.base_url(), "")).await;
    let mut streamed = ask("weather in two cities");
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (status, original, _) = send(&gw, &streamed, &[]).await;
    assert_eq!(status, "MISS");
    let (status, replay, _) = send(&gw, &streamed, &[]).await;
    assert_eq!(status, "HIT");
    let (a, b) = (accumulate(&original), accumulate(&replay));
    assert_eq!((a.text, a.calls.clone(), a.finish.clone()), (b.text, b.calls, b.finish), "the replay accumulates to the original");
    assert!(a.calls.len() >= 2 && b.index_errors.is_empty(), "{:?}", b.index_errors);
    assert_eq!(a.usage.as_ref().map(|u| u["total_tokens"].clone()), b.usage.as_ref().map(|u| u["total_tokens"].clone()));

    // The same request not streamed is served from the stream's entry.
    let (status, body, _) = send(&gw, &ask("weather in two cities"), &[]).await;
    assert_eq!(status, "HIT");
    assert_eq!(body["choices"][0]["message"]["tool_calls"].as_array().unwrap().len(), a.calls.len());

    // A non-streamed entry replays as a stream.
    assert_eq!(send(&gw, &ask("plain"), &[]).await.0, "MISS");
    let mut plain_stream = ask("plain");
    plain_stream["stream"] = json!(true);
    let (status, replay, _) = send(&gw, &plain_stream, &[]).await;
    assert_eq!(status, "HIT");
    assert!(!accumulate(&replay).text.is_empty());
    assert!(replay.as_str().unwrap().ends_with("data: [DONE]\n\n"));
    assert_eq!(up.request_count(), 2);
}

fn accumulate(sse: &Value) -> Accumulated {
    let text = sse.as_str().expect("an SSE body");
    let events = sse_data(text);
    Accumulated::from_chunks(events.iter().filter(|e| *e != "[DONE]").map(|e| e.as_bytes()))
}

#[tokio::test]
async fn failed_and_cut_answers_are_never_stored() {
    // The 500 is retried once; the stream is cut after content reached the client (no retry).
    let up = FakeUpstream::start(vec![
        Reply::openai_error(500, "boom", "server_error", "x"),
        Reply::openai_error(500, "boom", "server_error", "x"),
        Reply::drop_after_events(4, switchyard_testkit::fixture_bytes("openai/text-stream.sse")),
        fixture_reply("openai/text.json"),
    ])
    .await;
    let gw = GatewayProcess::spawn(bin(), &cached_model(&up.base_url(), "")).await;
    let r = post(&gw, &ask("x")).await;
    assert_eq!(r.status(), 502);
    let mut streamed = ask("x");
    streamed["stream"] = json!(true);
    let cut = post(&gw, &streamed).await.text().await.unwrap();
    assert!(cut.contains("\"error\"") && !cut.contains("[DONE]"), "{cut}");
    assert_eq!(send(&gw, &ask("x"), &[]).await.0, "MISS", "neither the error nor the cut stream was stored");
    assert_eq!(send(&gw, &ask("x"), &[]).await.0, "HIT");
    assert_eq!(up.request_count(), 4);
}

#[tokio::test]
async fn a_hundred_identical_concurrent_misses_make_one_upstream_call() {
    let up = FakeUpstream::start_repeating(fixture_reply("openai/text.json").delayed(Duration::from_millis(300))).await;
    let gw = GatewayProcess::spawn(bin(), &cached_model(&up.base_url(), "")).await;
    let body = ask("same question");
    let results = join_all((0..100).map(|_| send(&gw, &body, &[]))).await;
    assert_eq!(up.request_count(), 1, "single flight");
    let misses = results.iter().filter(|(s, _, _)| s == "MISS").count();
    assert_eq!(misses, 1);
    assert!(results.iter().all(|(_, body, _)| body == &results[0].1));
}

#[tokio::test]
async fn hits_are_logged_free_with_the_cost_they_saved_and_do_not_spend_budgets() {
    let up = FakeUpstream::start_repeating(fixture_reply("openai/text.json")).await;
    let config = format!(
        "admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\n{}",
        cached_model(&up.base_url(), "    price: { input: 10000, output: 10000 }\n")
    );
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let (id, key) = create_key(&gw, json!({"name": "tiny", "budget": {"usd": 0.5, "window": "daily"}})).await;
    let auth = format!("Bearer {key}");
    let body = json!({"model": "bot", "temperature": 0, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, headers) = send(&gw, &body, &[("authorization", &auth)]).await;
    assert_eq!(status, "MISS");
    let cost: f64 = headers["x-switchyard-cost-usd"].to_str().unwrap().parse().unwrap();
    assert!(cost > 0.1, "{cost}");
    for _ in 0..5 {
        let (status, _, headers) = send(&gw, &body, &[("authorization", &auth)]).await;
        assert_eq!(status, "HIT", "hits do not count against the budget");
        let id = headers["x-request-id"].to_str().unwrap().to_string();
        let record = record(gw.data_dir(), &id).await;
        assert_eq!((record.cost_usd, record.cache_status.as_deref()), (Some(0.0), Some("HIT")));
        assert!((record.cache_saved_usd.unwrap() - cost).abs() < 1e-9);
    }
    let (_, spend) = admin(&gw, reqwest::Method::GET, &format!("/admin/spend?key={id}"), None).await;
    let saved = spend["rows"][0]["cache_saved_usd"].as_f64().unwrap();
    assert!((saved - 5.0 * cost).abs() < 1e-6, "{spend}");
}

#[tokio::test]
async fn an_entry_written_through_one_instance_is_a_hit_through_another_sharing_redis() {
    let Some(redis) = redis_url() else { return };
    let up = FakeUpstream::start_repeating(fixture_reply("openai/text.json")).await;
    let config = cached_model(&up.base_url(), "").replace("providers:", &format!("redis: {redis}\nproviders:"));
    let a = GatewayProcess::spawn(bin(), &config).await;
    let b = GatewayProcess::spawn(bin(), &config).await;
    // Unique per run: Redis outlives the test.
    let question = format!("shared {}", fastrand::u64(..));
    assert_eq!(send(&a, &ask(&question), &[]).await.0, "MISS");
    let hit = crate::governance::eventually(Duration::from_secs(2), || async { send(&b, &ask(&question), &[]).await.0 == "HIT" }).await;
    assert!(hit.is_some(), "instance b hits the entry instance a stored");
    assert_eq!(up.request_count(), 1);
}

#[tokio::test]
async fn semantic_matching_serves_paraphrases_and_misses_unrelated_prompts() {
    let config = format!("providers:\n  mock: {{ type: mock }}\nmodels:\n{SEMANTIC_MODEL}");
    let gw = GatewayProcess::spawn(bin(), &config).await;
    paraphrases_hit_and_unrelated_prompts_miss(&gw).await;
}

const SEMANTIC_MODEL: &str = "  helper:\n    targets: [ { provider: mock, model: echo } ]\n    cache: { enabled: true, semantic: { embeddings_model: mock/embed, threshold: 0.9 } }\n";

/// Three answers stored: the original question, an unrelated one, and the same question under
/// another system prompt (another scope).
async fn paraphrases_hit_and_unrelated_prompts_miss(gw: &GatewayProcess) {
    let q = |text: &str| json!({"model": "helper", "temperature": 0, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]});
    let (status, original, _) = send(gw, &q("What is the capital city of France?"), &[]).await;
    assert_eq!(status, "MISS");
    let (status, answer, headers) = send(gw, &q("what is the capital city of france"), &[]).await;
    assert_eq!(status, "SEMANTIC_HIT");
    let similarity: f32 = headers["x-switchyard-cache-similarity"].to_str().unwrap().parse().unwrap();
    assert!((0.9..=1.0).contains(&similarity), "{similarity}");
    assert_eq!(answer["choices"][0]["message"], original["choices"][0]["message"], "the cached answer");
    assert_eq!(send(gw, &q("How long should bread dough rise?"), &[]).await.0, "MISS", "unrelated");
    let mut other = q("What is the capital city of France?");
    other["messages"][0]["content"] = json!("Answer in French.");
    assert_eq!(send(gw, &other, &[]).await.0, "MISS");
}

/// The semantic test above with `cache.semantic_index: postgres`: the vectors go to pgvector, in a
/// fresh schema of the PostgreSQL that `scripts/test.sh` starts with pgvector (then also the
/// governance database, as `database:` serves both).
#[tokio::test]
async fn semantic_matching_on_pgvector() {
    let Some(db) = PgvectorSchema::create().await else { return };
    let config = format!(
        "database: \"{}\"\nkeys: {{ secret: {} }}\ncache: {{ semantic_index: postgres }}\nproviders:\n  mock: {{ type: mock }}\nmodels:\n{SEMANTIC_MODEL}",
        db.url,
        crate::governance::KEY_SECRET
    );
    let gw = GatewayProcess::spawn(bin(), &config).await;
    paraphrases_hit_and_unrelated_prompts_miss(&gw).await;
    // The index is pgvector's table: the three answers stored, none in process.
    assert_eq!(db.rows().await, 3);
    drop(gw);
    db.drop_now().await;
}

/// Entries in Redis and vectors in pgvector: a paraphrase hits on an instance that never saw the
/// original question (with the in-process index it would only hit where the original was asked).
#[tokio::test]
async fn pgvector_paraphrases_hit_on_every_instance() {
    let Some(redis) = redis_url() else { return };
    let Some(db) = PgvectorSchema::create().await else { return };
    let config = format!(
        "database: \"{}\"\nredis: {redis}\nkeys: {{ secret: {} }}\ncache: {{ semantic_index: postgres }}\nproviders:\n  mock: {{ type: mock }}\nmodels:\n  helper:\n    targets: [ {{ provider: mock, model: echo }} ]\n    cache: {{ enabled: true, semantic: {{ embeddings_model: mock/embed, threshold: 0.9 }} }}\n",
        db.url,
        crate::governance::KEY_SECRET
    );
    let (a, b) = (GatewayProcess::spawn(bin(), &config).await, GatewayProcess::spawn(bin(), &config).await);
    // Redis is shared with other tests and runs: a system prompt of this run's own.
    let system = format!("Be brief. ({})", db.name);
    let q = |text: &str| json!({"model": "helper", "temperature": 0, "messages": [{"role": "system", "content": system}, {"role": "user", "content": text}]});
    let (status, original, _) = send(&a, &q("How long should bread dough rise?"), &[]).await;
    assert_eq!(status, "MISS");
    assert!(
        crate::governance::eventually(Duration::from_secs(5), || async { db.rows().await == 1 }).await.is_some(),
        "indexed in pgvector"
    );
    let (status, answer, _) = send(&b, &q("how long should the bread dough rise"), &[]).await;
    assert_eq!(status, "SEMANTIC_HIT", "instance b found what instance a indexed");
    assert_eq!(answer["choices"][0]["message"], original["choices"][0]["message"]);
    assert_eq!(send(&b, &q("What is the capital city of France?"), &[]).await.0, "MISS", "unrelated");
    drop((a, b));
    db.drop_now().await;
}

/// A fresh schema on the PostgreSQL with pgvector (`SWITCHYARD_TEST_PGVECTOR_URL`), the extension
/// created in `public` first so that dropping one test's schema never drops it under another.
struct PgvectorSchema {
    base: String,
    name: String,
    url: String,
}

impl PgvectorSchema {
    async fn create() -> Option<Self> {
        let base = match (std::env::var("SWITCHYARD_TEST_PGVECTOR_URL"), std::env::var("SWITCHYARD_SKIP_PGVECTOR")) {
            (Ok(url), _) => url,
            (Err(_), Ok(why)) => {
                eprintln!("SKIPPED: needs PostgreSQL with pgvector — SWITCHYARD_SKIP_PGVECTOR={why}");
                return None;
            }
            _ => panic!("SWITCHYARD_TEST_PGVECTOR_URL is not set (scripts/test.sh sets it); set SWITCHYARD_SKIP_PGVECTOR=<reason> to skip on purpose"),
        };
        let name = format!("sy_gwvec_{:016x}", fastrand::u64(..));
        let setup = format!(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtext('switchyard.semantic_entries')); CREATE EXTENSION IF NOT EXISTS vector SCHEMA public; COMMIT; \
             CREATE SCHEMA {name};"
        );
        pgvector_client(&base).await.batch_execute(&setup).await.expect("create the extension and a test schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        Some(Self { url: format!("{base}{sep}options=-c%20search_path%3D{name}"), name, base })
    }

    async fn rows(&self) -> i64 {
        let sql = format!("SELECT count(*) FROM {}.semantic_entries", self.name);
        pgvector_client(&self.base).await.query_one(&sql, &[]).await.expect("count rows").get(0)
    }

    async fn drop_now(self) {
        pgvector_client(&self.base)
            .await
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .await
            .expect("drop the test schema");
    }
}

async fn pgvector_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect to PostgreSQL with pgvector");
    tokio::spawn(connection);
    client
}
