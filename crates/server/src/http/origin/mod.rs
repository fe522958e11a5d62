//! What a browser may do to a gateway: a page the developer visits can reach a gateway on
//! localhost, and with keys not required (the embedded default) anything it sends there spends
//! the developer's provider credits. Checked at the edge of both listeners, before any handler:
//!
//! - `Host`, on a loopback listener only (host.rs): defeats DNS rebinding. A gateway listening on
//!   `0.0.0.0` or a routable address sits behind a proxy or load balancer whose names are not
//!   known here, and is not checked.
//! - `Origin` (cors.rs): only `server.allowed_origins` may call; preflights are answered here.
//! - `Content-Type` on the routes that read JSON (json.rs): no preflight-free simple requests.
//!
//! All of them read `server:` from the running snapshot, so a reload changes them at once.

mod cors;
mod host;
mod json;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::header::HOST;

pub use json::require_json;

use super::error::ApiError;
use super::App;

/// The listener a router serves, for its address and the methods a preflight may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Api,
    Admin,
}

impl Listener {
    fn methods(self) -> &'static str {
        match self {
            Listener::Api => "GET, POST",
            Listener::Admin => "GET, POST, PUT, DELETE",
        }
    }
}

#[derive(Clone)]
struct Edge {
    app: Arc<App>,
    listener: Listener,
}

/// `router` behind the Host and Origin checks of `listener`.
pub fn guard(router: Router, app: Arc<App>, listener: Listener) -> Router {
    router.layer(axum::middleware::from_fn_with_state(Edge { app, listener }, check))
}

async fn check(State(edge): State<Edge>, request: Request, next: Next) -> Response {
    let snap = edge.app.snapshot();
    let server = &snap.config.server;
    let listen = match edge.listener {
        Listener::Api => snap.config.listen,
        Listener::Admin => snap.config.admin.listen,
    };
    if listen.ip().to_canonical().is_loopback() {
        // Both the `Host` header and an absolute URI's or HTTP/2's authority, when present.
        let named = request.headers().get_all(HOST).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let authority = request.uri().authority().map(|a| a.as_str().to_string());
        if let Some(bad) = named.chain(authority).find(|h| !host::allowed(h, &server.allowed_hosts)) {
            return refuse(ApiError::HostNotAllowed { host: bad.chars().take(200).collect() });
        }
    }
    match cors::judge(request.headers(), &server.allowed_origins) {
        cors::Verdict::Refused(origin) => refuse(ApiError::OriginNotAllowed { origin }),
        cors::Verdict::Allowed(allow) if cors::is_preflight(request.method(), request.headers()) => {
            cors::preflight(allow, edge.listener.methods(), request.headers())
        }
        cors::Verdict::Allowed(allow) => {
            let mut response = next.run(request).await;
            cors::decorate(response.headers_mut(), allow);
            response
        }
        cors::Verdict::NotBrowser => {
            let any = server.allowed_origins.iter().any(|o| o == "*");
            let mut response = next.run(request).await;
            if any {
                cors::decorate(response.headers_mut(), http::HeaderValue::from_static("*"));
            } else if !server.allowed_origins.is_empty() {
                cors::vary(response.headers_mut(), true, false);
            }
            response
        }
    }
}

fn refuse(error: ApiError) -> Response {
    switchyard_core::metrics::EDGE_REFUSALS.inc();
    tracing::debug!(error = ?error, "request refused at the edge");
    error.into_response()
}
