//! `POST /v1/embeddings`: OpenAI's embeddings API through the same keys, routing and fallbacks as
//! chat — read, authenticate, parse, plan, try the targets in order (the next one only after a
//! failure worth retrying), answer the upstream's JSON — with one log record per request. Keys'
//! limits and budgets apply as to chat: the input is reserved before the call and settled to the
//! provider's reported usage at the catalog's embeddings price.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::{Map, Value};
use switchyard_core::admit::{admit_embeddings, AdmitError, EmbeddingsAsk};
use switchyard_core::retry::retryable;
use switchyard_core::time::now_ms;
use switchyard_core::{new_request_id, AttemptLog, GatewayFields, Recorder};
use switchyard_protocol::openai::RequestFormatError;
use switchyard_providers::{ErrorKind, ProviderError};
use tokio::time::Instant;

use super::auth::authenticate;
use super::chat::{put_all, read_body};
use super::error::ApiError;
use super::App;

pub async fn embeddings(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let mut rec = Recorder::start(app.log.clone(), new_request_id(), app.log_bodies);
    let request_id = HeaderValue::from_str(rec.request_id()).ok();
    let mut response = tokio::select! {
        result = handle(&app, &headers, body, &mut rec) => match result {
            Ok(response) => {
                rec.ok(200);
                response
            }
            Err(e) => {
                rec.failed(e.status().as_u16(), e.log_type(), &e.body().error.message);
                e.into_response()
            }
        },
        // The dropped handler leaves the record to the recorder's drop.
        () = app.force_stop.cancelled() => ApiError::ShuttingDown.into_response(),
    };
    if let Some(id) = request_id {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

async fn handle(app: &App, headers: &HeaderMap, body: Body, rec: &mut Recorder) -> Result<Response, ApiError> {
    let bytes = read_body(body, app.max_body_bytes).await?;
    let caller = authenticate(app, headers).await?;
    rec.caller(&caller);
    let (request, model, fields) = parse(&bytes, headers).map_err(ApiError::InvalidRequest)?;
    rec.requested(&model, false);
    let feature = headers.get("x-switchyard-feature").and_then(|v| v.to_str().ok());
    rec.fields(&fields, feature, &bytes);
    let customer = caller.bound_customer().or(fields.customer_identifier.as_deref());
    rec.customer(customer);
    if !caller.may_use(&model) {
        return Err(ApiError::Admission(AdmitError::ModelNotAllowed { model }));
    }
    let plan = app.router.plan(&model, &fields.fallback_models, &app.health).map_err(ApiError::UnknownModel)?;
    let input = request.get("input").unwrap_or(&Value::Null);
    let ask = EmbeddingsAsk { customer, feature, input };
    let admitted = admit_embeddings(&app.gate(), &caller, ask, &model, &plan, now_ms()).await.map_err(ApiError::Admission)?;
    rec.bill(admitted.bill);
    let mut body = Value::Object(request);
    let mut attempts = Vec::new();
    let mut last_error = None;
    for step in plan.iter().filter(|s| !s.context_only) {
        let target = &step.target;
        body["model"] = Value::String(target.model.clone());
        let started = Instant::now();
        let deadline = step.timeouts.first_token;
        let result = match tokio::time::timeout(deadline, target.provider.embeddings(&body, &target.model)).await {
            Ok(result) => result,
            Err(_) => Err(ProviderError::new(
                ErrorKind::Timeout,
                format!("provider `{}` did not answer within {deadline:?}", target.provider_name),
            )),
        };
        let error = result.as_ref().err().map(|e| e.kind.as_str().to_string());
        attempts.push(AttemptLog {
            provider: target.provider_name.to_string(),
            model: target.model.clone(),
            error,
            ms: started.elapsed().as_secs_f64() * 1000.0,
        });
        match result {
            Ok(answer) => {
                let tried = attempts.len();
                rec.attempts(attempts);
                rec.priced(app.pricing.price(&model, target));
                rec.first_token();
                rec.usage(answer.usage);
                rec.response_body(&answer.body);
                let mut response = respond(answer.body, &target.provider_name, &target.model, tried);
                let cost = rec.cost_usd().map(|c| ("x-switchyard-cost-usd", format!("{c:.8}")));
                put_all(response.headers_mut(), admitted.headers.into_iter().chain(cost));
                return Ok(response);
            }
            Err(e) if retryable(e.kind) => last_error = Some(e),
            Err(e) => {
                rec.attempts(attempts);
                return Err(ApiError::Provider(e));
            }
        }
    }
    rec.attempts(attempts);
    Err(ApiError::Provider(
        last_error.unwrap_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("no target serves embeddings for `{model}`"))),
    ))
}

/// The gateway's own body fields; removed before the request goes upstream (OpenAI refuses
/// fields it does not know). Those that matter for embeddings are read.
const GATEWAY_FIELDS: [&str; 8] =
    ["customer_identifier", "metadata", "fallback_models", "cache_enabled", "cache_ttl", "cache_options", "max_cost_usd", "disable_log"];

#[derive(serde::Deserialize)]
struct Fields {
    customer_identifier: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    fallback_models: Vec<String>,
    #[serde(default)]
    disable_log: Option<bool>,
}

/// The body as a JSON object with `model` (a non-empty string) and `input`, minus the gateway's fields.
fn parse(bytes: &[u8], headers: &HeaderMap) -> Result<(Map<String, Value>, String, GatewayFields), RequestFormatError> {
    let mut request: Map<String, Value> = serde_json::from_slice(bytes).map_err(|e| {
        let what = if e.is_data() { "the request body must be a JSON object" } else { "invalid JSON" };
        RequestFormatError { message: format!("{what}: {e}"), param: None }
    })?;
    let model = match request.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(Value::String(_)) => return Err(RequestFormatError::field("model", "`model` must not be empty")),
        None | Some(Value::Null) => return Err(RequestFormatError::field("model", "`model` is required: a string such as \"mock/embed\"")),
        Some(_) => return Err(RequestFormatError::field("model", "invalid `model`: expected a string such as \"mock/embed\"")),
    };
    if request.get("input").is_none_or(Value::is_null) {
        return Err(RequestFormatError::field("input", "`input` is required: a string or an array of strings to embed"));
    }
    let ours: Map<String, Value> =
        GATEWAY_FIELDS.iter().filter_map(|k| request.remove(*k).filter(|v| !v.is_null()).map(|v| (k.to_string(), v))).collect();
    let fields: Fields = serde_path_to_error::deserialize(Value::Object(ours)).map_err(|e| {
        let param = e.path().to_string();
        RequestFormatError::field(param.clone(), format!("invalid `{param}`: {}", e.inner()))
    })?;
    // Precedence as for chat: the body field, the header, then OpenAI's own `user` (kept upstream).
    let header_customer = headers.get("x-switchyard-customer").and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let user = request.get("user").and_then(Value::as_str);
    let customer_identifier = fields.customer_identifier.or_else(|| header_customer.or(user).map(str::to_string));
    let gateway = GatewayFields {
        customer_identifier,
        metadata: fields.metadata,
        fallback_models: fields.fallback_models,
        disable_log: fields.disable_log.unwrap_or(false),
        ..GatewayFields::default()
    };
    Ok((request, model, gateway))
}

fn respond(body: Bytes, provider: &str, model: &str, attempts: usize) -> Response {
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    for (name, value) in
        [("x-switchyard-provider", provider), ("x-switchyard-model", model), ("x-switchyard-attempts", &attempts.to_string())]
    {
        if let Ok(v) = HeaderValue::from_str(value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}
