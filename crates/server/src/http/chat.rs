//! `POST /v1/chat/completions`: the request path as a sequence of steps — read, parse, route,
//! attempt, respond — with the recorder carried through so that every request is logged once.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use switchyard_core::{attempt, new_request_id, parse, Outcome, Recorder, RequestHeaders, Target};
use tokio::time::Instant;

use super::error::ApiError;
use super::stream::sse_response;
use super::App;

pub async fn chat_completions(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let recorder = Recorder::start(app.log.clone(), new_request_id(), app.log_bodies);
    let request_id = HeaderValue::from_str(recorder.request_id()).ok();
    let mut response = tokio::select! {
        response = handle(&app, &headers, body, recorder) => response,
        // The grace period ran out while waiting upstream: answer rather than vanish. The
        // dropped `handle` future logs the request as it drops its recorder.
        () = app.force_stop.cancelled() => ApiError::ShuttingDown.into_response(),
    };
    if let Some(id) = request_id {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

async fn handle(app: &App, headers: &HeaderMap, body: Body, mut rec: Recorder) -> Response {
    let started = Instant::now();
    let bytes = match read_body(body, app.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return fail(rec, e),
    };
    let parsed = match parse(&bytes, gateway_headers(headers)) {
        Ok(p) => p,
        Err(e) => return fail(rec, ApiError::InvalidRequest(e)),
    };
    let request = &parsed.request;
    rec.requested(request.model(), request.stream());
    rec.fields(&parsed.fields, parsed.feature.as_deref(), &bytes);
    let route = match app.router.resolve(request.model()) {
        Ok(r) => r,
        Err(e) => return fail(rec, ApiError::UnknownModel(e)),
    };
    // Fallbacks across targets arrive with the reliability work; the first target serves.
    let target = &route.targets[0];
    rec.attempt(&target.provider_name, &target.model);
    let served = served_headers(target);
    let mut response = match attempt(target, request, &route.timeouts, started).await {
        Err(e) => fail(rec, ApiError::Provider(e)),
        Ok(Outcome::Complete { body, usage }) => {
            rec.first_token();
            if let Some(u) = usage {
                rec.usage(u);
            }
            rec.response_body(&body);
            rec.ok(200);
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Ok(Outcome::Stream { first, rest, deadline }) => {
            rec.first_token();
            rec.response_started(200);
            sse_response(first, rest, deadline, rec, request.client_wants_usage(), app.force_stop.clone())
        }
    };
    response.headers_mut().extend(served);
    response
}

fn fail(rec: Recorder, error: ApiError) -> Response {
    rec.failed(error.status().as_u16(), error.log_type(), &error.body().error.message);
    error.into_response()
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(ApiError::BodyTooLarge { limit }),
        Err(e) => Err(ApiError::BodyUnreadable(e.to_string())),
    }
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
    }
}

fn served_headers(target: &Target) -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    put("x-switchyard-provider", &target.provider_name);
    put("x-switchyard-model", &target.model);
    put("x-switchyard-attempts", "1");
    h
}
