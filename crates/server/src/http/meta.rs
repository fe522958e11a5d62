//! `GET /v1/models`, `/healthz` and `/readyz`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Json, Response};
use http::StatusCode;
use serde_json::json;

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

/// Prometheus text: the counters an operator alerts on (unpriced models, Redis outages, refusals).
pub async fn metrics() -> ([(http::HeaderName, &'static str); 1], String) {
    ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], switchyard_core::metrics::render())
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
