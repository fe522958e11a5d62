//! Counter key names and budget windows. Names are built from user-chosen strings (team,
//! customer, feature names), so `:` and `%` in them are escaped: two different scopes can never
//! share a counter.

use crate::store::{Scope, Window};
use crate::time::rfc3339;

const PREFIX: &str = "switchyard:";
const DAY_MS: i64 = 86_400_000;

fn escape(name: &str) -> String {
    if !name.contains([':', '%']) {
        return name.to_string();
    }
    name.replace('%', "%25").replace(':', "%3A")
}

pub fn rate(scope: Scope, name: &str, what: &str) -> String {
    format!("{PREFIX}rl:{}:{}:{what}", scope.as_str(), escape(name))
}

pub fn slots(scope: Scope, name: &str) -> String {
    format!("{PREFIX}cc:{}:{}", scope.as_str(), escape(name))
}

pub fn budget(scope: Scope, name: &str, unit: Unit, window: Window, now_ms: i64) -> String {
    format!("{PREFIX}b:{}:{}:{}:{}", scope.as_str(), escape(name), unit.as_str(), window_id(window, now_ms))
}

pub fn alert(budget_key: &str) -> String {
    format!("{budget_key}:alerted")
}

/// What a budget counts, in integer units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Nano-dollars: 1e-9 USD, so that a few tokens of a cheap model still count.
    NanoUsd,
    Tokens,
    /// Admitted requests: each counts 1.
    Requests,
}

pub const NANOS_PER_USD: f64 = 1e9;

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::NanoUsd => "usd",
            Unit::Tokens => "tok",
            Unit::Requests => "req",
        }
    }

    /// A human reading of an amount: `$1.2300`, `1234 tokens` or `1000 requests`.
    pub fn show(self, units: i64) -> String {
        match self {
            Unit::NanoUsd => format!("${:.4}", units as f64 / NANOS_PER_USD),
            Unit::Tokens => format!("{units} tokens"),
            Unit::Requests => format!("{units} requests"),
        }
    }
}

/// `d2026-11-22`, `m2026-11` or `total`.
pub fn window_id(window: Window, now_ms: i64) -> String {
    let date = &rfc3339(now_ms)[..10];
    match window {
        Window::Daily => format!("d{date}"),
        Window::Monthly => format!("m{}", &date[..7]),
        Window::Total => "total".into(),
    }
}

/// Where the current window began (Unix ms); `None` for `total`.
pub fn window_start(window: Window, now_ms: i64) -> Option<i64> {
    match window {
        Window::Daily => Some(now_ms - now_ms.rem_euclid(DAY_MS)),
        Window::Monthly => {
            let day_start = now_ms - now_ms.rem_euclid(DAY_MS);
            let day_of_month: i64 = rfc3339(now_ms)[8..10].parse().unwrap_or(1);
            Some(day_start - (day_of_month - 1) * DAY_MS)
        }
        Window::Total => None,
    }
}

/// How long a window's counter must live: to the window's end plus a day of slack (the
/// longest month is 31 days); a total budget's counter lives a year past its last write.
pub fn window_ttl_ms(window: Window, now_ms: i64) -> u64 {
    let ms = match window {
        Window::Daily => DAY_MS - now_ms.rem_euclid(DAY_MS) + DAY_MS,
        Window::Monthly => 32 * DAY_MS,
        Window::Total => 366 * DAY_MS,
    };
    ms as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-22T06:45:00Z
    const NOW: i64 = 1_795_329_900_000;

    #[test]
    fn windows_are_utc_calendar_days_and_months() {
        assert_eq!(&rfc3339(NOW)[..19], "2026-11-22T06:45:00");
        assert_eq!(window_id(Window::Daily, NOW), "d2026-11-22");
        assert_eq!(window_id(Window::Monthly, NOW), "m2026-11");
        assert_eq!(rfc3339(window_start(Window::Daily, NOW).unwrap()), "2026-11-22T00:00:00.000Z");
        assert_eq!(rfc3339(window_start(Window::Monthly, NOW).unwrap()), "2026-11-01T00:00:00.000Z");
        assert_eq!(window_start(Window::Total, NOW), None);
        let first = window_start(Window::Monthly, NOW).unwrap();
        assert_eq!(rfc3339(window_start(Window::Monthly, first).unwrap()), "2026-11-01T00:00:00.000Z");
    }

    #[test]
    fn user_names_cannot_collide() {
        assert_ne!(rate(Scope::Team, "a:b", "rpm"), rate(Scope::Team, "a", "b:rpm"));
        assert_ne!(slots(Scope::Customer, "x%3Ay"), slots(Scope::Customer, "x:y"));
        assert_eq!(budget(Scope::Key, "key_1", Unit::NanoUsd, Window::Daily, NOW), "switchyard:b:key:key_1:usd:d2026-11-22");
    }
}
