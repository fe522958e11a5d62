//! The HTTP surface: routes, one codec per inbound API over the core pipeline, streaming bodies
//! and the error mapping.

mod cached;
pub mod chat;
mod embeddings;
mod endpoint;
pub mod error;
mod messages;
#[cfg(test)]
mod messages_tests;
mod meta;
pub mod origin;
#[cfg(test)]
mod pipeline_tests;
mod responses;
mod stream;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;
mod wire;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use http::Method;
use switchyard_core::store::LogHandle;
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
    pub misses: switchyard_core::pipeline::Misses,
    pub store: Arc<dyn switchyard_core::store::GovernanceStore>,
    /// The Responses API's stored responses (`previous_response_id`, `GET /v1/responses/{id}`).
    pub responses: Arc<dyn switchyard_core::store::ResponseStore>,
    pub governor: Arc<switchyard_core::govern::Governor>,
    /// Traces requests when `telemetry:` is configured.
    pub tracer: Option<Arc<switchyard_core::telemetry::Tracer>>,
}

impl App {
    /// The configuration a request runs on, from its start to its end (streams included):
    /// load it once per request and pass it along.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.running.load()
    }

    /// The request pipeline over one configuration snapshot and the state that outlives it.
    pub fn pipeline<'a>(&'a self, snap: &'a Snapshot) -> switchyard_core::pipeline::Pipeline<'a> {
        use switchyard_core::pipeline::{Keys, Pipeline};
        Pipeline {
            router: &snap.router,
            health: &self.health,
            retry_policy: &snap.retry_policy,
            retry_budget: &self.retry_budget,
            pricing: &snap.pricing,
            governor: &self.governor,
            cache: &snap.cache,
            keys: Keys { cache: &self.keys, store: self.store.as_ref(), misses: &self.misses },
            force_stop: &self.force_stop,
        }
    }
}

/// The API routes behind the Host and Origin checks. Every route under `api` reads JSON bodies;
/// an endpoint taking another body (a multipart upload) belongs outside that layer.
pub fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/chat/completions", post(chat::chat_completions))
        .route("/embeddings", post(embeddings::embeddings))
        .route("/messages", post(messages::messages))
        .route("/messages/count_tokens", post(messages::count_tokens))
        .route("/responses", post(responses::create))
        .route("/models", get(meta::models))
        .route_layer(axum::middleware::from_fn(origin::require_json))
        // Stored responses: no body to check.
        .route("/responses/{id}", get(responses::retrieve).delete(responses::delete))
        .route("/responses/{id}/input_items", get(responses::input_items));
    // The Anthropic SDK with `base_url=http://HOST:4000/anthropic`.
    let anthropic = Router::new()
        .route("/messages", post(messages::messages))
        .route("/messages/count_tokens", post(messages::count_tokens))
        .route_layer(axum::middleware::from_fn(origin::require_json));
    let routes = Router::new()
        .nest("/v1", api.clone())
        .nest("/api/v1", api.clone())
        .nest("/api", api.clone())
        .nest("/anthropic/v1", anthropic)
        .merge(api)
        .route("/healthz", get(meta::healthz))
        .route("/readyz", get(meta::readyz))
        .route("/metrics", get(meta::metrics))
        .fallback(|method: Method, uri: http::Uri| async move {
            ApiError::NoSuchEndpoint { method: method.to_string(), path: uri.path().to_string() }
        })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(app.clone());
    origin::guard(routes, app, origin::Listener::Api)
}
