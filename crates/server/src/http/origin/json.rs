//! JSON bodies only. A page may send `text/plain`, a form or multipart to any address without
//! asking first (a "simple" request: no preflight), and a body-parser that ignores the type would
//! run it. Demanding `application/json` forces a browser to ask (CORS preflight) first.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::header::CONTENT_TYPE;
use http::Method;
use http_body::Body as _;

use crate::http::error::ApiError;

/// Route layer for endpoints that read a JSON body: a POST, PUT or PATCH with a body must say
/// `application/json` (or `application/*+json`). A request without a body has nothing to run.
pub async fn require_json(request: Request, next: Next) -> Response {
    let writes = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH);
    if writes && !request.body().is_end_stream() {
        let content_type = request.headers().get(CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if !content_type.as_deref().is_some_and(is_json) {
            return super::refuse(ApiError::NotJson { content_type: content_type.map(|c| c.chars().take(100).collect()) });
        }
    }
    next.run(request).await
}

/// `application/json` or `application/*+json`, any parameters, any case.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || essence.strip_prefix("application/").is_some_and(|sub| sub.ends_with("+json") && !sub.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_media_types_pass_and_others_do_not() {
        for ok in
            ["application/json", "Application/JSON; charset=utf-8", " application/json ;charset=UTF-8", "application/merge-patch+json"]
        {
            assert!(is_json(ok), "{ok}");
        }
        for no in [
            "",
            "text/plain",
            "text/plain; charset=application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
            "text/json",
            "application/+json/x",
        ] {
            assert!(!is_json(no), "{no}");
        }
    }
}
