//! Authentication and admission refusals as HTTP: 401 for keys, 403 for what a key may not do,
//! 429 for limits and budgets, 503 when the shared counters are down and the rules say so.
//! Messages name the limit or budget that refused, so a person knows what happened and when it
//! clears; they never say whether a presented key exists.

use std::time::Duration;

use http::StatusCode;
use switchyard_core::admit::AdmitError;
use switchyard_core::govern::{AuthError, Refusal, Unit};
use switchyard_protocol::openai::ErrorBody;

pub fn status(e: &AdmitError) -> StatusCode {
    match e {
        AdmitError::ModelNotAllowed { .. } | AdmitError::Unpriced { .. } => StatusCode::FORBIDDEN,
        AdmitError::TooExpensive { .. } | AdmitError::Refused(Refusal::TooLarge { .. }) => StatusCode::BAD_REQUEST,
        AdmitError::Refused(Refusal::Unavailable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
        AdmitError::Refused(_) => StatusCode::TOO_MANY_REQUESTS,
        AdmitError::Route(_) => StatusCode::NOT_FOUND,
    }
}

pub fn log_type(e: &AdmitError) -> &'static str {
    match e {
        AdmitError::ModelNotAllowed { .. } => "model_not_allowed",
        AdmitError::Unpriced { .. } => "model_unpriced",
        AdmitError::TooExpensive { .. } => "max_cost_exceeded",
        AdmitError::Route(_) => "model_not_found",
        AdmitError::Refused(r) => match r {
            Refusal::RateLimited { .. } => "rate_limited",
            Refusal::TooLarge { .. } => "request_too_large_for_limit",
            Refusal::Busy { .. } => "concurrency_limited",
            Refusal::BudgetExceeded { .. } => "budget_exceeded",
            Refusal::Unavailable { .. } => "limits_unavailable",
        },
    }
}

/// Refusals that no retry can turn into an answer soon.
pub fn final_refusal(e: &AdmitError) -> bool {
    matches!(e, AdmitError::Refused(Refusal::BudgetExceeded { .. } | Refusal::TooLarge { .. }))
}

pub fn retry_after(e: &AdmitError) -> Option<Duration> {
    match e {
        AdmitError::Refused(Refusal::RateLimited { retry_after_ms, .. }) => Some(Duration::from_millis((*retry_after_ms).max(1))),
        AdmitError::Refused(Refusal::Busy { .. } | Refusal::Unavailable { .. }) => Some(Duration::from_secs(1)),
        _ => None,
    }
}

/// OpenAI's `x-ratelimit-*` headers for the limit that refused.
pub fn rate_headers(e: &AdmitError) -> Vec<(String, String)> {
    match e {
        AdmitError::Refused(Refusal::RateLimited { what, limit, reset_ms, .. }) => vec![
            (format!("x-ratelimit-limit-{what}"), limit.to_string()),
            (format!("x-ratelimit-remaining-{what}"), "0".into()),
            (format!("x-ratelimit-reset-{what}"), format!("{reset_ms}ms")),
        ],
        _ => Vec::new(),
    }
}

pub fn auth_body(e: AuthError) -> ErrorBody {
    let code = match e {
        AuthError::Missing => "missing_api_key",
        AuthError::Invalid => "invalid_api_key",
        AuthError::Unverifiable => return ErrorBody::new(e.message(), "server_error", None, Some("key_store_unavailable".into())),
    };
    ErrorBody::new(e.message(), "invalid_request_error", None, Some(code.into()))
}

pub fn body(e: &AdmitError) -> ErrorBody {
    let error = |message: String, kind: &str, param: Option<&str>, code: &str| {
        ErrorBody::new(message, kind, param.map(str::to_string), Some(code.into()))
    };
    match e {
        AdmitError::ModelNotAllowed { model } => {
            error(format!("this API key may not use model `{model}`; ask for it to be added to the key's models"), "permission_error", Some("model"), "model_not_allowed")
        }
        AdmitError::Unpriced { model } => error(
            format!("model `{model}` has no price, and this gateway refuses unpriced models (pricing.unpriced: block); set models.<name>.price"),
            "permission_error",
            Some("model"),
            "model_unpriced",
        ),
        AdmitError::TooExpensive { max_cost_usd, input_cost_usd } => error(
            format!("max_cost_usd is ${max_cost_usd}, but the prompt alone is estimated at ${input_cost_usd:.6}, leaving nothing for the answer"),
            "invalid_request_error",
            Some("max_cost_usd"),
            "max_cost_exceeded",
        ),
        AdmitError::Route(e) => error(e.to_string(), "invalid_request_error", Some("model"), "model_not_found"),
        AdmitError::Refused(r) => refusal(r),
    }
}

fn refusal(r: &Refusal) -> ErrorBody {
    let error = |message: String, kind: &str, code: &str| ErrorBody::new(message, kind, None, Some(code.into()));
    match r {
        Refusal::RateLimited { scope, name, what, limit, retry_after_ms, .. } => error(
            format!(
                "rate limit reached for {} `{name}`: {limit} {what} per minute; retry in {:.1}s",
                scope.as_str(),
                (*retry_after_ms as f64 / 1000.0).max(0.1)
            ),
            "rate_limit_error",
            "rate_limit_exceeded",
        ),
        Refusal::TooLarge { scope, name, needed, limit } => error(
            format!("this request needs about {needed} tokens, more than the {limit} tokens that the tokens-per-minute limit of {} `{name}` allows at once; send a shorter request or a lower max_tokens", scope.as_str()),
            "invalid_request_error",
            "request_too_large_for_limit",
        ),
        Refusal::Busy { scope, name, max } => error(
            format!("{} `{name}` already has {max} requests in flight, its concurrency limit; retry when one finishes", scope.as_str()),
            "rate_limit_error",
            "concurrency_limit_exceeded",
        ),
        Refusal::BudgetExceeded { scope, name, unit: Unit::Requests, window, used, limit } => error(
            format!("request cap reached: {} `{name}` has made {used} of its {window} cap of {limit}{}", scope.as_str(), resets(window)),
            "budget_exceeded",
            "budget_exceeded",
        ),
        Refusal::BudgetExceeded { scope, name, window, used, limit, .. } => error(
            format!("budget exceeded: {} `{name}` has used {used} of its {window} budget of {limit}{}", scope.as_str(), resets(window)),
            "budget_exceeded",
            "budget_exceeded",
        ),
        Refusal::Unavailable { what } => error(
            format!("the shared {what} store is unreachable and this gateway is configured to refuse rather than guess; retry shortly"),
            "server_error",
            "limits_unavailable",
        ),
    }
}

fn resets(window: &str) -> &'static str {
    match window {
        "daily" => "; it resets at midnight UTC",
        "monthly" => "; it resets on the 1st of next month (UTC)",
        _ => "",
    }
}
