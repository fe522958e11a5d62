//! `GET /admin/logs` and `GET /admin/logs/{id}` over a SQLite database written by the log writer's
//! sink: the admin key is required, filters and paging work end to end, bad parameters are 400s
//! naming the parameter, and an unknown id is a 404.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use switchyard_core::store::{AttemptDetail, LogRecord, LogSink};
use switchyard_store::{SqliteGovernance, SqliteLog};

use super::{error_of, Admin};

fn record(id: &str, ms: i64, customer: &str, env: &str) -> LogRecord {
    LogRecord {
        request_id: id.into(),
        started_at: switchyard_core::time::rfc3339(ms),
        started_at_ms: ms,
        customer_identifier: Some(customer.into()),
        metadata: [("env".to_string(), env.to_string())].into(),
        requested_model: "support-bot".into(),
        provider: Some("openai".into()),
        model: Some("gpt-4o".into()),
        status: 200,
        outcome: "ok".into(),
        latency_ms: 120.0,
        input_tokens: 10,
        output_tokens: 5,
        cost_usd: Some(0.01),
        attempts: 1,
        attempt_log: vec![AttemptDetail { provider: "openai".into(), model: "gpt-4o".into(), error: None, ms: 110.0, span: None }],
        request_body: Some(r#"{"messages":[{"content":"hello"}]}"#.into()),
        response_body: Some(r#"{"answer":"hi"}"#.into()),
        ..LogRecord::default()
    }
}

async fn admin_with_records() -> (Admin, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.db");
    let mut sink = SqliteLog::open(&path, Duration::from_secs(1)).unwrap();
    let now = switchyard_core::time::now_ms();
    sink.insert(&[
        record("r1", now - 3_000, "acme", "prod"),
        record("r2", now - 2_000, "globex", "prod"),
        record("r3", now - 1_000, "acme", "dev"),
    ])
    .unwrap();
    let gov = Arc::new(SqliteGovernance::open(&path).unwrap());
    (Admin::with_logs(gov.clone(), gov), dir)
}

fn ids(body: &serde_json::Value) -> Vec<&str> {
    body["data"].as_array().unwrap().iter().map(|r| r["request_id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn the_admin_key_is_required() {
    let (admin, _dir) = admin_with_records().await;
    for path in ["/admin/logs", "/admin/logs/r1"] {
        assert_eq!(admin.raw(Method::GET, path, None, None).await.0, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(admin.raw(Method::GET, path, Some("Bearer wrong"), None).await.0, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn searches_filter_and_page_newest_first() {
    let (admin, _dir) = admin_with_records().await;
    let (status, body) = admin.call(Method::GET, "/admin/logs", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), ["r3", "r2", "r1"]);
    assert!(body["next_cursor"].is_null());
    let first = &body["data"][2];
    assert_eq!(first["model"], "support-bot");
    assert_eq!(first["served_model"], "gpt-4o");
    assert_eq!(first["customer"], "acme");
    assert_eq!(first["metadata"]["env"], "prod");
    assert_eq!(first["tokens"]["input"], 10);
    assert_eq!(first["attempts"][0]["provider"], "openai");
    assert!(first.get("request_body").is_none(), "no bodies in a list: {first}");
    assert!(first.get("ttft_ms").is_none(), "absent facts are left out: {first}");

    let (_, body) = admin.call(Method::GET, "/admin/logs?customer=acme&metadata.env=prod&last=1h", None).await;
    assert_eq!(ids(&body), ["r1"]);
    let (_, body) = admin.call(Method::GET, "/admin/logs?q=hello&status=ok&served_model=openai%2Fgpt-4o", None).await;
    assert_eq!(ids(&body), ["r3", "r2", "r1"]);
    let (_, body) = admin.call(Method::GET, "/admin/logs?metadata.env=x%27%20OR%201%3D1%20--", None).await;
    assert_eq!(ids(&body), Vec::<&str>::new(), "a hostile value matches nothing");

    let (_, page1) = admin.call(Method::GET, "/admin/logs?limit=2", None).await;
    assert_eq!(ids(&page1), ["r3", "r2"]);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = admin.call(Method::GET, &format!("/admin/logs?limit=2&cursor={cursor}"), None).await;
    assert_eq!(ids(&page2), ["r1"]);
    assert!(page2["next_cursor"].is_null());
}

#[tokio::test]
async fn one_record_has_its_bodies_and_an_unknown_id_is_404() {
    let (admin, _dir) = admin_with_records().await;
    let (status, body) = admin.call(Method::GET, "/admin/logs/r2", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["request_id"], "r2");
    assert_eq!(body["request_body"], r#"{"messages":[{"content":"hello"}]}"#);
    assert_eq!(body["response_body"], r#"{"answer":"hi"}"#);
    let (status, body) = admin.call(Method::GET, "/admin/logs/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn bad_parameters_are_400_naming_them() {
    let (admin, _dir) = admin_with_records().await;
    for (query, param) in [
        ("colour=red", "colour"),
        ("limit=501", "limit"),
        ("status=fine", "status"),
        ("last=2w", "last"),
        ("from=yesterday", "from"),
        ("cursor=zz", "cursor"),
        ("min_cost_usd=-1", "min_cost_usd"),
    ] {
        let (status, body) = admin.call(Method::GET, &format!("/admin/logs?{query}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(error_of(&body).0, Some(param), "{query}");
    }
}
