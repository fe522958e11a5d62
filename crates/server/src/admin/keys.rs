//! `/admin/keys`: create (the only time the key itself is shown), list, get and revoke.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use bytes::Bytes;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_core::keys;
use switchyard_core::store::{Budget, KeyRecord, Limits};
use switchyard_core::time::{now_ms, rfc3339};

use super::input::{check_budget, check_limits, instant, parse_json};
use super::time::ACCEPTED;
use super::{AdminError, AdminState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    /// RFC 3339 text or Unix seconds.
    expires_at: Option<serde_json::Value>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    budget: Option<Budget>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// A key as the admin API shows it: never the key or its hash.
#[derive(Debug, Serialize)]
pub struct KeyView {
    pub id: String,
    pub prefix: String,
    pub name: String,
    pub team: Option<String>,
    pub customer: Option<String>,
    pub models: Vec<String>,
    pub expires_at: Option<String>,
    pub limits: Limits,
    pub budget: Option<Budget>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// `active`, `revoked` or `expired`.
    pub status: &'static str,
}

impl KeyView {
    fn of(key: &KeyRecord, now_ms: i64) -> Self {
        let status = match (key.revoked_at_ms, key.expires_at_ms) {
            (Some(_), _) => "revoked",
            (None, Some(at)) if at <= now_ms => "expired",
            _ => "active",
        };
        Self {
            id: key.id.clone(),
            prefix: key.prefix.clone(),
            name: key.name.clone(),
            team: key.team.clone(),
            customer: key.customer.clone(),
            models: key.models.clone(),
            expires_at: key.expires_at_ms.map(rfc3339),
            limits: key.limits,
            budget: key.budget.clone(),
            metadata: key.metadata.clone(),
            created_at: rfc3339(key.created_at_ms),
            revoked_at: key.revoked_at_ms.map(rfc3339),
            status,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Created {
    /// The virtual key itself, shown only in this answer.
    key: String,
    #[serde(flatten)]
    record: KeyView,
}

pub async fn create(State(state): State<Arc<AdminState>>, body: Bytes) -> Result<(StatusCode, Json<Created>), AdminError> {
    let request: CreateKey = parse_json(&body)?;
    let now = now_ms();
    let record = checked_record(request, now)?;
    let new = keys::generate(&state.secret).map_err(|e| {
        tracing::error!(error = %e, "admin API: cannot generate a virtual key");
        AdminError::Unavailable("cannot generate a key right now; the server log has the details")
    })?;
    let record = KeyRecord { prefix: new.prefix, hash: new.hash, ..record };
    let stored = state.store.create_key(record).await?;
    state.changed();
    Ok((StatusCode::CREATED, Json(Created { key: new.plaintext, record: KeyView::of(&stored, now) })))
}

/// The record to store, everything but prefix and hash; refuses what makes no sense.
fn checked_record(request: CreateKey, now: i64) -> Result<KeyRecord, AdminError> {
    let non_empty = |value: Option<String>, field: &str| match value {
        Some(v) if v.trim().is_empty() => Err(AdminError::invalid(field, "must not be empty (leave it out instead)")),
        v => Ok(v),
    };
    if request.name.trim().is_empty() {
        return Err(AdminError::invalid("name", "must not be empty"));
    }
    if let Some(i) = request.models.iter().position(|m| m.trim().is_empty()) {
        return Err(AdminError::invalid(format!("models[{i}]"), "must name a model"));
    }
    let expires_at_ms = request.expires_at.as_ref().map(expiry).transpose()?;
    if expires_at_ms.is_some_and(|at| at <= now) {
        return Err(AdminError::invalid("expires_at", "must be in the future"));
    }
    check_limits(&request.limits, "limits")?;
    if let Some(budget) = &request.budget {
        check_budget(budget, "budget")?;
    }
    Ok(KeyRecord {
        id: format!("key_{}", uuid::Uuid::now_v7()),
        name: request.name,
        team: non_empty(request.team, "team")?,
        customer: non_empty(request.customer, "customer")?,
        models: request.models,
        expires_at_ms,
        limits: request.limits,
        budget: request.budget,
        metadata: request.metadata,
        created_at_ms: now,
        ..KeyRecord::default()
    })
}

#[derive(Debug, Serialize)]
pub struct KeyList {
    keys: Vec<KeyView>,
}

pub async fn list(State(state): State<Arc<AdminState>>) -> Result<Json<KeyList>, AdminError> {
    let now = now_ms();
    let keys = state.store.list_keys().await?;
    Ok(Json(KeyList { keys: keys.iter().map(|k| KeyView::of(k, now)).collect() }))
}

pub async fn get_one(State(state): State<Arc<AdminState>>, Path(id): Path<String>) -> Result<Json<KeyView>, AdminError> {
    match state.store.get_key(&id).await? {
        Some(key) => Ok(Json(KeyView::of(&key, now_ms()))),
        None => Err(no_such_key(&id)),
    }
}

pub async fn revoke(State(state): State<Arc<AdminState>>, Path(id): Path<String>) -> Result<Json<KeyView>, AdminError> {
    let now = now_ms();
    match state.store.revoke_key(&id, now).await? {
        Some(key) => {
            state.changed();
            Ok(Json(KeyView::of(&key, now)))
        }
        None => Err(no_such_key(&id)),
    }
}

/// `expires_at` as Unix ms: RFC 3339 text or Unix seconds.
fn expiry(value: &serde_json::Value) -> Result<i64, AdminError> {
    match value {
        serde_json::Value::String(text) => instant(text, "expires_at"),
        serde_json::Value::Number(n) => {
            n.as_i64().and_then(|s| s.checked_mul(1000)).ok_or_else(|| AdminError::invalid("expires_at", "must be whole Unix seconds"))
        }
        _ => Err(AdminError::invalid("expires_at", format!("expected {ACCEPTED}"))),
    }
}

fn no_such_key(id: &str) -> AdminError {
    AdminError::NotFound(format!("no key with id `{id}`; GET /admin/keys lists them"))
}
