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

pub static SHED_REQUESTS: Counter =
    Counter::new("switchyard_shed_requests_total", "API requests answered 503 at once because server.max_in_flight were in flight.");
pub static EDGE_REFUSALS: Counter = Counter::new(
    "switchyard_edge_refusals_total",
    "Requests refused before any handler ran: a browser origin not in server.allowed_origins, a Host not allowed on a loopback listener, or a body that is not JSON.",
);
pub static REFUSED_CONNECTIONS: Counter = Counter::new(
    "switchyard_refused_connections_total",
    "Connections answered 503 and closed: server.max_connections were open, each with a request in flight.",
);
pub static EVICTED_CONNECTIONS: Counter = Counter::new(
    "switchyard_evicted_connections_total",
    "Connections without a request in flight closed to make room for a new one (connection cap or no file descriptors).",
);
pub static TIMED_OUT_CONNECTIONS: Counter = Counter::new(
    "switchyard_timed_out_connections_total",
    "Connections closed by server.header_timeout (a request head too slow) or server.idle_timeout.",
);

const ALL: [&Counter; 13] = [
    &UNPRICED_REQUESTS,
    &SHARED_COUNTER_OUTAGES,
    &LOCAL_ADMISSIONS,
    &RATE_LIMITED,
    &BUDGET_REFUSED,
    &BUDGET_ALERTS,
    &CONFIG_RELOADS,
    &CONFIG_RELOAD_FAILURES,
    &SHED_REQUESTS,
    &EDGE_REFUSALS,
    &REFUSED_CONNECTIONS,
    &EVICTED_CONNECTIONS,
    &TIMED_OUT_CONNECTIONS,
];

pub fn render() -> String {
    let mut out = String::new();
    for c in ALL {
        let _ = writeln!(out, "# HELP {} {}\n# TYPE {} counter\n{} {}", c.name, c.help, c.name, c.name, c.get());
    }
    out
}
