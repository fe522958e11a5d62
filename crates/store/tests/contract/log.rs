//! The request log through each backend's `LogSink`, read back with `query`.

use switchyard_core::store::{AttemptDetail, AttemptError, LogQuery, LogRecord};

use crate::backend::Storage;

pub fn full_record(id: &str, ms: i64) -> LogRecord {
    LogRecord {
        request_id: id.into(),
        started_at: switchyard_core::time::rfc3339(ms),
        started_at_ms: ms,
        customer_identifier: Some("acme".into()),
        key_id: Some("key_0192".into()),
        team: Some("search".into()),
        metadata: [("session".to_string(), "s-1".to_string()), ("ünïcode".to_string(), "✓".to_string())].into(),
        feature: Some("chat".into()),
        requested_model: "support-bot".into(),
        provider: Some("anthropic".into()),
        model: Some("claude-sonnet-4-5".into()),
        status: 200,
        outcome: "ok".into(),
        error_type: Some("rate_limited".into()),
        error_message: Some("first attempt was rate limited".into()),
        latency_ms: 812.25,
        ttft_ms: Some(140.5),
        input_tokens: 1_234,
        output_tokens: 56,
        cached_tokens: 1_000,
        reasoning_tokens: 7,
        cost_usd: Some(0.001_234_5),
        cost_source: Some("catalog".into()),
        cache_status: Some("HIT".into()),
        cache_saved_usd: Some(0.000_987_6),
        stream: true,
        attempts: 2,
        attempt_log: vec![
            AttemptDetail {
                provider: "openai".into(),
                model: "gpt-4o".into(),
                error: Some(AttemptError::CircuitOpen),
                ms: 0.0,
                span: None,
            },
            AttemptDetail {
                provider: "openai".into(),
                model: "gpt-4o-mini".into(),
                error: Some(AttemptError::Failed(switchyard_providers::ErrorKind::RateLimited)),
                ms: 12.5,
                span: None,
            },
            AttemptDetail { provider: "anthropic".into(), model: "claude-sonnet-4-5".into(), error: None, ms: 800.0, span: None },
        ],
        request_body: Some(r#"{"model":"support-bot"}"#.into()),
        response_body: Some(r#"{"id":"x"}"#.into()),
    }
}

/// What the gateway writes for a request nothing served: every optional field empty.
fn bare_record(id: &str, ms: i64) -> LogRecord {
    LogRecord {
        request_id: id.into(),
        started_at: switchyard_core::time::rfc3339(ms),
        started_at_ms: ms,
        requested_model: "mock/echo".into(),
        status: 404,
        outcome: "error".into(),
        ..LogRecord::default()
    }
}

pub async fn inserts_are_idempotent_and_every_field_round_trips(storage: Storage) {
    let mut b = storage.open().await;
    let full = full_record("r-full", 1_800_000_000_000);
    let bare = bare_record("r-bare", 1_800_000_000_001);
    b.log.insert(&[full.clone(), bare.clone()]).unwrap();
    // A replay of the same batch plus one new record: only the new one is added.
    let changed = LogRecord { status: 500, ..full.clone() };
    b.log.insert(&[changed, bare.clone(), bare_record("r-new", 1_800_000_000_002)]).unwrap();
    b.log.insert(&[]).unwrap();

    let all = b.log.query(&LogQuery { limit: 10, ..LogQuery::default() }).unwrap();
    let ids: Vec<&str> = all.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["r-new", "r-bare", "r-full"], "newest first, each request once");
    assert_eq!(all[2], full, "the first write stays and every field comes back");
    assert_eq!(all[1], bare);
    assert_eq!(b.log.query(&LogQuery { limit: 1, ..LogQuery::default() }).unwrap().len(), 1);
}

pub async fn query_filters_by_model_and_customer(storage: Storage) {
    let mut b = storage.open().await;
    let other_customer = LogRecord { customer_identifier: Some("globex".into()), ..full_record("r2", 2) };
    b.log.insert(&[full_record("r1", 1), other_customer, bare_record("r3", 3)]).unwrap();
    let mut ids =
        |q: LogQuery| -> Vec<String> { b.log.query(&LogQuery { limit: 10, ..q }).unwrap().into_iter().map(|r| r.request_id).collect() };
    let by_model = |m: &str| LogQuery { model: Some(m.into()), ..LogQuery::default() };
    assert_eq!(ids(by_model("support-bot")), ["r2", "r1"], "requested model");
    assert_eq!(ids(by_model("claude-sonnet-4-5")), ["r2", "r1"], "served model");
    assert_eq!(ids(by_model("anthropic/claude-sonnet-4-5")), ["r2", "r1"], "provider/model");
    assert_eq!(ids(by_model("mock/echo")), ["r3"]);
    assert_eq!(ids(LogQuery { customer: Some("acme".into()), ..LogQuery::default() }), ["r1"]);
    assert_eq!(ids(LogQuery { customer: Some("globex".into()), ..by_model("support-bot") }), ["r2"]);
    assert!(ids(by_model("nothing")).is_empty());
}
