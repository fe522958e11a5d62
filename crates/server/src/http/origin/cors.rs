//! CORS, answered on purpose. A browser sends `Origin` on every cross-origin request and on every
//! POST; a page may call the gateway only when its origin is in `server.allowed_origins`. Any
//! other origin is refused before anything runs (the browser would hide the answer from the page,
//! but not undo what the request spent). Requests without `Origin` (SDKs on a server, curl) are
//! not browsers' and pass untouched. Credentials (cookies) are never allowed: callers carry their
//! key in a header.

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

/// How long a browser may reuse a preflight: short enough that a narrowed `allowed_origins`
/// shows within minutes (the actual request is checked again anyway).
const MAX_AGE_SECS: u32 = 600;

/// Request headers a page may send: the gateway's own, keys, and what the official OpenAI and
/// Anthropic SDKs add in a browser (`x-stainless-*`, `openai-*`, `anthropic-*`).
const HEADERS: &[&str] =
    &["authorization", "content-type", "x-api-key", "accept", "user-agent", "traceparent", "tracestate", "idempotency-key"];
const HEADER_PREFIXES: &[&str] = &["x-switchyard-", "x-stainless-", "openai-", "anthropic-"];

/// Response headers a page may read.
const EXPOSED: &[&str] = &["x-request-id", "retry-after", "retry-after-ms", "x-should-retry"];
const EXPOSED_PREFIXES: &[&str] = &["x-switchyard-", "x-ratelimit-"];

/// What the configured origins say about one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No `Origin`: not a browser's cross-origin request.
    NotBrowser,
    /// Allowed: answer with this `Access-Control-Allow-Origin`.
    Allowed(HeaderValue),
    /// Refused; the origin as sent, for the message.
    Refused(String),
}

pub fn judge(headers: &HeaderMap, allowed_origins: &[String]) -> Verdict {
    let any = allowed_origins.iter().any(|o| o == "*");
    let Some(origin) = headers.get(ORIGIN) else { return Verdict::NotBrowser };
    if any {
        return Verdict::Allowed(HeaderValue::from_static("*"));
    }
    let text = origin.to_str().unwrap_or_default();
    let wanted = normalize(text);
    if !text.is_empty() && allowed_origins.iter().any(|o| normalize(o) == wanted) {
        Verdict::Allowed(origin.clone())
    } else {
        Verdict::Refused(text.chars().take(200).collect())
    }
}

/// Browsers omit the default port and write scheme and host in lowercase; an operator may not.
fn normalize(origin: &str) -> String {
    let origin = origin.to_ascii_lowercase();
    for (scheme, port) in [("http://", ":80"), ("https://", ":443")] {
        if origin.starts_with(scheme) {
            if let Some(bare) = origin.strip_suffix(port) {
                return bare.to_string();
            }
        }
    }
    origin
}

/// A CORS preflight: `OPTIONS` with `Access-Control-Request-Method`.
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS && headers.contains_key(ORIGIN) && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to an allowed preflight: which methods and which of the requested headers. A
/// header left out makes the browser refuse with a message naming it.
pub fn preflight<B: Default>(allow_origin: HeaderValue, methods: &'static str, headers: &HeaderMap) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let out = response.headers_mut();
    let requested = headers.get(ACCESS_CONTROL_REQUEST_HEADERS).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let granted: Vec<String> = requested
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| HEADERS.contains(&h.as_str()) || HEADER_PREFIXES.iter().any(|p| h.starts_with(p)))
        .collect();
    if let Ok(v) = HeaderValue::from_str(&granted.join(", ")) {
        if !granted.is_empty() {
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
    }
    out.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods));
    out.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(MAX_AGE_SECS));
    vary(out, allow_origin != "*", true);
    out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    response
}

/// Headers for an allowed actual response: the origin, and the gateway headers the page may read.
pub fn decorate(headers: &mut HeaderMap, allow_origin: HeaderValue) {
    let exposed: Vec<&str> = headers
        .keys()
        .map(http::HeaderName::as_str)
        .filter(|h| EXPOSED.contains(h) || EXPOSED_PREFIXES.iter().any(|p| h.starts_with(p)))
        .collect();
    if let Ok(v) = HeaderValue::from_str(&exposed.join(", ")) {
        if !exposed.is_empty() {
            headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, v);
        }
    }
    vary(headers, allow_origin != "*", false);
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
}

/// Answers that depend on `Origin` say so, or a browser's cache serves one origin's answer to
/// another (or a non-CORS answer to a CORS request).
pub fn vary(headers: &mut HeaderMap, origin: bool, preflight: bool) {
    if origin {
        headers.append(VARY, HeaderValue::from_static("origin"));
    }
    if preflight {
        headers.append(VARY, HeaderValue::from_static("access-control-request-method, access-control-request-headers"));
    }
}
