//! The admin API: virtual keys, budgets and limits per team, customer, feature or model, spend,
//! the request log's search, and config reload, on its own listener behind the admin key. `GET /admin/openapi.json`
//! describes it (no key needed).
//!
//! Every route is a row of [`endpoints`], which both builds the router and is checked against the
//! OpenAPI document, so the two cannot drift apart.

mod auth;
mod error;
mod input;
mod keys;
mod logs;
mod monitors;
mod openapi;
mod policies;
mod reload;
mod spend;
mod spent;
#[cfg(test)]
pub(crate) mod tests;
mod time;

use std::sync::Arc;

use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use http::Method;
use switchyard_core::keys::KeySecret;
use switchyard_core::store::{GovernanceStore, LogSearch};

pub use error::AdminError;
pub use logs::log_filter;
pub use spent::{Spent, SpentFromLog, SpentLookup};

/// What the admin handlers share.
pub struct AdminState {
    pub store: Arc<dyn GovernanceStore>,
    /// The request log, searched (`GET /admin/logs`).
    pub logs: Arc<dyn LogSearch>,
    /// The HMAC key under which new virtual keys are hashed.
    pub secret: Arc<KeySecret>,
    /// Compared in constant time with the caller's bearer token; never logged.
    pub admin_key: String,
    /// Called after every successful write so that the gateway refreshes its caches at once.
    pub on_change: Arc<dyn Fn() + Send + Sync>,
    /// How much a budget's scope has spent in its current window (`GET /admin/budgets/…`).
    pub spent: Arc<dyn SpentLookup>,
    /// `POST /admin/config/reload`; without one (tests of the other routes) it answers 503.
    pub reloader: Option<Arc<crate::reload::Reloader>>,
}

impl AdminState {
    /// State whose spend figures come from the request log (`GovernanceStore::spend`).
    pub fn new(
        store: Arc<dyn GovernanceStore>,
        logs: Arc<dyn LogSearch>,
        secret: Arc<KeySecret>,
        admin_key: String,
        on_change: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        let spent = Arc::new(SpentFromLog(store.clone()));
        Self { store, logs, secret, admin_key, on_change, spent, reloader: None }
    }

    pub fn with_reloader(mut self, reloader: Arc<crate::reload::Reloader>) -> Self {
        self.reloader = Some(reloader);
        self
    }

    fn changed(&self) {
        (self.on_change)();
    }
}

/// One route: method, path (axum syntax, which is also OpenAPI's), whether it needs the admin
/// key, and its handler.
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub needs_key: bool,
    handler: MethodRouter<Arc<AdminState>>,
}

fn endpoint(method: Method, path: &'static str, handler: MethodRouter<Arc<AdminState>>) -> Endpoint {
    Endpoint { method, path, needs_key: true, handler }
}

/// Every admin route.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint { method: Method::GET, path: "/admin/openapi.json", needs_key: false, handler: get(openapi::document) },
        endpoint(Method::POST, "/admin/keys", post(keys::create)),
        endpoint(Method::GET, "/admin/keys", get(keys::list)),
        endpoint(Method::GET, "/admin/keys/{id}", get(keys::get_one)),
        endpoint(Method::DELETE, "/admin/keys/{id}", delete(keys::revoke)),
        endpoint(Method::GET, "/admin/budgets", get(policies::list)),
        endpoint(Method::PUT, "/admin/budgets/{scope}/{name}", put(policies::put_budget)),
        endpoint(Method::GET, "/admin/budgets/{scope}/{name}", get(policies::get_budget)),
        endpoint(Method::PUT, "/admin/limits/{scope}/{name}", put(policies::put_limits)),
        endpoint(Method::GET, "/admin/limits/{scope}/{name}", get(policies::get_limits)),
        endpoint(Method::GET, "/admin/spend", get(spend::query)),
        endpoint(Method::GET, "/admin/logs", get(logs::search)),
        endpoint(Method::GET, "/admin/logs/{id}", get(logs::get_one)),
        endpoint(Method::POST, "/admin/config/reload", post(reload::reload)),
        endpoint(Method::GET, "/admin/monitors", get(monitors::list)),
    ]
}

pub fn router(state: Arc<AdminState>) -> Router {
    let (open, protected) = endpoints().into_iter().fold((Router::new(), Router::new()), |(open, protected), e| {
        if e.needs_key {
            (open, protected.route(e.path, e.handler))
        } else {
            (open.route(e.path, e.handler), protected)
        }
    });
    let protected = protected.route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_admin_key));
    // Every admin write takes a JSON body (or none).
    open.merge(protected)
        .route_layer(axum::middleware::from_fn(crate::http::origin::require_json))
        .fallback(|method: Method, uri: http::Uri| async move {
            AdminError::NoSuchEndpoint { method: method.to_string(), path: uri.path().to_string() }
        })
        .method_not_allowed_fallback(|| async { AdminError::MethodNotAllowed })
        .with_state(state)
}
