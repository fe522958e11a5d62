//! `GET /admin/monitors`: the running monitor rules and their state in this instance — the
//! window's requests, failures and current value, and since when a rule fires. Read-only: rules
//! are changed in the config file (and a reload).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Json;
use serde_json::{json, Value};
use switchyard_core::monitor::{self, Condition};

use super::{AdminError, AdminState};

pub async fn list(State(_): State<Arc<AdminState>>) -> Result<Json<Value>, AdminError> {
    let now = tokio::time::Instant::now();
    let status = monitor::active().map(|m| m.status(now)).unwrap_or_default();
    let data: Vec<Value> = status
        .into_iter()
        .map(|s| {
            let rule = &s.rule;
            let value = s.totals.and_then(|t| match rule.condition {
                Condition::ErrorRateAbove(_) => (t.requests > 0).then(|| t.error_rate()),
                Condition::P95LatencyAbove(_) => t.p95_ms,
                Condition::CircuitOpen => None,
            });
            json!({
                "name": rule.name,
                "condition": rule.condition.as_str(),
                "threshold": rule.condition.threshold(),
                "model": rule.model,
                "provider": rule.provider,
                "window_ms": rule.window.as_millis() as u64,
                "min_requests": (rule.condition != Condition::CircuitOpen).then_some(rule.min_requests),
                "send_resolved": rule.send_resolved,
                "requests": s.totals.map(|t| t.requests),
                "failures": s.totals.map(|t| t.failures),
                "value": value,
                "firing_since": s.firing.map(|f| switchyard_core::time::rfc3339(f.since_ms)),
            })
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}
