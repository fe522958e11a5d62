//! Provider failures, classified once so that routing, retries and the HTTP mapping stay generic.

use std::time::Duration;

use switchyard_protocol::openai::ErrorBody;

/// What kind of failure happened. Retry and fallback decisions are made from this alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request is wrong for the upstream (400, 422).
    BadRequest,
    /// The prompt does not fit the model's window.
    ContextLength,
    /// The upstream refused the content.
    ContentFilter,
    /// The gateway's provider credentials were refused (401, 403).
    Auth,
    /// The upstream does not know the model or path (404).
    NotFound,
    /// 429.
    RateLimited,
    /// 529 and explicit overload signals.
    Overloaded,
    /// Other upstream 5xx.
    Server,
    /// No answer in time.
    Timeout,
    /// Could not connect or the connection failed before a response.
    Connect,
    /// The upstream answered something the gateway cannot read.
    Malformed,
    /// A stream was cut off before it finished.
    Interrupted,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::ContextLength => "context_length",
            ErrorKind::ContentFilter => "content_filter",
            ErrorKind::Auth => "auth",
            ErrorKind::NotFound => "not_found",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Server => "server",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Malformed => "malformed",
            ErrorKind::Interrupted => "interrupted",
        }
    }

    /// The kind `as_str` names; `None` for any other text.
    pub fn parse(name: &str) -> Option<ErrorKind> {
        const ALL: [ErrorKind; 12] = [
            ErrorKind::BadRequest,
            ErrorKind::ContextLength,
            ErrorKind::ContentFilter,
            ErrorKind::Auth,
            ErrorKind::NotFound,
            ErrorKind::RateLimited,
            ErrorKind::Overloaded,
            ErrorKind::Server,
            ErrorKind::Timeout,
            ErrorKind::Connect,
            ErrorKind::Malformed,
            ErrorKind::Interrupted,
        ];
        ALL.into_iter().find(|k| k.as_str() == name)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct ProviderError {
    pub kind: ErrorKind,
    /// The upstream's HTTP status, when it answered with one.
    pub status: Option<u16>,
    /// Safe to show a client: keys are redacted by the adapter that built it.
    pub message: String,
    pub retry_after: Option<Duration>,
    /// The upstream's own `type`, `param` and `code`, passed on for 4xx answers.
    pub upstream_type: Option<String>,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, status: None, message: message.into(), retry_after: None, upstream_type: None, param: None, code: None }
    }

    /// Classifies a non-success HTTP answer from an upstream that speaks OpenAI's error shape
    /// (or anything close to it). `redact` removes the provider's keys from upstream text.
    pub fn from_http(status: u16, body: &[u8], retry_after: Option<Duration>, redact: impl Fn(&str) -> String) -> Self {
        let upstream = ErrorBody::from_upstream(body);
        let code = upstream.as_ref().and_then(|u| u.code.clone());
        let text = upstream
            .as_ref()
            .map(|u| u.message.clone())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(512)]).trim().to_string());
        // A 401 or 403 is about the gateway's credentials whatever its body says, and so is an
        // upstream that names its key invalid under another status.
        let kind = match (status, code.as_deref()) {
            (401 | 403, _) | (_, Some("invalid_api_key")) => ErrorKind::Auth,
            (_, Some("context_length_exceeded")) => ErrorKind::ContextLength,
            (_, Some("content_filter" | "content_policy_violation")) => ErrorKind::ContentFilter,
            (404, _) => ErrorKind::NotFound,
            (408, _) => ErrorKind::Timeout,
            (429, _) => ErrorKind::RateLimited,
            (503 | 529, _) => ErrorKind::Overloaded,
            (500..=599, _) => ErrorKind::Server,
            _ => ErrorKind::BadRequest,
        };
        let message = if text.is_empty() { format!("upstream answered HTTP {status}") } else { redact(&text) };
        Self {
            kind,
            status: Some(status),
            message,
            retry_after,
            upstream_type: upstream.as_ref().and_then(|u| u.kind.clone()),
            param: upstream.as_ref().and_then(|u| u.param.clone()),
            code,
        }
    }
}

impl ProviderError {
    /// Refines the class with what the provider's own error body says (its `type`, status name
    /// or exception), except that a refused credential stays `Auth`: an upstream 401 or 403 must
    /// never reach the client as its own request's fault (an SDK would report the *client's* key
    /// as wrong).
    pub fn refine(&mut self, kind: ErrorKind) {
        if self.kind != ErrorKind::Auth {
            self.kind = kind;
        }
    }
}

/// Reads `Retry-After` (seconds or HTTP date) and OpenAI's `retry-after-ms`.
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers.get("retry-after-ms").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses_and_codes() {
        let id = |s: &str| s.to_string();
        let e = ProviderError::from_http(
            400,
            br#"{"error":{"message":"too long","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
            None,
            id,
        );
        assert_eq!((e.kind, e.param.as_deref(), e.message.as_str()), (ErrorKind::ContextLength, Some("messages"), "too long"));
        assert_eq!(ProviderError::from_http(429, b"{}", None, id).kind, ErrorKind::RateLimited);
        assert_eq!(ProviderError::from_http(529, b"overloaded", None, id).kind, ErrorKind::Overloaded);
        assert_eq!(ProviderError::from_http(502, b"<html>bad gateway</html>", None, id).message, "<html>bad gateway</html>");
        assert_eq!(ProviderError::from_http(401, b"", None, id).kind, ErrorKind::Auth);
        assert_eq!(ProviderError::from_http(422, br#"{"error":"nope"}"#, None, id).message, "nope");
    }

    #[test]
    fn an_upstream_401_or_403_is_auth_whatever_its_body_says() {
        let id = |s: &str| s.to_string();
        let bodies = [
            "",
            "<html><body>401 Authorization Required</body></html>",
            r#"{"error":"bad"}"#,
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#,
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
            r#"{"error":{"message":"too long","type":"invalid_request_error","code":"context_length_exceeded"}}"#,
            r#"{"error":{"message":"flagged","code":"content_filter"}}"#,
        ];
        for status in [401, 403] {
            for body in bodies {
                let mut e = ProviderError::from_http(status, body.as_bytes(), None, id);
                assert_eq!(e.kind, ErrorKind::Auth, "{status} {body}");
                e.refine(ErrorKind::BadRequest);
                assert_eq!(e.kind, ErrorKind::Auth, "a provider's error type cannot turn {status} into the client's fault");
            }
        }
        let e = ProviderError::from_http(400, br#"{"error":{"message":"bad key","code":"invalid_api_key"}}"#, None, id);
        assert_eq!(e.kind, ErrorKind::Auth, "an upstream naming its own key invalid is a credentials problem under any status");
    }

    #[test]
    fn reads_retry_after_forms() {
        let mut h = http::HeaderMap::new();
        h.insert("retry-after", "5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(5)));
        h.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
    }
}
