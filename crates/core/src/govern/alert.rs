//! Alerts on every cap: a soft cap reached, a hard cap refusing, a rate or concurrency limit
//! saturated. The governor decides that one is due (once per budget window and kind, across all
//! instances, see `Governor::alert_once`) and hands it to an `AlertSink`, which delivers it off
//! the request path. Monitors (`crate::monitor`) raise theirs through the same sink. Alert text
//! names scopes, rules and models only: never a key, a prompt or a body.

use std::sync::Arc;

use crate::store::{AlertTargets, Scope};

/// What crossed a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// A budget or request cap reached its `soft_pct`.
    SoftCap,
    /// A budget or request cap refused a request.
    HardCap,
    /// A rate or concurrency limit refused a request.
    Saturated,
    /// A monitor's error rate went over its threshold.
    MonitorErrorRate,
    /// A monitor's p95 latency went over its threshold.
    MonitorLatency,
    /// A circuit breaker opened on a target a monitor watches.
    CircuitOpen,
    /// A monitor that fired stopped holding (rules with `send_resolved`).
    MonitorResolved,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::SoftCap => "soft_cap",
            AlertKind::HardCap => "hard_cap",
            AlertKind::Saturated => "limit_saturated",
            AlertKind::MonitorErrorRate => "monitor_error_rate",
            AlertKind::MonitorLatency => "monitor_latency",
            AlertKind::CircuitOpen => "circuit_open",
            AlertKind::MonitorResolved => "monitor_resolved",
        }
    }
}

/// One alert, due once per `window` (`d2026-11-22`, `m2026-11`, `total`, or the UTC hour
/// `h2026-11-22T06` for limits, which have no window of their own; a monitor's rolling window,
/// `5m`).
#[derive(Debug, Clone)]
pub struct Alert {
    pub kind: AlertKind,
    /// The budget's or limit's scope; `None` for a monitor's alert (`name` is the rule's).
    pub scope: Option<Scope>,
    pub name: String,
    pub window: String,
    /// One human line: what crossed which line, e.g. "team `search`: daily request cap at 80%
    /// (800 requests of 1000 requests)".
    pub text: String,
    /// The budget's own destinations; `None`: the configured default (`governance.alerts`).
    pub targets: Option<AlertTargets>,
    /// What a monitor saw, for the webhook's fields; `None` for budget and limit alerts.
    pub monitor: Option<MonitorFacts>,
}

/// A monitor alert's subject (`model gpt-4o`, `provider openai`, `circuit openai/gpt-4o`), the
/// value it measured and the threshold it crossed (none for a circuit opening).
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorFacts {
    pub subject: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
}

pub type AlertSink = Arc<dyn Fn(Alert) + Send + Sync>;

/// One line, `local@domain`, nothing that could end an SMTP command or a mail header.
pub fn is_email_address(text: &str) -> bool {
    let ok_chars = !text.is_empty() && text.len() <= 254 && text.chars().all(|c| c.is_ascii_graphic() && !"<>\"(),;:\\[]".contains(c));
    match text.split_once('@') {
        Some((local, domain)) => ok_chars && !local.is_empty() && !domain.is_empty() && !domain.contains('@'),
        None => false,
    }
}

/// The UTC hour of `now_ms`, the dedup window of limit alerts: a limit that stays saturated is
/// reported once an hour, not once a minute.
pub fn hour_window(now_ms: i64) -> String {
    format!("h{}", &crate::time::rfc3339(now_ms)[..13])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_that_could_inject_smtp_commands_are_not_addresses() {
        assert!(is_email_address("ops@example.com"));
        assert!(is_email_address("a.b+c@x"));
        for bad in ["", "ops", "@x", "a@", "a@b@c", "a@b\r\nRCPT TO:<x@y>", "a b@c", "<a@b>"] {
            assert!(!is_email_address(bad), "{bad:?}");
        }
    }

    #[test]
    fn limit_alerts_are_windowed_by_the_utc_hour() {
        assert_eq!(hour_window(1_795_329_900_000), "h2026-11-22T06");
    }
}
