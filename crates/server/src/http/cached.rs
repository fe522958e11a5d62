//! Answers from the cache carry where the answer came from, no attempts and no cost.

use axum::response::Response;
use http::HeaderValue;
use switchyard_core::cache::entry::Entry;

pub fn hit(entry: &Entry, mut response: Response) -> Response {
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
