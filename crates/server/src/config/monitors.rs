//! `monitors:` — alert rules on a model's or a provider's error rate or p95 latency over a
//! rolling window, and on a circuit opening, read and validated into `switchyard_core::monitor`
//! rules. Every problem names its field: `monitors[0].window: …`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::{Mapping, Value};
use switchyard_core::govern::alert::is_email_address;
use switchyard_core::monitor::{Condition, Rule};
use switchyard_core::store::AlertTargets;
use switchyard_core::ModelRoute;

use super::{deserialize, ConfigError, HumanDuration};

pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
pub const DEFAULT_MIN_REQUESTS: u32 = 10;
const MIN_WINDOW: Duration = Duration::from_secs(1);
const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitorConfig {
    name: String,
    /// The model asked for: a configured alias or `provider/model`.
    model: Option<String>,
    provider: Option<String>,
    error_rate_above: Option<f64>,
    p95_latency_ms_above: Option<f64>,
    circuit_open: Option<bool>,
    window: Option<HumanDuration>,
    min_requests: Option<u32>,
    alerts: Option<AlertTargets>,
    /// Also alert when a firing rule stops holding (not for circuit_open).
    send_resolved: Option<bool>,
}

/// The rules of `monitors:`. `providers` and `models` are the configured ones (a rule on a name
/// that can never match is a typo); `smtp` says whether email alerts can be sent at all.
pub fn read(
    map: &Mapping,
    providers: &[String],
    models: &BTreeMap<String, ModelRoute>,
    smtp: bool,
    errors: &mut Vec<ConfigError>,
) -> Vec<Rule> {
    let items = match map.get("monitors") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Sequence(items)) => items,
        Some(_) => {
            errors.push(ConfigError::new("monitors", "expected a list of rules: - { name, model or provider, one condition, window }"));
            return Vec::new();
        }
    };
    let mut names = BTreeSet::new();
    let mut rules = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("monitors[{i}]");
        let Some(m) = deserialize::<MonitorConfig>(item, &path, errors) else { continue };
        let before = errors.len();
        let mut problem = |field: &str, message: &str| {
            errors.push(ConfigError::new(&if field.is_empty() { path.clone() } else { format!("{path}.{field}") }, message))
        };
        if m.name.trim().is_empty() {
            problem("name", "must not be empty");
        } else if !names.insert(m.name.clone()) {
            problem("name", &format!("`{}` is already the name of another monitor", m.name));
        }
        let condition = match (m.error_rate_above, m.p95_latency_ms_above, m.circuit_open) {
            (Some(rate), None, None) => {
                if !(0.0..1.0).contains(&rate) {
                    problem("error_rate_above", "must be a fraction from 0 to below 1 (0.05 is 5%)");
                }
                Some(Condition::ErrorRateAbove(rate))
            }
            (None, Some(ms), None) => {
                if !(ms.is_finite() && ms > 0.0) {
                    problem("p95_latency_ms_above", "must be a number of milliseconds above 0");
                }
                Some(Condition::P95LatencyAbove(ms))
            }
            (None, None, Some(open)) => {
                if !open {
                    problem("circuit_open", "must be true (remove the rule to turn it off)");
                }
                Some(Condition::CircuitOpen)
            }
            _ => {
                problem("", "needs exactly one condition: error_rate_above, p95_latency_ms_above or circuit_open: true");
                None
            }
        };
        let circuit = condition == Some(Condition::CircuitOpen);
        match (&m.model, &m.provider) {
            (Some(_), Some(_)) if !circuit => problem("", "watches a model or a provider: set one of `model` and `provider`"),
            (None, None) if !circuit && condition.is_some() => problem("", "needs `model` (the model asked for) or `provider`"),
            _ => {}
        }
        if let Some(p) = &m.provider {
            if !providers.contains(p) {
                problem("provider", &format!("unknown provider `{p}`; configured providers: {}", providers.join(", ")));
            }
        }
        if let Some(model) = &m.model {
            let known = circuit
                || models.contains_key(model)
                || model.split_once('/').is_some_and(|(p, m)| !m.is_empty() && providers.iter().any(|d| d == p));
            if !known || model.is_empty() {
                problem("model", &format!("unknown model `{model}`; use a configured alias or provider/model with a configured provider"));
            }
        }
        let window = m.window.map_or(DEFAULT_WINDOW, |w| w.0);
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&window) {
            problem("window", "must be from 1s to 24h");
        }
        if m.min_requests == Some(0) {
            problem("min_requests", "must be at least 1");
        }
        if circuit && m.min_requests.is_some() {
            problem("min_requests", "does not apply to circuit_open rules");
        }
        if circuit && m.send_resolved.is_some() {
            problem("send_resolved", "does not apply to circuit_open rules (a circuit that closes is not reported)");
        }
        if let Some(targets) = &m.alerts {
            let is_url = |u: &String| u.starts_with("http://") || u.starts_with("https://");
            if targets.webhook.as_ref().is_some_and(|u| !is_url(u)) {
                problem("alerts.webhook", "must be an http:// or https:// URL");
            }
            if targets.slack.as_ref().is_some_and(|u| !is_url(u)) {
                problem("alerts.slack", "must be an http:// or https:// URL");
            }
            if !targets.email.iter().all(|to| is_email_address(to)) {
                problem("alerts.email", "must be a list of email addresses (name@host)");
            } else if !targets.email.is_empty() && !smtp {
                problem("alerts.email", "needs an SMTP server: set governance.alerts.email.smtp and .from");
            }
        }
        if errors.len() > before {
            continue;
        }
        let Some(condition) = condition else { continue };
        rules.push(Rule {
            name: m.name,
            model: m.model,
            provider: m.provider,
            condition,
            window,
            min_requests: m.min_requests.unwrap_or(DEFAULT_MIN_REQUESTS),
            alerts: m.alerts,
            send_resolved: m.send_resolved.unwrap_or(false),
        });
    }
    rules
}
