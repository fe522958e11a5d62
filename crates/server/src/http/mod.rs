//! The HTTP surface: routes, the chat handler, streaming bodies and the error mapping.

mod auth;
mod cached;
pub mod chat;
mod embeddings;
pub mod error;
mod meta;
mod stream;
#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use http::Method;
use switchyard_core::store::LogHandle;
use tokio_util::sync::CancellationToken;

use error::ApiError;

/// What every handler shares.
pub struct App {
    pub router: switchyard_core::Router,
    pub health: switchyard_core::Health,
    pub retry_policy: switchyard_core::retry::RetryPolicy,
    pub retry_budget: switchyard_core::retry::RetryBudget,
    pub log: LogHandle,
    pub max_body_bytes: usize,
    pub log_bodies: bool,
    /// Set when shutdown starts: `/readyz` turns 503 so load balancers stop sending.
    pub draining: AtomicBool,
    /// Cancelled when the grace period is over: requests still running end with a clear error.
    pub force_stop: CancellationToken,
    pub keys: switchyard_core::govern::KeyCache,
    pub misses: auth::Misses,
    pub store: Arc<dyn switchyard_core::store::GovernanceStore>,
    pub governor: Arc<switchyard_core::govern::Governor>,
    pub pricing: switchyard_core::billing::Pricing,
    pub cache: switchyard_core::lookup::Cache,
}

impl App {
    pub fn gate(&self) -> switchyard_core::admit::Gate<'_> {
        switchyard_core::admit::Gate { governor: &self.governor, pricing: &self.pricing, router: &self.router, health: &self.health }
    }
}

pub fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/chat/completions", post(chat::chat_completions))
        .route("/embeddings", post(embeddings::embeddings))
        .route("/models", get(meta::models));
    Router::new()
        .nest("/v1", api.clone())
        .nest("/api/v1", api.clone())
        .nest("/api", api.clone())
        .merge(api)
        .route("/healthz", get(meta::healthz))
        .route("/readyz", get(meta::readyz))
        .route("/metrics", get(meta::metrics))
        .fallback(|method: Method, uri: http::Uri| async move {
            ApiError::NoSuchEndpoint { method: method.to_string(), path: uri.path().to_string() }
        })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(app)
}
