//! Monitors: alert rules on a model's or a provider's error rate or p95 latency over a rolling
//! window, and on a circuit opening. Fed from every finished request record (`observe`, called
//! where the record is submitted) and from the breakers (`circuit_opened`); a ticker evaluates
//! the windows (`Monitors::evaluate`). A rule fires when its condition starts to hold and not
//! again until it has cleared (optionally with a "resolved" notice then). Alerts go to the same `AlertSink` as budget alerts.
//!
//! Each instance evaluates its own traffic: N replicas each alert on what they saw.
//!
//! With no monitors configured the request path reads one atomic flag; with some, a request
//! touches only the rules that match it (a string comparison per rule, then a short lock of
//! that rule's window).

mod window;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::time::Instant;

use crate::breaker::Key;
use crate::govern::{Alert, AlertKind, AlertSink, MonitorFacts};
use crate::store::{AlertTargets, AttemptError, LogRecord};
pub use window::Totals;
use window::Window;

/// What a rule watches for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// Failed / counted requests over the window above this fraction.
    ErrorRateAbove(f64),
    /// The window's p95 latency above this many milliseconds.
    P95LatencyAbove(f64),
    /// A circuit breaker opened.
    CircuitOpen,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::ErrorRateAbove(_) => "error_rate_above",
            Condition::P95LatencyAbove(_) => "p95_latency_ms_above",
            Condition::CircuitOpen => "circuit_open",
        }
    }

    pub fn threshold(self) -> Option<f64> {
        match self {
            Condition::ErrorRateAbove(t) | Condition::P95LatencyAbove(t) => Some(t),
            Condition::CircuitOpen => None,
        }
    }
}

/// One validated rule (`monitors:` in the config).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    /// The model asked for (an alias or `provider/model`); for a circuit rule, the target's
    /// model (`gpt-4o` or `openai/gpt-4o`).
    pub model: Option<String>,
    pub provider: Option<String>,
    pub condition: Condition,
    /// The rolling window; for a circuit rule, how long one circuit is not reported again.
    pub window: Duration,
    pub min_requests: u32,
    /// Its own destinations; `None`: the configured default (`governance.alerts`).
    pub alerts: Option<AlertTargets>,
    /// Also tell the destinations when a firing window rule stops holding.
    pub send_resolved: bool,
}

impl Rule {
    /// `model gpt-4o` or `provider openai`: what the alert is about.
    fn subject(&self) -> String {
        match (&self.model, &self.provider) {
            (Some(m), _) => format!("model `{m}`"),
            (None, Some(p)) => format!("provider `{p}`"),
            (None, None) => "every target".into(),
        }
    }
}

/// When a rule started to fire and what it measured then (for the admin API).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Firing {
    pub since_ms: i64,
    pub value: f64,
}

struct Entry {
    rule: Rule,
    /// Windows count time from here (kept across reloads with the entry).
    origin: Instant,
    window: Mutex<Window>,
    firing: Mutex<Option<Firing>>,
    /// Circuit rules: when each circuit was last reported.
    reported: Mutex<HashMap<Key, Instant>>,
}

impl Entry {
    fn new(rule: Rule, origin: Instant) -> Self {
        let window = Mutex::new(Window::new(rule.window));
        Self { rule, origin, window, firing: Mutex::default(), reported: Mutex::default() }
    }

    fn add(&self, now: Instant, failed: bool, latency_ms: f64) {
        let elapsed = now.saturating_duration_since(self.origin);
        self.window.lock().unwrap_or_else(|p| p.into_inner()).add(elapsed, failed, latency_ms);
    }

    fn totals(&self, now: Instant) -> Totals {
        self.window.lock().unwrap_or_else(|p| p.into_inner()).totals(now.saturating_duration_since(self.origin))
    }
}

/// The rules of the running config and their state.
pub struct Monitors {
    entries: Vec<Arc<Entry>>,
    /// Indexes of the rules fed per request (model) and per attempt (provider).
    by_request: Vec<usize>,
    by_attempt: Vec<usize>,
    sink: Option<AlertSink>,
}

/// A rule and its state now, for `GET /admin/monitors`.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub rule: Rule,
    pub totals: Option<Totals>,
    pub firing: Option<Firing>,
}

impl Monitors {
    /// The monitors of `rules`; a rule equal to one of `previous` keeps its window and firing
    /// state (a reload that changes another rule does not re-arm it or empty its window).
    pub fn new(rules: Vec<Rule>, sink: Option<AlertSink>, previous: Option<&Monitors>) -> Self {
        let now = Instant::now();
        let entries: Vec<Arc<Entry>> = rules
            .into_iter()
            .map(|rule| {
                let kept = previous.and_then(|p| p.entries.iter().find(|e| e.rule == rule));
                kept.cloned().unwrap_or_else(|| Arc::new(Entry::new(rule, now)))
            })
            .collect();
        let of = |f: fn(&Rule) -> bool| -> Vec<usize> {
            entries.iter().enumerate().filter(|(_, e)| e.rule.condition != Condition::CircuitOpen && f(&e.rule)).map(|(i, _)| i).collect()
        };
        let by_request = of(|r| r.model.is_some());
        let by_attempt = of(|r| r.model.is_none() && r.provider.is_some());
        Self { entries, by_request, by_attempt, sink }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How often the ticker evaluates: a tenth of the shortest window, between 100 ms and 10 s.
    pub fn tick(&self) -> Duration {
        let shortest = self.entries.iter().map(|e| e.rule.window).min().unwrap_or(Duration::from_secs(100));
        (shortest / 10).clamp(Duration::from_millis(100), Duration::from_secs(10))
    }

    /// Counts a finished request in the rules it matches. A model rule counts the request (by
    /// the model asked for); a provider rule counts each attempt that reached that provider.
    pub fn observe(&self, record: &LogRecord, now: Instant) {
        if !self.by_request.is_empty() {
            if let Some(failed) = request_outcome(record) {
                for e in self.by_request.iter().map(|i| &self.entries[*i]) {
                    if e.rule.model.as_deref() == Some(record.requested_model.as_str()) {
                        e.add(now, failed, record.latency_ms);
                    }
                }
            }
        }
        if !self.by_attempt.is_empty() {
            for attempt in &record.attempt_log {
                let Some(failed) = attempt_outcome(attempt.error) else { continue };
                for e in self.by_attempt.iter().map(|i| &self.entries[*i]) {
                    if e.rule.provider.as_deref() == Some(attempt.provider.as_str()) {
                        e.add(now, failed, attempt.ms);
                    }
                }
            }
        }
    }

    /// Evaluates every window rule at `now`: returns the alerts of the rules that started to
    /// hold (and marks them firing); rules that stopped holding are re-armed.
    pub fn evaluate(&self, now: Instant) -> Vec<Alert> {
        let mut out = Vec::new();
        for e in &self.entries {
            let rule = &e.rule;
            let totals = e.totals(now);
            let value = match rule.condition {
                Condition::CircuitOpen => continue,
                Condition::ErrorRateAbove(_) => Some(totals.error_rate()),
                Condition::P95LatencyAbove(_) => totals.p95_ms,
            };
            let threshold = rule.condition.threshold().unwrap_or(f64::INFINITY);
            let holds = totals.requests >= rule.min_requests && value.is_some_and(|v| v > threshold);
            let mut firing = e.firing.lock().unwrap_or_else(|p| p.into_inner());
            match (holds, firing.is_some()) {
                (true, false) => {
                    let value = value.unwrap_or_default();
                    *firing = Some(Firing { since_ms: crate::time::now_ms(), value });
                    out.push(window_alert(rule, &totals, value));
                }
                (false, true) => {
                    let since_ms = firing.take().map_or(0, |f| f.since_ms);
                    if rule.send_resolved {
                        out.push(resolved_alert(rule, &totals, value, since_ms));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// A circuit opened: the alerts of the circuit rules that watch it and have not reported it
    /// within their window.
    pub fn circuit_opened(&self, key: &Key, now: Instant) -> Vec<Alert> {
        let (provider, model) = (&*key.0, key.1.as_str());
        let target = format!("{provider}/{model}");
        let mut out = Vec::new();
        for e in self.entries.iter().filter(|e| e.rule.condition == Condition::CircuitOpen) {
            let rule = &e.rule;
            let watched =
                rule.provider.as_deref().is_none_or(|p| p == provider) && rule.model.as_deref().is_none_or(|m| m == model || m == target);
            if !watched {
                continue;
            }
            let mut reported = e.reported.lock().unwrap_or_else(|p| p.into_inner());
            if reported.get(key).is_some_and(|at| now.saturating_duration_since(*at) < rule.window) {
                continue;
            }
            if reported.len() >= 10_000 {
                reported.retain(|_, at| now.saturating_duration_since(*at) < rule.window);
            }
            reported.insert(key.clone(), now);
            let text =
                format!("monitor `{}`: the circuit of `{target}` opened; requests to it are refused until a probe succeeds", rule.name);
            out.push(Alert {
                kind: AlertKind::CircuitOpen,
                scope: None,
                name: rule.name.clone(),
                window: humantime_serde::re::humantime::format_duration(rule.window).to_string(),
                text,
                targets: rule.alerts.clone(),
                monitor: Some(MonitorFacts { subject: format!("circuit {target}"), value: None, threshold: None }),
            });
        }
        out
    }

    /// Every rule with its window's totals and whether it fires, for the admin API.
    pub fn status(&self, now: Instant) -> Vec<Status> {
        self.entries
            .iter()
            .map(|e| Status {
                rule: e.rule.clone(),
                totals: (e.rule.condition != Condition::CircuitOpen).then(|| e.totals(now)),
                firing: *e.firing.lock().unwrap_or_else(|p| p.into_inner()),
            })
            .collect()
    }

    /// Hands alerts to the sink and counts them.
    pub fn deliver(&self, alerts: Vec<Alert>) {
        for alert in alerts {
            crate::metrics::ALERTS.inc(alert.kind.as_str());
            if alert.kind == AlertKind::MonitorResolved {
                tracing::info!(kind = alert.kind.as_str(), monitor = %alert.name, "{}", alert.text);
            } else {
                tracing::warn!(kind = alert.kind.as_str(), monitor = %alert.name, "{}", alert.text);
            }
            if let Some(sink) = &self.sink {
                sink(alert);
            }
        }
    }
}

/// Whether a finished request failed, or `None` when it does not count: a cache hit, a client
/// that went away, or a refusal by the gateway itself (a 4xx before any upstream attempt). A
/// 4xx the upstream answered counts as a request that did not fail; every 5xx is a failure.
fn request_outcome(record: &LogRecord) -> Option<bool> {
    let cached = record.cache_status.as_deref().is_some_and(|s| s.ends_with("HIT"));
    if cached || record.status == 499 || record.status == 0 {
        return None;
    }
    if record.status >= 500 {
        return Some(true);
    }
    (record.attempts > 0).then_some(false)
}

/// Whether an upstream attempt failed through the provider's fault (as the breakers count it),
/// or `None` when it says nothing about the provider (not sent, cancelled, the client left).
fn attempt_outcome(error: Option<AttemptError>) -> Option<bool> {
    match error {
        None => Some(false),
        Some(AttemptError::Failed(kind)) => Some(crate::retry::retryable(kind)),
        Some(AttemptError::IdleTimeout | AttemptError::Deadline) => Some(true),
        Some(
            AttemptError::CircuitOpen
            | AttemptError::HedgeCancelled
            | AttemptError::ShuttingDown
            | AttemptError::ClientDisconnected
            | AttemptError::Unknown,
        ) => None,
    }
}

fn window_alert(rule: &Rule, totals: &Totals, value: f64) -> Alert {
    let window = humantime_serde::re::humantime::format_duration(rule.window).to_string();
    let threshold = rule.condition.threshold().unwrap_or_default();
    let (kind, text) = match rule.condition {
        Condition::P95LatencyAbove(_) => (
            AlertKind::MonitorLatency,
            format!(
                "monitor `{}`: {} p95 latency {value:.0} ms over the last {window} ({} requests) is above {threshold} ms",
                rule.name,
                rule.subject(),
                totals.requests
            ),
        ),
        _ => (
            AlertKind::MonitorErrorRate,
            format!(
                "monitor `{}`: {} error rate {:.1}% over the last {window} ({} failed of {} requests) is above {}%",
                rule.name,
                rule.subject(),
                value * 100.0,
                totals.failures,
                totals.requests,
                threshold * 100.0
            ),
        ),
    };
    Alert {
        kind,
        scope: None,
        name: rule.name.clone(),
        window,
        text,
        targets: rule.alerts.clone(),
        monitor: Some(MonitorFacts { subject: rule.subject().replace('`', ""), value: Some(value), threshold: Some(threshold) }),
    }
}

/// A firing rule stopped holding: what it measures now and since when it had fired.
fn resolved_alert(rule: &Rule, totals: &Totals, value: Option<f64>, since_ms: i64) -> Alert {
    let window = humantime_serde::re::humantime::format_duration(rule.window).to_string();
    let now = match (rule.condition, value) {
        _ if totals.requests < rule.min_requests => format!("fewer than {} requests over the last {window}", rule.min_requests),
        (Condition::P95LatencyAbove(t), Some(v)) => format!("p95 latency {v:.0} ms over the last {window}, not above {t} ms"),
        (_, v) => format!(
            "error rate {:.1}% over the last {window}, not above {}%",
            v.unwrap_or_default() * 100.0,
            rule.condition.threshold().unwrap_or_default() * 100.0
        ),
    };
    let text = format!("monitor `{}` resolved: {} {now} (firing since {})", rule.name, rule.subject(), crate::time::rfc3339(since_ms));
    Alert {
        kind: AlertKind::MonitorResolved,
        scope: None,
        name: rule.name.clone(),
        window,
        text,
        targets: rule.alerts.clone(),
        monitor: Some(MonitorFacts { subject: rule.subject().replace('`', ""), value, threshold: rule.condition.threshold() }),
    }
}

static ACTIVE: LazyLock<ArcSwapOption<Monitors>> = LazyLock::new(ArcSwapOption::empty);
/// Whether `ACTIVE` holds monitors: without any, a finished request reads this flag only.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Makes `monitors` the process's running monitors (`None` or no rules: none).
pub fn install(monitors: Option<Arc<Monitors>>) {
    let monitors = monitors.filter(|m| !m.is_empty());
    ENABLED.store(monitors.is_some(), Ordering::Release);
    ACTIVE.store(monitors);
}

/// The running monitors, if any.
pub fn active() -> Option<Arc<Monitors>> {
    ACTIVE.load_full()
}

/// Counts a finished request in the running monitors (see `Monitors::observe`).
pub fn observe(record: &LogRecord) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    if let Some(monitors) = ACTIVE.load().as_ref() {
        monitors.observe(record, Instant::now());
    }
}

/// The breaker of `key` opened (see `Monitors::circuit_opened`); the alerts go out at once.
pub fn circuit_opened(key: &Key) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    if let Some(monitors) = ACTIVE.load().as_ref() {
        let alerts = monitors.circuit_opened(key, Instant::now());
        monitors.deliver(alerts);
    }
}

#[cfg(test)]
mod tests;
