//! The telemetry phase of `bench/run` (BENCH_TELEMETRY): what OpenTelemetry tracing at
//! `sample_ratio: 1.0` adds to the request path. Scenarios `telemetry-open<RATE>` and
//! `telemetry-closed`; targets `direct` (nginx), `off` (the gateway without `telemetry:`, the
//! reference) and `on` (every request traced and exported over OTLP/HTTP to nginx).

use std::fmt::Write as _;

use super::phase::Phase;
use super::Data;

const TARGETS: [(&str, &str); 3] =
    [("direct", "direct nginx"), ("off", "gateway, tracing off"), ("on", "gateway, tracing on (sample 1.0)")];

const PHASE: Phase =
    Phase { prefix: "telemetry-", targets: &TARGETS, base: ("off", "off"), runs_name: "telemetry runs", status: Some("telemetrystatus") };

pub(super) fn section(data: &Data, o: &mut String) {
    if !PHASE.ran(data) {
        return;
    }
    let m = |k: &str| data.meta_str(k).unwrap_or_else(|| "?".into());
    let _ = writeln!(
        o,
        "#### Tracing: OpenTelemetry off and on (open loop ms, {} round(s) × ({} s warm-up + {} s measured) per target, {} connections; closed loop {} round(s), {} connections)\n",
        m("telemetry_open_rounds"), m("open_warmup_s"), m("open_duration_s"), m("open_conns"), m("telemetry_closed_rounds"), m("closed_conns"),
    );
    let _ = writeln!(
        o,
        "Two gateways with the main scenario's configuration, each its own process on the hop's CPU; `on` adds \
         `telemetry: {{ otlp_endpoint: <nginx>/otlp, sample_ratio: 1.0 }}`, so every request makes its spans and \
         they are exported over OTLP/HTTP to nginx (which answers 200). Prometheus metrics are on in both. \
         Added = this row's percentile − the `off` row's, from the same run.\n"
    );
    PHASE.latency_table(data, o);
    PHASE.throughput_table(data, o);
    PHASE.all_runs(data, o);
    PHASE.threads(data, o);
    let mut notes: Vec<String> = Vec::new();
    for (t, name) in TARGETS.iter().skip(1) {
        PHASE.target_notes(data, t, name, "telemetryrss", &mut notes);
        if let Some(spans) = data.meta_str(&format!("telemetryspans:{t}")).filter(|s| s != "none") {
            notes.push(format!("{name}: span counters after the phase: `{}`", spans.trim_end_matches(';').replace(';', "`, `")));
        }
    }
    for n in &notes {
        let _ = writeln!(o, "- {n}");
    }
    if !notes.is_empty() {
        let _ = writeln!(o);
    }
}
