//! The one place where errors become HTTP: status, OpenAI-shaped body, `Retry-After`, and the
//! error event that ends a stream. Upstream 401/403 become 502: they say the gateway's provider
//! credentials are wrong, which is not the caller's problem (and an SDK would misreport it as the
//! caller's authentication failing).

mod admission;

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use switchyard_core::admit::AdmitError;
use switchyard_core::govern::AuthError;
use switchyard_core::pipeline::{BodyError, PipelineError};
use switchyard_core::RouteError;
use switchyard_protocol::openai::{ErrorBody, RequestFormatError};
use switchyard_providers::{ErrorKind, ProviderError};

#[derive(Debug)]
pub enum ApiError {
    InvalidRequest(RequestFormatError),
    BodyTooLarge {
        limit: usize,
    },
    BodyUnreadable(String),
    /// The body did not arrive within `server.body_timeout`.
    BodyTimedOut {
        after: Duration,
    },
    /// `server.max_in_flight` requests are being served: shed before reading anything.
    Overloaded,
    UnknownModel(RouteError),
    Provider(ProviderError),
    NoSuchEndpoint {
        method: String,
        path: String,
    },
    MethodNotAllowed,
    ShuttingDown,
    Unauthenticated(AuthError),
    Admission(AdmitError),
    /// A body that does not say it is JSON, on an endpoint that reads JSON (the type as sent).
    NotJson {
        content_type: Option<String>,
    },
    /// A browser origin not in `server.allowed_origins`.
    OriginNotAllowed {
        origin: String,
    },
    /// A `Host` that is neither a loopback name nor in `server.allowed_hosts`, on a loopback listener.
    HostNotAllowed {
        host: String,
    },
    /// No stored response of the caller's tenant has this id (`param`: the request field that
    /// named it, for `previous_response_id`).
    ResponseNotFound {
        id: String,
        param: Option<&'static str>,
    },
    /// The stored responses could not be read or changed.
    ResponseStoreUnavailable(String),
}

impl From<PipelineError> for ApiError {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::Body(BodyError::TooLarge { limit }) => ApiError::BodyTooLarge { limit },
            PipelineError::Body(BodyError::Unreadable(m)) => ApiError::BodyUnreadable(m),
            PipelineError::Body(BodyError::TimedOut { after }) => ApiError::BodyTimedOut { after },
            PipelineError::Body(BodyError::Invalid(e)) => ApiError::InvalidRequest(e),
            PipelineError::Body(BodyError::UnknownResponse { id }) => {
                ApiError::ResponseNotFound { id, param: Some("previous_response_id") }
            }
            PipelineError::Body(BodyError::StoreUnavailable(m)) => ApiError::ResponseStoreUnavailable(m),
            PipelineError::Unauthenticated(e) => ApiError::Unauthenticated(e),
            PipelineError::InvalidRequest(e) => ApiError::InvalidRequest(e),
            PipelineError::UnknownModel(e) => ApiError::UnknownModel(e),
            PipelineError::Admission(e) => ApiError::Admission(e),
            PipelineError::Provider(e) => ApiError::Provider(e),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest(_) | ApiError::BodyUnreadable(_) => StatusCode::BAD_REQUEST,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimedOut { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UnknownModel(RouteError::UnknownFallback { .. }) => StatusCode::BAD_REQUEST,
            ApiError::UnknownModel(_) | ApiError::NoSuchEndpoint { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Provider(e) => provider_status(e),
            ApiError::Unauthenticated(AuthError::Unverifiable) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Admission(AdmitError::Route(e)) => ApiError::UnknownModel(e.clone()).status(),
            ApiError::Admission(e) => admission::status(e),
            ApiError::NotJson { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::OriginNotAllowed { .. } | ApiError::HostNotAllowed { .. } => StatusCode::FORBIDDEN,
            ApiError::ResponseNotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::ResponseStoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The short error class stored in the request log.
    pub fn log_type(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest(_) | ApiError::BodyUnreadable(_) => "invalid_request",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::BodyTimedOut { .. } => "body_timeout",
            ApiError::Overloaded => "overloaded",
            ApiError::UnknownModel(_) => "model_not_found",
            ApiError::NoSuchEndpoint { .. } | ApiError::MethodNotAllowed => "not_found",
            ApiError::ShuttingDown => "shutting_down",
            ApiError::Provider(e) => class(e).as_str(),
            ApiError::Unauthenticated(AuthError::Unverifiable) => "key_store_unavailable",
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::Admission(e) => admission::log_type(e),
            ApiError::NotJson { .. } => "unsupported_media_type",
            ApiError::OriginNotAllowed { .. } => "origin_not_allowed",
            ApiError::HostNotAllowed { .. } => "host_not_allowed",
            ApiError::ResponseNotFound { .. } => "response_not_found",
            ApiError::ResponseStoreUnavailable(_) => "response_store_unavailable",
        }
    }

    pub fn body(&self) -> ErrorBody {
        let invalid = "invalid_request_error";
        match self {
            ApiError::InvalidRequest(e) => ErrorBody::new(&e.message, invalid, e.param.clone(), None),
            ApiError::BodyUnreadable(m) => ErrorBody::new(format!("could not read the request body: {m}"), invalid, None, None),
            ApiError::BodyTooLarge { limit } => ErrorBody::new(
                format!("request body is larger than the limit of {limit} bytes (max_body_bytes)"),
                invalid,
                None,
                Some("request_too_large".into()),
            ),
            ApiError::BodyTimedOut { after } => ErrorBody::new(
                format!("the request body did not arrive within {} s (server.body_timeout)", after.as_secs_f64()),
                invalid,
                None,
                Some("body_timeout".into()),
            ),
            ApiError::Overloaded => ErrorBody::new(
                "the gateway is at capacity (server.max_in_flight requests in flight); retry shortly",
                "server_error",
                None,
                Some("overloaded".into()),
            ),
            ApiError::UnknownModel(e @ RouteError::UnknownFallback { .. }) => {
                ErrorBody::new(e.to_string(), invalid, Some("fallback_models".into()), Some("model_not_found".into()))
            }
            ApiError::UnknownModel(e) => ErrorBody::new(e.to_string(), invalid, Some("model".into()), Some("model_not_found".into())),
            ApiError::NoSuchEndpoint { method, path } => ErrorBody::new(
                format!("no endpoint {method} {path}; see GET /v1/models, POST /v1/chat/completions and POST /v1/embeddings"),
                invalid,
                None,
                Some("unknown_url".into()),
            ),
            ApiError::MethodNotAllowed => {
                ErrorBody::new("method not allowed on this endpoint", invalid, None, Some("method_not_allowed".into()))
            }
            ApiError::ShuttingDown => ErrorBody::new(
                "the gateway is shutting down; retry on another instance",
                "server_error",
                None,
                Some("shutting_down".into()),
            ),
            ApiError::Provider(e) => provider_body(e),
            ApiError::Unauthenticated(e) => admission::auth_body(*e),
            ApiError::Admission(AdmitError::Route(e)) => ApiError::UnknownModel(e.clone()).body(),
            ApiError::Admission(e) => admission::body(e),
            ApiError::NotJson { content_type } => ErrorBody::new(
                format!(
                    "this endpoint reads a JSON body: send Content-Type: application/json ({})",
                    content_type.as_ref().map_or_else(|| "the request had no Content-Type".to_string(), |t| format!("got `{t}`"))
                ),
                invalid,
                None,
                Some("unsupported_media_type".into()),
            ),
            ApiError::OriginNotAllowed { origin } => ErrorBody::new(
                format!("browser origin `{origin}` may not call this gateway; to allow a web app, add its origin to server.allowed_origins"),
                "permission_error",
                None,
                Some("origin_not_allowed".into()),
            ),
            ApiError::HostNotAllowed { host } => ErrorBody::new(
                format!(
                    "this gateway listens on a loopback address and answers only requests addressed to localhost, 127.0.0.1 or [::1], \
                     not to `{host}` (a web page can use such a name to reach it by DNS rebinding); to use this name, add it to server.allowed_hosts"
                ),
                "permission_error",
                None,
                Some("host_not_allowed".into()),
            ),
            ApiError::ResponseNotFound { id, param } => ErrorBody::new(
                format!("no response with id `{id}` was found (responses are visible only to the team or key that created them)"),
                invalid,
                param.map(str::to_string),
                Some("response_not_found".into()),
            ),
            ApiError::ResponseStoreUnavailable(m) => ErrorBody::new(
                format!("the stored responses cannot be reached right now; retry shortly ({m})"),
                "server_error",
                None,
                Some("response_store_unavailable".into()),
            ),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Provider(e) if matches!(class(e), ErrorKind::RateLimited | ErrorKind::Overloaded) => e.retry_after,
            ApiError::Admission(e) => admission::retry_after(e),
            ApiError::Unauthenticated(AuthError::Unverifiable) | ApiError::Overloaded | ApiError::ResponseStoreUnavailable(_) => {
                Some(Duration::from_secs(1))
            }
            _ => None,
        }
    }
}

/// The class an upstream failure is answered by. 401 and 403 belong to the gateway's own key
/// checks: an upstream that answered one refused the gateway's provider credentials, whatever
/// class its body talked an adapter into, and the client gets a 502 rather than its status (or
/// its `invalid_api_key` code) relayed as if the client's key were wrong.
fn class(e: &ProviderError) -> ErrorKind {
    match e.status {
        Some(401 | 403 | 407) => ErrorKind::Auth,
        _ => e.kind,
    }
}

fn provider_status(e: &ProviderError) -> StatusCode {
    match class(e) {
        ErrorKind::BadRequest | ErrorKind::ContextLength | ErrorKind::ContentFilter | ErrorKind::NotFound => {
            e.status.and_then(|s| StatusCode::from_u16(s).ok()).filter(|s| s.is_client_error()).unwrap_or(StatusCode::BAD_REQUEST)
        }
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Auth | ErrorKind::Server | ErrorKind::Connect | ErrorKind::Malformed | ErrorKind::Interrupted => StatusCode::BAD_GATEWAY,
    }
}

/// Client errors keep the upstream's message (keys already redacted by the adapter); server-side
/// failures get a provider-neutral message.
fn provider_body(e: &ProviderError) -> ErrorBody {
    let neutral = |message: String, kind: &str, code: &str| ErrorBody::new(message, kind, None, Some(code.into()));
    let status = e.status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
    match class(e) {
        ErrorKind::BadRequest | ErrorKind::ContextLength | ErrorKind::ContentFilter | ErrorKind::NotFound => ErrorBody::new(
            e.message.clone(),
            e.upstream_type.clone().unwrap_or_else(|| "invalid_request_error".into()),
            e.param.clone(),
            e.code.clone().or_else(|| match e.kind {
                ErrorKind::ContextLength => Some("context_length_exceeded".into()),
                ErrorKind::ContentFilter => Some("content_filter".into()),
                _ => None,
            }),
        ),
        ErrorKind::RateLimited => neutral(
            format!("the upstream provider is rate limiting requests{status}: {}", e.message),
            "rate_limit_error",
            "rate_limit_exceeded",
        ),
        ErrorKind::Overloaded => neutral(format!("the upstream provider is overloaded{status}"), "upstream_error", "upstream_overloaded"),
        ErrorKind::Auth => neutral(
            format!("the upstream provider rejected the gateway's credentials{status}; check the provider's api_key"),
            "upstream_error",
            "upstream_auth_failed",
        ),
        ErrorKind::Server => neutral(format!("the upstream provider failed{status}"), "upstream_error", "upstream_error"),
        ErrorKind::Timeout => neutral("the upstream provider did not answer in time".into(), "timeout_error", "upstream_timeout"),
        ErrorKind::Connect => neutral("the upstream provider could not be reached".into(), "upstream_error", "upstream_unreachable"),
        ErrorKind::Malformed => {
            neutral("the upstream provider sent a response the gateway could not read".into(), "upstream_error", "upstream_malformed")
        }
        ErrorKind::Interrupted => {
            neutral("the upstream provider's stream broke off before it was complete".into(), "upstream_error", "upstream_interrupted")
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), [(header::CONTENT_TYPE, "application/json")], self.body().to_json()).into_response();
        if let Some(after) = self.retry_after() {
            let secs = after.as_secs_f64().ceil().max(1.0) as u64;
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            // OpenAI's SDKs read the exact wait from `retry-after-ms`.
            response.headers_mut().insert("retry-after-ms", HeaderValue::from(after.as_millis() as u64));
        }
        if let ApiError::Admission(e) = &self {
            for (name, value) in admission::rate_headers(e) {
                if let (Ok(n), Ok(v)) = (http::HeaderName::try_from(name), HeaderValue::try_from(value)) {
                    response.headers_mut().insert(n, v);
                }
            }
            if admission::final_refusal(e) {
                // Retrying cannot help (a spent budget, a request over a whole limit): OpenAI's
                // SDKs honour this header and do not retry.
                response.headers_mut().insert("x-should-retry", HeaderValue::from_static("false"));
            }
        }
        response
    }
}

/// The Anthropic Messages API's shape of an error: `{"type": "error", "error": {"type",
/// "message"}}`, with Anthropic's status where it has its own (529 for overloaded). Status,
/// message and headers are otherwise the ones above: one mapping, two shapes.
impl ApiError {
    pub fn anthropic_kind(&self) -> (StatusCode, &'static str) {
        let overloaded = StatusCode::from_u16(529).expect("529 is a valid status");
        match self {
            ApiError::Overloaded => return (overloaded, "overloaded_error"),
            ApiError::Provider(e) if class(e) == ErrorKind::Overloaded => return (overloaded, "overloaded_error"),
            _ => {}
        }
        let status = self.status();
        let kind = match status.as_u16() {
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            504 | 408 => "timeout_error",
            s if s >= 500 => "api_error",
            _ => "invalid_request_error",
        };
        (status, kind)
    }

    /// `{"type":"error","error":{"type","message"}}`.
    pub fn anthropic_body(&self) -> Vec<u8> {
        let (_, kind) = self.anthropic_kind();
        serde_json::to_vec(&serde_json::json!({"type": "error", "error": {"type": kind, "message": self.body().error.message}}))
            .expect("error serialises")
    }

    /// The whole response in Anthropic's shape, with the same headers (`Retry-After`, …).
    pub fn into_anthropic_response(self) -> Response {
        let (status, _) = self.anthropic_kind();
        let body = self.anthropic_body();
        let mut response = self.into_response();
        *response.status_mut() = status;
        *response.body_mut() = axum::body::Body::from(body);
        response
    }
}

/// The last event of a stream that failed after it started: OpenAI's SDKs raise on an `error`
/// key in a data event, so the client sees a failure instead of a clean-looking end.
pub fn stream_error_event(error: &ProviderError) -> Bytes {
    sse_error_event(provider_body(error))
}

impl ApiError {
    /// This error as the last event of a stream whose 200 already went out (see
    /// `stream_error_event`).
    pub fn stream_event(&self) -> Bytes {
        sse_error_event(self.body())
    }
}

fn sse_error_event(body: ErrorBody) -> Bytes {
    let mut out = b"data: ".to_vec();
    out.extend_from_slice(&body.to_json());
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(status: u16, body: &str) -> ApiError {
        ApiError::Provider(ProviderError::from_http(status, body.as_bytes(), Some(Duration::from_millis(1500)), |t| t.to_string()))
    }

    #[test]
    fn maps_upstream_failures() {
        let cases = [
            (
                upstream(400, r#"{"error":{"message":"bad temp","type":"invalid_request_error","param":"temperature","code":null}}"#),
                400,
                Some("temperature"),
            ),
            (upstream(404, r#"{"error":{"message":"no such model"}}"#), 404, None),
            (upstream(422, "{}"), 422, None),
            (upstream(401, r#"{"error":{"message":"Incorrect API key provided: sk-abc"}}"#), 502, None),
            (upstream(429, "{}"), 429, None),
            (upstream(529, "{}"), 503, None),
            (upstream(500, "internal details"), 502, None),
            (ApiError::Provider(ProviderError::new(ErrorKind::Timeout, "x")), 504, None),
        ];
        for (err, status, param) in cases {
            assert_eq!(err.status().as_u16(), status, "{err:?}");
            assert_eq!(err.body().error.param.as_deref(), param);
        }
        let auth = upstream(401, r#"{"error":{"message":"Incorrect API key provided: sk-abc"}}"#).body().error.message;
        assert!(!auth.contains("sk-abc"), "{auth}");
        let server = upstream(500, "internal details").body().error.message;
        assert!(!server.contains("internal details"), "{server}");
        let response = upstream(429, "{}").into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn an_upstream_401_never_reaches_the_client_as_its_own_401() {
        // Whatever class an adapter gave it, an upstream 401/403 is the gateway's credentials: a
        // 502 that says so, never the upstream's status, type or `invalid_api_key` code relayed.
        for status in [401, 403] {
            let mut e = ProviderError::new(ErrorKind::BadRequest, "Incorrect API key provided: [redacted]");
            e.status = Some(status);
            e.upstream_type = Some("invalid_request_error".into());
            e.code = Some("invalid_api_key".into());
            let event = stream_error_event(&e);
            assert!(!String::from_utf8_lossy(&event).contains("invalid_api_key"), "the stream's error event too");
            let err = ApiError::Provider(e);
            let body = err.body().error;
            assert_eq!(
                (err.status().as_u16(), body.kind.as_str(), body.code.as_deref()),
                (502, "upstream_error", Some("upstream_auth_failed"))
            );
            assert_eq!(err.log_type(), "auth");
        }
    }
}
