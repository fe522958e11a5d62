//! The router in-process: no socket, no child process, a memory log sink.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use switchyard_core::{Router, Timeouts};
use switchyard_providers::registry::{build, ProviderConfig};
use switchyard_store::{LogWriter, LogWriterConfig, MemoryLog};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::{router, App};

async fn app(log: &LogWriter) -> axum::Router {
    router(test_app(log).await)
}

/// The gateway's parts over the embedded default and one `mock` provider.
pub(super) async fn test_app(log: &LogWriter) -> Arc<App> {
    build_app(log, Default::default(), Timeouts::default(), |_| {}).await
}

/// Like `test_app`, with the mock configured and the deadlines of `mock/…` models given.
pub(super) async fn test_app_with(log: &LogWriter, mock: switchyard_providers::mock::MockConfig, timeouts: Timeouts) -> Arc<App> {
    build_app(log, mock, timeouts, |_| {}).await
}

/// `test_app` with the embedded default changed by `edit` first.
pub(super) async fn test_app_edited(log: &LogWriter, edit: impl FnOnce(&mut crate::config::Config)) -> Arc<App> {
    build_app(log, Default::default(), Timeouts::default(), edit).await
}

async fn build_app(
    log: &LogWriter,
    mock: switchyard_providers::mock::MockConfig,
    timeouts: Timeouts,
    edit: impl FnOnce(&mut crate::config::Config),
) -> Arc<App> {
    let mock = build("mock", &ProviderConfig::Mock(mock)).unwrap();
    let data_dir = std::env::temp_dir().join(format!("sy-http-{}", switchyard_core::new_request_id()));
    let overrides = crate::config::Overrides { listen: None, data_dir: Some(data_dir) };
    let mut config = crate::config::embedded(&overrides, &|_| None).unwrap();
    edit(&mut config);
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let parts = crate::governance::build(&config).await.unwrap();
    let mut snapshot = crate::snapshot::Snapshot::first(config).await.unwrap();
    snapshot.router = Router::new(vec![("mock".into(), mock)], Default::default(), timeouts);
    snapshot.max_body_bytes = 4096;
    let app = App {
        running: crate::snapshot::Running::new(snapshot),
        health: Default::default(),
        retry_budget: Default::default(),
        log: log.handle(),
        draining: AtomicBool::new(false),
        force_stop: CancellationToken::new(),
        keys: parts.keys,
        misses: Default::default(),
        store: parts.store,
        responses: parts.responses,
        governor: parts.governor,
        tracer: None,
    };
    Arc::new(app)
}

async fn call(app: &axum::Router, body: &str) -> (StatusCode, http::HeaderMap, String) {
    let request =
        Request::post("/v1/chat/completions").header("content-type", "application/json").body(Body::from(body.to_string())).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap())
}

#[tokio::test]
async fn answers_streams_and_logs_every_request_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = MemoryLog::default();
    let writer = LogWriter::start(log.clone(), LogWriterConfig::new(dir.path().join("spool"))).unwrap();
    let app = app(&writer).await;

    let (status, headers, body) = call(&app, r#"{"model":"mock/echo","messages":[{"role":"user","content":"in process"}]}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-switchyard-provider"], "mock");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "in process");

    let (status, _, body) = call(&app, r#"{"model":"mock/echo","stream":true,"messages":[{"role":"user","content":"a b c"}]}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.ends_with("data: [DONE]\n\n") && !body.contains("\"usage\":{"), "{body}");

    let (status, _, body) =
        call(&app, &format!(r#"{{"model":"mock/echo","messages":[{{"role":"user","content":"{}"}}]}}"#, "x".repeat(5000))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    let (status, _, _) = call(&app, r#"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    drop(app);
    writer.shutdown();
    let records = log.records();
    let outcomes: Vec<(u16, &str)> = records.iter().map(|r| (r.status, r.outcome.as_str())).collect();
    assert_eq!(outcomes, [(200, "ok"), (200, "ok"), (413, "error"), (404, "error")]);
    assert_eq!((records[1].input_tokens, records[1].output_tokens, records[1].stream), (6, 3, true));
}
