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
use switchyard_store::LogHandle;
use tokio_util::sync::CancellationToken;

use error::ApiError;

use crate::snapshot::{Running, Snapshot};

/// What every handler shares: the running configuration (`snapshot()`, replaced whole by a
/// reload) and what outlives every configuration — breakers, counters, keys, the log.
pub struct App {
    pub running: Running,
    pub health: switchyard_core::Health,
    pub retry_budget: switchyard_core::retry::RetryBudget,
    pub log: LogHandle,
    /// Set when shutdown starts: `/readyz` turns 503 so load balancers stop sending.
    pub draining: AtomicBool,
    /// Cancelled when the grace period is over: requests still running end with a clear error.
    pub force_stop: CancellationToken,
    pub keys: switchyard_core::govern::KeyCache,
    pub misses: auth::Misses,
    pub store: Arc<dyn switchyard_store::GovernanceStore>,
    pub governor: Arc<switchyard_core::govern::Governor>,
}

impl App {
    /// The configuration a request runs on, from its start to its end (streams included):
    /// load it once per request and pass it along.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.running.load()
    }

    pub fn gate<'a>(&'a self, snap: &'a Snapshot) -> switchyard_core::admit::Gate<'a> {
        switchyard_core::admit::Gate { governor: &self.governor, pricing: &snap.pricing, router: &snap.router, health: &self.health }
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
