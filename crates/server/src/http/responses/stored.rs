//! The stored responses as the Responses API reads them: `GET /v1/responses/{id}`, `DELETE
//! /v1/responses/{id}` and `GET /v1/responses/{id}/input_items`. The caller's key decides the
//! tenant (the default tenant without keys); another tenant's response is a 404 exactly like an
//! unknown id.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::json;
use switchyard_core::store::StoredResponse;

use super::super::endpoint::presented_key;
use super::super::error::ApiError;
use super::super::App;

/// The caller's stored response `id`, or the error to answer.
async fn find(app: &App, headers: &HeaderMap, id: &str) -> Result<StoredResponse, ApiError> {
    let tenant = tenant(app, headers).await?;
    match bounded(app.responses.get_response(&tenant, id)).await? {
        Some(stored) => Ok(stored),
        None => Err(ApiError::ResponseNotFound { id: id.to_string(), param: None }),
    }
}

/// A store call that fails or does not answer within two seconds is a 503.
async fn bounded<T>(call: impl std::future::Future<Output = Result<T, switchyard_core::store::StoreError>>) -> Result<T, ApiError> {
    match tokio::time::timeout(std::time::Duration::from_secs(2), call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(ApiError::ResponseStoreUnavailable(e.to_string())),
        Err(_) => Err(ApiError::ResponseStoreUnavailable("the database did not answer within 2 s".into())),
    }
}

async fn tenant(app: &App, headers: &HeaderMap) -> Result<String, ApiError> {
    let snap = app.snapshot();
    let caller = app.pipeline(&snap).caller(presented_key(headers)).await.map_err(ApiError::Unauthenticated)?;
    Ok(caller.tenant)
}

pub async fn retrieve(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match find(&app, &headers, &id).await {
        Ok(stored) => Json(stored.response).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn delete(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let tenant = match tenant(&app, &headers).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    match bounded(app.responses.delete_response(&tenant, &id)).await {
        Ok(true) => Json(json!({"id": id, "object": "response", "deleted": true})).into_response(),
        Ok(false) => ApiError::ResponseNotFound { id, param: None }.into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<usize>,
    order: Option<String>,
    after: Option<String>,
}

/// A page of the input items: newest first unless `order=asc`, `limit` (1–100, default 20)
/// after the item `after`.
pub async fn input_items(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    let stored = match find(&app, &headers, &id).await {
        Ok(stored) => stored,
        Err(e) => return e.into_response(),
    };
    let mut items = stored.input_items;
    match query.order.as_deref() {
        None | Some("desc") => items.reverse(),
        Some("asc") => {}
        Some(_) => {
            let e = switchyard_protocol::openai::RequestFormatError::field("order", "invalid `order`: expected asc or desc");
            return ApiError::InvalidRequest(e).into_response();
        }
    }
    if let Some(after) = &query.after {
        match items.iter().position(|i| i["id"].as_str() == Some(after)) {
            Some(at) => {
                items.drain(..=at);
            }
            None => items.clear(),
        }
    }
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    let has_more = items.len() > limit;
    items.truncate(limit);
    let first = items.first().map(|i| i["id"].clone());
    let last = items.last().map(|i| i["id"].clone());
    Json(json!({"object": "list", "data": items, "first_id": first, "last_id": last, "has_more": has_more})).into_response()
}
