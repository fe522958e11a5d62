//! The HTTP edge of the pipeline, shared by every inbound API: start the request's recorder, hand
//! the body, the presented key and the gateway headers to `switchyard_core::pipeline`, and let the
//! endpoint's codec write the canonical answer (or the refusal) in its wire shape. No request
//! step lives here.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use switchyard_core::pipeline::{Answer, BodyError, Inbound, Rejection};
use switchyard_core::{new_request_id, Decode, Recorder, RequestHeaders};

use super::error::ApiError;
use super::App;

/// How an endpoint writes the pipeline's canonical answer in its own wire shape.
pub trait Codec {
    /// Decodes the endpoint's wire request into the canonical request.
    const DECODE: Decode;
    fn encode(answer: Answer) -> Response;
    fn encode_error(error: ApiError) -> Response {
        error.into_response()
    }
}

/// Runs one request of endpoint `C` through the pipeline.
pub async fn serve<C: Codec>(app: Arc<App>, headers: HeaderMap, body: Body) -> Response {
    // The configuration this request runs on to its end, whatever a reload does meanwhile.
    let snap = app.snapshot();
    let recorder = Recorder::start(app.log.clone(), new_request_id(), snap.log_bodies);
    let request_id = HeaderValue::from_str(recorder.request_id()).ok();
    let inbound = Inbound {
        body: read_body(body, snap.max_body_bytes, snap.config.server.body_timeout),
        decode: C::DECODE,
        key: presented_key(&headers).map(str::to_string),
        headers: gateway_headers(&headers),
    };
    let pipeline = app.pipeline(&snap);
    let mut response = tokio::select! {
        result = pipeline.run(inbound, recorder) => match result {
            Ok(answer) => C::encode(answer),
            Err(rejection) => reject::<C>(rejection),
        },
        // The grace period ran out while waiting upstream: answer rather than vanish. The
        // dropped pipeline logs the request as its recorder drops.
        () = app.force_stop.cancelled() => C::encode_error(ApiError::ShuttingDown),
    };
    if let Some(id) = request_id {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

/// A refusal, in the codec's shape, recorded with the status the client gets.
fn reject<C: Codec>(rejection: Rejection) -> Response {
    let (error, headers) = rejection.record(ApiError::from, |e| (e.status().as_u16(), e.log_type(), e.body().error.message));
    let mut response = C::encode_error(error);
    put_all(response.headers_mut(), headers);
    response
}

pub fn put_all(headers: &mut HeaderMap, values: impl IntoIterator<Item = (&'static str, String)>) {
    for (name, value) in values {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(HeaderName::from_static(name), v);
        }
    }
}

/// The body under `max_body_bytes` and `server.body_timeout`: a deadline for the whole body, not
/// an inactivity timer, since a body trickled a byte at a time would hold its request slot forever.
async fn read_body(body: Body, limit: usize, deadline: std::time::Duration) -> Result<Bytes, BodyError> {
    use http_body_util::BodyExt;
    match tokio::time::timeout(deadline, http_body_util::Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(BodyError::TooLarge { limit }),
        Ok(Err(e)) => Err(BodyError::Unreadable(e.to_string())),
        Err(_) => Err(BodyError::TimedOut { after: deadline }),
    }
}

/// The virtual key: `Authorization: Bearer …`, or Anthropic's `x-api-key`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, rest) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
    });
    bearer.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

fn gateway_headers(headers: &HeaderMap) -> RequestHeaders {
    RequestHeaders {
        customer: header_text(headers, "x-switchyard-customer"),
        feature: header_text(headers, "x-switchyard-feature"),
        fallback: header_text(headers, "x-switchyard-fallback")
            .map(|v| v.split(',').map(str::trim).filter(|m| !m.is_empty()).map(str::to_string).collect())
            .unwrap_or_default(),
        cache_control: header_text(headers, "cache-control"),
    }
}
