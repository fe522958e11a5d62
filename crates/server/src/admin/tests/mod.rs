//! The admin router in-process against an in-memory (or SQLite) governance store.

mod keys;
mod logs;
pub(crate) mod memory;
mod openapi;
mod policies;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use switchyard_core::keys::KeySecret;
use switchyard_core::store::{GovernanceStore, LogSearch};
use tower::ServiceExt;

use super::{router, AdminState};

pub const ADMIN_KEY: &str = "admin-key-for-tests-0123456789";
pub const SECRET: &str = "key-secret-for-admin-tests-0123456789abcdef";

pub fn secret() -> Arc<KeySecret> {
    Arc::new(KeySecret::from_text(SECRET).unwrap())
}

/// The admin router over `store`, and how many times it reported a change.
pub struct Admin {
    pub app: axum::Router,
    pub changes: Arc<AtomicUsize>,
}

impl Admin {
    pub fn over(store: Arc<dyn GovernanceStore>) -> Self {
        Self::with_logs(store, Arc::new(switchyard_store::MemoryLog::default()))
    }

    pub fn with_logs(store: Arc<dyn GovernanceStore>, logs: Arc<dyn LogSearch>) -> Self {
        let changes = Arc::new(AtomicUsize::new(0));
        let counter = changes.clone();
        let on_change = Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        Self { app: router(Arc::new(AdminState::new(store, logs, secret(), ADMIN_KEY.into(), on_change))), changes }
    }

    pub fn changes(&self) -> usize {
        self.changes.load(Ordering::SeqCst)
    }

    /// A request with the admin key.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, text) = self.raw(method, path, Some(&format!("Bearer {ADMIN_KEY}")), body.map(|b| b.to_string())).await;
        (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
    }

    /// Any request: the status and the body text.
    pub async fn raw(&self, method: Method, path: &str, authorization: Option<&str>, body: Option<String>) -> (StatusCode, String) {
        let mut request = Request::builder().method(method).uri(path).header("content-type", "application/json");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = self.app.clone().oneshot(request.body(Body::from(body.unwrap_or_default())).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }
}

/// The `param` and `message` of an error body.
pub fn error_of(body: &Value) -> (Option<&str>, &str) {
    (body["error"]["param"].as_str(), body["error"]["message"].as_str().unwrap_or_else(|| panic!("not an error body: {body}")))
}
