//! Process-wide counters for what an operator must be alerted to, exposed by the server at
//! `GET /metrics` in Prometheus' text format. Labels never carry keys, customers or prompts.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Counter {
    name: &'static str,
    help: &'static str,
    value: AtomicU64,
}

impl Counter {
    const fn new(name: &'static str, help: &'static str) -> Self {
        Self { name, help, value: AtomicU64::new(0) }
    }

    pub fn inc(&self) {
        self.value.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

pub static UNPRICED_REQUESTS: Counter = Counter::new(
    "switchyard_unpriced_requests_total",
    "Requests served by a model without a price (charged by the pricing.unpriced rule).",
);
pub static SHARED_COUNTER_OUTAGES: Counter =
    Counter::new("switchyard_shared_counter_outages_total", "Times the shared counters (Redis) were marked unreachable.");
pub static LOCAL_ADMISSIONS: Counter = Counter::new(
    "switchyard_local_admissions_total",
    "Admissions decided by the outage rules because the shared counters were unreachable.",
);
pub static RATE_LIMITED: Counter = Counter::new("switchyard_rate_limited_total", "Requests refused by a rate or concurrency limit.");
pub static BUDGET_REFUSED: Counter = Counter::new("switchyard_budget_refused_total", "Requests refused because a budget was used up.");
pub static BUDGET_ALERTS: Counter = Counter::new("switchyard_budget_alerts_total", "Soft-cap alerts sent (once per budget window).");

pub static CONFIG_RELOADS: Counter =
    Counter::new("switchyard_config_reloads_total", "Config reloads (SIGHUP or POST /admin/config/reload) now running.");
pub static CONFIG_RELOAD_FAILURES: Counter = Counter::new(
    "switchyard_config_reload_failures_total",
    "Config reloads refused because the file did not validate; the running config was kept.",
);

const ALL: [&Counter; 8] = [
    &UNPRICED_REQUESTS,
    &SHARED_COUNTER_OUTAGES,
    &LOCAL_ADMISSIONS,
    &RATE_LIMITED,
    &BUDGET_REFUSED,
    &BUDGET_ALERTS,
    &CONFIG_RELOADS,
    &CONFIG_RELOAD_FAILURES,
];

pub fn render() -> String {
    let mut out = String::new();
    for c in ALL {
        let _ = writeln!(out, "# HELP {} {}\n# TYPE {} counter\n{} {}", c.name, c.help, c.name, c.name, c.get());
    }
    out
}
