//! `POST /v1/chat/completions`: the request path as a sequence of steps — read, authenticate,
//! parse, route, cache lookup, admit, attempt, respond (and fill the cache) — with the recorder
//! carried through so that every request is logged once and billed once.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use switchyard_core::admit::{admit, customer, AdmitError};
use switchyard_core::cache::entry::Entry;
use switchyard_core::cache::STATUS_HEADER;
use switchyard_core::lookup::Lookup;
use switchyard_core::request::Parsed;
use switchyard_core::time::now_ms;
use switchyard_core::{new_request_id, parse, run_attempts, Failed, Outcome, Recorder, RequestHeaders, Served, Target};
use tokio::time::Instant;

use super::auth::authenticate;
use super::cached::{hit_response, RouterEmbedder, StreamTap};
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
    let caller = match authenticate(app, headers).await {
        Ok(c) => c,
        Err(e) => return fail(rec, e),
    };
    rec.caller(&caller);
    let mut parsed = match parse(&bytes, gateway_headers(headers)) {
        Ok(p) => p,
        Err(e) => return fail(rec, ApiError::InvalidRequest(e)),
    };
    rec.requested(parsed.request.model(), parsed.request.stream());
    rec.fields(&parsed.fields, parsed.feature.as_deref(), &bytes);
    rec.customer(customer(&caller, &parsed));
    let mut plan = match app.router.plan(parsed.request.model(), &parsed.fields.fallback_models, &app.health) {
        Ok(p) => p,
        Err(e) => return fail(rec, ApiError::UnknownModel(e)),
    };
    // A cached answer is still an answer of that model: only for callers allowed to use it.
    if !caller.may_use(parsed.request.model()) {
        return fail(rec, ApiError::Admission(AdmitError::ModelNotAllowed { model: parsed.request.model().to_string() }));
    }
    // Hits are free unless the config counts them: then admission comes first.
    let mut admitted = None;
    if app.cache.count_hits {
        match admit(&app.gate(), &caller, &mut parsed, &mut plan, now_ms()).await {
            Ok(a) => admitted = Some(a),
            Err(e) => return fail(rec, ApiError::Admission(e)),
        }
    }
    let wait_limit = plan.first().map_or(Duration::from_secs(120), |p| p.timeouts.total);
    let embedder = RouterEmbedder { router: &app.router, health: &app.health };
    let cache_control = header_str(headers, "cache-control");
    let lookup = app.cache.lookup(&parsed, &caller.tenant, customer(&caller, &parsed), cache_control, wait_limit, &embedder).await;
    rec.cache_status(lookup.header());
    let mut governed = vec![(STATUS_HEADER, lookup.header().to_string())];
    let fill = match lookup {
        Lookup::Hit(entry) => {
            governed.extend(admitted.map(|a| a.headers).unwrap_or_default());
            return answer_hit(rec, "HIT", &entry, &parsed, governed);
        }
        Lookup::SemanticHit(entry, similarity) => {
            governed.push(("x-switchyard-cache-similarity", format!("{similarity:.4}")));
            governed.extend(admitted.map(|a| a.headers).unwrap_or_default());
            return answer_hit(rec, "SEMANTIC_HIT", &entry, &parsed, governed);
        }
        Lookup::Miss(fill) => Some(fill),
        Lookup::Bypass => None,
    };
    let admitted = match admitted {
        Some(a) => a,
        None => match admit(&app.gate(), &caller, &mut parsed, &mut plan, now_ms()).await {
            Ok(a) => a,
            Err(e) => return fail(rec, ApiError::Admission(e)),
        },
    };
    rec.bill(admitted.bill);
    governed.extend(admitted.headers);
    let request = &parsed.request;
    let result = run_attempts(&plan, request, &app.retry_policy, &app.retry_budget, &app.health, &app.router.latency, started).await;
    let (outcome, served, idle, target) = match result {
        Ok(Served { outcome, target, attempts }) => {
            rec.priced(app.pricing.price(request.model(), &target));
            let headers = served_headers(&target, upstream_attempts(&attempts));
            let idle = plan.iter().find(|p| p.target.key() == target.key()).and_then(|p| p.timeouts.idle);
            rec.attempts(attempts);
            (outcome, headers, idle, target)
        }
        Err(Failed { error, attempts }) => {
            let headers =
                attempts.last().map(|a| served_headers_named(&a.provider, &a.model, upstream_attempts(&attempts))).unwrap_or_default();
            rec.attempts(attempts);
            let mut response = fail(rec, ApiError::Provider(error));
            response.headers_mut().extend(headers);
            put_all(response.headers_mut(), governed);
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
            let cost = rec.cost_usd();
            if let (Some(fill), Some(entry)) =
                (fill, Entry::from_completion(&body, &target.provider_name, &target.model, cost.unwrap_or(0.0)))
            {
                fill.complete(entry).await;
            }
            rec.ok(200);
            let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response();
            if let Some(cost) = cost {
                put_all(response.headers_mut(), [("x-switchyard-cost-usd", format!("{cost:.8}"))]);
            }
            response
        }
        Outcome::Stream { prefix, rest, deadline } => {
            rec.first_token();
            rec.response_started(200);
            let tap = fill.map(|f| StreamTap::new(f, &target.provider_name, &target.model));
            sse_response(prefix, rest, deadline, idle, rec, request.client_wants_usage(), app.force_stop.clone(), tap)
        }
    };
    response.headers_mut().extend(served);
    put_all(response.headers_mut(), governed);
    response
}

/// A cache hit: logged with cost 0 and what it saved; no upstream call, no limits or budgets
/// (unless the config counts hits, in which case it was admitted already).
fn answer_hit(mut rec: Recorder, status: &str, entry: &Entry, parsed: &Parsed, headers: Vec<(&'static str, String)>) -> Response {
    rec.cache_hit(status, &entry.provider, &entry.model, entry.cost_usd);
    let stream = parsed.request.stream();
    if stream {
        rec.response_started(200);
    }
    rec.ok(200);
    let mut response = hit_response(entry, stream, parsed.request.client_wants_usage());
    put_all(response.headers_mut(), headers);
    response
}

pub(super) fn put_all(headers: &mut HeaderMap, values: impl IntoIterator<Item = (&'static str, String)>) {
    for (name, value) in values {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(HeaderName::from_static(name), v);
        }
    }
}

fn fail(rec: Recorder, error: ApiError) -> Response {
    rec.failed(error.status().as_u16(), error.log_type(), &error.body().error.message);
    error.into_response()
}

pub(super) async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(ApiError::BodyTooLarge { limit }),
        Err(e) => Err(ApiError::BodyUnreadable(e.to_string())),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
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
