//! `POST /v1/chat/completions`: the request path as a sequence of steps — read, parse, route,
//! attempt, respond — with the recorder carried through so that every request is logged once.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use switchyard_core::{new_request_id, parse, run_attempts, Failed, Outcome, Recorder, RequestHeaders, Served, Target};
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
    let plan = match app.router.plan(request.model(), &parsed.fields.fallback_models, &app.health) {
        Ok(p) => p,
        Err(e) => return fail(rec, ApiError::UnknownModel(e)),
    };
    let result = run_attempts(&plan, request, &app.retry_policy, &app.retry_budget, &app.health, &app.router.latency, started).await;
    let (outcome, served, idle) = match result {
        Ok(Served { outcome, target, attempts }) => {
            let headers = served_headers(&target, upstream_attempts(&attempts));
            let idle = plan.iter().find(|p| p.target.key() == target.key()).and_then(|p| p.timeouts.idle);
            rec.attempts(attempts);
            (outcome, headers, idle)
        }
        Err(Failed { error, attempts }) => {
            let headers = attempts.last().map(|a| served_headers_named(&a.provider, &a.model, upstream_attempts(&attempts))).unwrap_or_default();
            rec.attempts(attempts);
            let mut response = fail(rec, ApiError::Provider(error));
            response.headers_mut().extend(headers);
            return response;
        }
    };
    let mut response = match outcome {
        Outcome::Complete { body, usage } => {
            rec.first_token();
            if let Some(u) = usage {
                rec.usage(u);
            }
            rec.response_body(&body);
            rec.ok(200);
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Outcome::Stream { prefix, rest, deadline } => {
            rec.first_token();
            rec.response_started(200);
            sse_response(prefix, rest, deadline, idle, rec, request.client_wants_usage(), app.force_stop.clone())
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

/// Attempts that reached an upstream (targets skipped for an open circuit are logged, not sent).
fn upstream_attempts(attempts: &[switchyard_core::AttemptLog]) -> usize {
    attempts.iter().filter(|a| a.error.as_deref() != Some("circuit_open")).count()
}

fn served_headers(target: &Target, attempts: usize) -> HeaderMap {
    served_headers_named(&target.provider_name, &target.model, attempts)
}

fn served_headers_named(provider: &str, model: &str, attempts: usize) -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    put("x-switchyard-provider", provider);
    put("x-switchyard-model", model);
    put("x-switchyard-attempts", &attempts.to_string());
    h
}
