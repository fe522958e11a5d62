//! Process-wide counters for what an operator must be alerted to, exposed by the server at
//! `GET /metrics` in Prometheus' text format. Labels never carry keys, customers or prompts.
//! Request traffic (requests, latency, tokens, cost, attempts) is in `traffic`.

pub mod traffic;

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

    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
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

/// A counter per value of one label, the values fixed in advance (they are never user input).
pub struct Family<const N: usize> {
    name: &'static str,
    help: &'static str,
    label: &'static str,
    values: [&'static str; N],
    counts: [AtomicU64; N],
}

impl<const N: usize> Family<N> {
    const fn new(name: &'static str, help: &'static str, label: &'static str, values: [&'static str; N]) -> Self {
        Self { name, help, label, values, counts: [const { AtomicU64::new(0) }; N] }
    }

    /// Counts one for `value`; a value not declared is a bug and is not counted.
    pub fn inc(&self, value: &str) {
        if let Some(i) = self.values.iter().position(|v| *v == value) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn get(&self, value: &str) -> u64 {
        self.values.iter().position(|v| *v == value).map_or(0, |i| self.counts[i].load(Ordering::Relaxed))
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}\n# TYPE {} counter", self.name, self.help, self.name);
        for (value, count) in self.values.iter().zip(&self.counts) {
            let _ = writeln!(out, "{}{{{}=\"{value}\"}} {}", self.name, self.label, count.load(Ordering::Relaxed));
        }
    }
}

pub static ALERTS: Family<7> = Family::new(
    "switchyard_alerts_total",
    "Alerts raised: soft cap reached, hard cap refusing, rate or concurrency limit saturated (once per window across instances); monitor error rate, monitor latency, circuit open, monitor resolved (per instance).",
    "kind",
    ["soft_cap", "hard_cap", "limit_saturated", "monitor_error_rate", "monitor_latency", "circuit_open", "monitor_resolved"],
);
pub static ALERTS_SENT: Family<3> =
    Family::new("switchyard_alerts_sent_total", "Alerts delivered, per destination kind.", "destination", ["webhook", "slack", "email"]);
pub static ALERTS_FAILED: Family<3> = Family::new(
    "switchyard_alerts_failed_total",
    "Alerts given up on after every retry, per destination kind.",
    "destination",
    ["webhook", "slack", "email"],
);

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

pub static TRACE_SPANS_EXPORTED: Counter =
    Counter::new("switchyard_trace_spans_exported_total", "Trace spans the OTLP endpoint accepted (telemetry.otlp_endpoint).");
pub static TRACE_SPANS_DROPPED: Counter = Counter::new(
    "switchyard_trace_spans_dropped_total",
    "Trace spans dropped because the exporter's queue was full: requests never wait for tracing.",
);
pub static TRACE_SPANS_FAILED: Counter = Counter::new(
    "switchyard_trace_spans_failed_total",
    "Trace spans given up on because the OTLP endpoint failed, refused or did not answer in time.",
);

const ALL: [&Counter; 16] = [
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
    &TRACE_SPANS_EXPORTED,
    &TRACE_SPANS_DROPPED,
    &TRACE_SPANS_FAILED,
];

/// Everything the process counts, followed by the state the caller samples at scrape time
/// (`gauges`: the log writer, circuits).
pub fn render(gauges: &Gauges) -> String {
    let mut out = String::new();
    traffic::render(&mut out);
    for c in ALL {
        let _ = writeln!(out, "# HELP {} {}\n# TYPE {} counter\n{} {}", c.name, c.help, c.name, c.name, c.get());
    }
    ALERTS.render(&mut out);
    for family in [&ALERTS_SENT, &ALERTS_FAILED] {
        family.render(&mut out);
    }
    gauges.render(&mut out);
    out
}

/// State read when scraped rather than counted as it happens.
#[derive(Default)]
pub struct Gauges {
    /// Records waiting in the log writer's queue.
    pub log_queued: u64,
    /// Bytes of records spooled to disk and not yet replayed into the database.
    pub log_spool_bytes: u64,
    /// Every circuit the gateway keeps.
    pub circuits: Vec<Circuit>,
}

pub struct Circuit {
    pub provider: String,
    pub model: String,
    /// Half-open counts as open: it refuses all but its probes.
    pub open: bool,
    /// A target of a configured alias (always named by its model).
    pub configured: bool,
}

impl Gauges {
    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP switchyard_log_queue_depth Request-log records waiting in the writer's queue.\n# TYPE switchyard_log_queue_depth gauge\nswitchyard_log_queue_depth {}",
            self.log_queued
        );
        let _ = writeln!(
            out,
            "# HELP switchyard_log_spool_bytes Request-log records spooled to disk (the database failed or the queue was full), not yet replayed.\n# TYPE switchyard_log_spool_bytes gauge\nswitchyard_log_spool_bytes {}",
            self.log_spool_bytes
        );
        // A circuit is named by its model only when that is a label already (a configured target
        // or a `provider/model` that served): a client cannot open circuits under invented names
        // to add series. The others are folded into `other`, open if any of them is.
        let mut open: std::collections::BTreeMap<(String, String), bool> = std::collections::BTreeMap::new();
        for c in &self.circuits {
            let named = c.configured || traffic::is_label(&format!("{}/{}", c.provider, c.model));
            let key = if named { (c.provider.clone(), c.model.clone()) } else { (c.provider.clone(), "other".to_string()) };
            *open.entry(key).or_default() |= c.open;
        }
        let _ = writeln!(
            out,
            "# HELP switchyard_circuit_open Whether a target's circuit is open (1) or closed (0).\n# TYPE switchyard_circuit_open gauge"
        );
        for ((provider, model), is_open) in open {
            let _ = writeln!(
                out,
                "switchyard_circuit_open{{provider=\"{}\",model=\"{}\"}} {}",
                traffic::escape(&provider),
                traffic::escape(&model),
                u8::from(is_open)
            );
        }
    }
}
