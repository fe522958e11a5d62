//! `GET /v1/models`, `/healthz` and `/readyz`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Json, Response};
use http::StatusCode;
use serde_json::json;

use switchyard_core::metrics::{Circuit, Gauges};

use super::App;

pub async fn models(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    let data: Vec<_> = app
        .snapshot()
        .router
        .models()
        .into_iter()
        .map(|m| json!({"id": m.id, "object": "model", "created": 0, "owned_by": m.owned_by}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Prometheus text: request traffic, the counters an operator alerts on (unpriced models, Redis
/// outages, refusals), and the log writer's and the circuits' state at this moment.
pub async fn metrics(State(app): State<Arc<App>>) -> ([(http::HeaderName, &'static str); 1], String) {
    let log = app.log.status();
    let snap = app.snapshot();
    let configured = snap.router.configured_targets();
    let circuits = app
        .health
        .breakers
        .states()
        .into_iter()
        .map(|(provider, model, open)| {
            let configured = configured.contains(&(provider.as_str(), model.as_str()));
            Circuit { provider, model, open, configured }
        })
        .collect();
    let gauges = Gauges { log_queued: log.queued, log_spool_bytes: log.spool_bytes, circuits };
    ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], switchyard_core::metrics::render(&gauges))
}

/// Ready while not draining. A failing database does not make the gateway unready: requests
/// keep flowing and their records are spooled, which the body reports.
pub async fn readyz(State(app): State<Arc<App>>) -> Response {
    let log = app.log.status();
    let circuits: serde_json::Map<String, serde_json::Value> =
        app.health.breakers.snapshot().into_iter().map(|(target, state)| (target, json!(state))).collect();
    if app.draining.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "draining", "log": log, "circuits": circuits}))).into_response();
    }
    Json(json!({"status": "ready", "log": log, "circuits": circuits})).into_response()
}
