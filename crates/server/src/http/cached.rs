//! Answers from the cache: a hit as the original JSON or, for a streaming request, replayed as
//! SSE chunks of the same shape.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use switchyard_core::cache::entry::Entry;
use switchyard_core::cache::replay::to_sse;

pub fn hit_response(entry: &Entry, stream: bool, include_usage: bool) -> Response {
    let mut response = if stream {
        let events = to_sse(entry, include_usage).into_iter().map(Ok::<Bytes, Infallible>);
        (
            [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")],
            Body::from_stream(futures_util::stream::iter(events)),
        )
            .into_response()
    } else {
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], entry.to_completion_body()).into_response()
    };
    let headers = response.headers_mut();
    for (name, value) in [("x-switchyard-provider", entry.provider.as_str()), ("x-switchyard-model", entry.model.as_str())] {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    }
    headers.insert("x-switchyard-attempts", HeaderValue::from_static("0"));
    headers.insert("x-switchyard-cost-usd", HeaderValue::from_static("0.00000000"));
    response
}
