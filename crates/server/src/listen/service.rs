//! Each connection's hyper service: marks the connection busy for the life of each request (to
//! its response body's end) and sheds API requests past `server.max_in_flight` at once, before
//! the router or the body is touched.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::IntoResponse;
use axum::Router;
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;

use super::conn::{Busy, Conn};
use crate::http::error::ApiError;

/// Requests in flight across the listener, bounded.
pub struct Gate {
    in_flight: AtomicUsize,
    max: usize,
}

impl Gate {
    pub fn new(max: usize) -> Self {
        Self { in_flight: AtomicUsize::new(0), max: max.max(1) }
    }

    fn enter(self: &Arc<Self>) -> Option<Slot> {
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(self.clone());
        (before < self.max).then_some(slot)
    }
}

pub struct Slot(Arc<Gate>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The shed answer, rendered once by the error mapping: saying no must cost next to nothing,
/// since it is said most when the CPU is busiest.
fn shed_response() -> Response<Body> {
    static RENDERED: std::sync::LazyLock<(http::StatusCode, http::HeaderMap, Bytes)> = std::sync::LazyLock::new(|| {
        let parts = ApiError::Overloaded.into_response().into_parts().0;
        (parts.status, parts.headers, Bytes::from(ApiError::Overloaded.body().to_json()))
    });
    let (status, headers, body) = &*RENDERED;
    let mut response = Response::new(Body::from(body.clone()));
    *response.status_mut() = *status;
    *response.headers_mut() = headers.clone();
    response
}

/// Health, readiness and metrics still answer at capacity: that is when they matter.
fn sheddable(path: &str) -> bool {
    !matches!(path, "/healthz" | "/readyz" | "/metrics")
}

#[derive(Clone)]
pub struct Service {
    pub router: Router,
    pub conn: Arc<Conn>,
    /// `None`: no in-flight cap on this listener (the admin API).
    pub gate: Option<Arc<Gate>>,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let busy = self.conn.begin();
        let slot = match &self.gate {
            Some(gate) if sheddable(request.uri().path()) => match gate.enter() {
                Some(slot) => Some(slot),
                None => {
                    switchyard_core::metrics::SHED_REQUESTS.inc();
                    let response = shed_response();
                    return Box::pin(std::future::ready(Ok(response.map(|body| Tracked { body, _busy: busy, _slot: None }))));
                }
            },
            _ => None,
        };
        let call = tower_service::Service::call(&mut self.router.clone(), request.map(Body::new));
        Box::pin(async move {
            let response = call.await?;
            Ok(response.map(|body| Tracked { body, _busy: busy, _slot: slot }))
        })
    }
}

/// A response body that holds its request's place until hyper has sent (or dropped) it.
pub struct Tracked {
    body: Body,
    _busy: Busy,
    _slot: Option<Slot>,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_admits_up_to_its_cap_and_frees_a_place_when_a_request_ends() {
        let gate = Arc::new(Gate::new(2));
        let a = gate.enter().unwrap();
        let _b = gate.enter().unwrap();
        assert!(gate.enter().is_none());
        drop(a);
        assert!(gate.enter().is_some());
    }

    #[tokio::test]
    async fn the_shed_answer_is_the_error_mappings_503_with_retry_after() {
        let response = shed_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "overloaded");
    }
}
