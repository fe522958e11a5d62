//! Reading and checking what callers send: JSON bodies with the failing field named, budgets,
//! limits, scopes and instants. Every refusal names the field or parameter that is wrong.

use serde::de::DeserializeOwned;
use switchyard_core::store::{AlertTargets, Budget, Limits, Scope};

use super::time::{parse_instant, ACCEPTED};
use super::AdminError;

/// A JSON body; unknown fields (the types deny them), missing fields and wrong types are 400s
/// naming the field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            return AdminError::Invalid { param: None, message: format!("the request body is not valid JSON: {message}") };
        }
        // serde names unknown and missing fields in the message, with the path of their parent.
        let field = ["unknown field `", "missing field `"].iter().find_map(|p| message.strip_prefix(p)).and_then(|m| m.split('`').next());
        let param = match (path.as_str(), field) {
            (".", Some(f)) => Some(f.to_string()),
            (".", None) => None,
            (p, Some(f)) if !p.ends_with(f) => Some(join(p, f)),
            (p, _) => Some(p.to_string()),
        };
        AdminError::Invalid { param, message }
    })
}

/// `parent.field`, or `field` at the top level.
pub fn join(parent: &str, field: &str) -> String {
    if parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

/// A budget caps dollars or tokens (not both), requests, or requests and one of the others,
/// with positive amounts and percentages in (0, 100]. `at` is where the budget sits in the body
/// (`budget`, or empty for a budget body).
pub fn check_budget(budget: &Budget, at: &str) -> Result<(), AdminError> {
    if budget.requests == Some(0) {
        return Err(AdminError::invalid(join(at, "requests"), "must be at least 1"));
    }
    match (budget.usd, budget.tokens) {
        (Some(_), Some(_)) => return Err(AdminError::invalid(join(at, "usd"), "set either usd or tokens, not both")),
        (None, None) if budget.requests.is_none() => {
            return Err(AdminError::invalid(join(at, "usd"), "a budget needs usd (dollars), tokens or requests"))
        }
        (Some(usd), None) if !(usd.is_finite() && usd > 0.0) => {
            return Err(AdminError::invalid(join(at, "usd"), format!("must be a positive number of dollars, not {usd}")))
        }
        (None, Some(0)) => return Err(AdminError::invalid(join(at, "tokens"), "must be at least 1")),
        _ => {}
    }
    for (field, pct) in [("soft_pct", budget.soft_pct), ("downgrade_pct", budget.downgrade_pct)] {
        if let Some(pct) = pct.filter(|p| !(*p > 0.0 && *p <= 100.0)) {
            return Err(AdminError::invalid(join(at, field), format!("must be a percentage above 0 and at most 100, not {pct}")));
        }
    }
    if let Some(alerts) = &budget.alerts {
        check_alert_targets(alerts, &join(at, "alerts"))?;
    }
    match &budget.downgrade_to {
        Some(model) if model.trim().is_empty() => Err(AdminError::invalid(join(at, "downgrade_to"), "must name a model")),
        None if budget.downgrade_pct.is_some() => {
            Err(AdminError::invalid(join(at, "downgrade_pct"), "needs downgrade_to, the model to switch to"))
        }
        _ => Ok(()),
    }
}

/// Webhooks are http(s) URLs; email addresses are one line with an `@` (they become SMTP
/// commands and headers).
pub fn check_alert_targets(targets: &AlertTargets, at: &str) -> Result<(), AdminError> {
    for (field, url) in [("webhook", &targets.webhook), ("slack", &targets.slack)] {
        if let Some(url) = url.as_deref().filter(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
            let shown: String = url.chars().take(40).collect();
            return Err(AdminError::invalid(join(at, field), format!("must be an http:// or https:// URL, not `{shown}`")));
        }
    }
    if targets.email.iter().any(|to| !switchyard_core::govern::alert::is_email_address(to)) {
        return Err(AdminError::invalid(join(at, "email"), "must be a list of email addresses (name@host)"));
    }
    Ok(())
}

/// Limits that make no sense (a limit of 0 would refuse everything; a burst above its limit)
/// are refused with the field they are in.
pub fn check_limits(limits: &Limits, at: &str) -> Result<(), AdminError> {
    limits.check().map_err(|(field, why)| AdminError::invalid(join(at, field), why))
}

/// A policy scope from the path. Keys carry their own budget and limits (`POST /admin/keys`).
pub fn policy_scope(text: &str) -> Result<Scope, AdminError> {
    match Scope::parse(text) {
        Some(Scope::Key) | None => {
            Err(AdminError::invalid("scope", format!("unknown scope `{text}`; expected team, customer, feature or model")))
        }
        Some(scope) => Ok(scope),
    }
}

/// An instant given as RFC 3339 text or Unix seconds.
pub fn instant(text: &str, param: &str) -> Result<i64, AdminError> {
    parse_instant(text).ok_or_else(|| AdminError::invalid(param, format!("`{text}` is not a time; expected {ACCEPTED}")))
}
