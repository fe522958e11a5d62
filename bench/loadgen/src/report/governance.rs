//! The governance phase of `bench/run` (BENCH_GOVERNANCE): what a virtual key, rate limits and a
//! budget reservation add per request, with the counters in memory and on Redis. Scenarios
//! `gov-open<RATE>` and `gov-closed`; targets `direct` (nginx), `plain` (gateway without keys),
//! `keys-mem` and `keys-redis` (the same gateway requiring a key with limits and a budget).

use std::fmt::Write as _;

use serde_json::Value;

use super::phase::Phase;
use super::{fmt_thousands, Data};

const TARGETS: [(&str, &str); 4] = [
    ("direct", "direct nginx"),
    ("plain", "gateway, no keys"),
    ("keys-mem", "+ key check, limits, budget — in memory"),
    ("keys-redis", "+ key check, limits, budget — on Redis"),
];

const PHASE: Phase = Phase { prefix: "gov-", targets: &TARGETS, base: ("plain", "no keys"), runs_name: "governance runs", status: None };

pub(super) fn section(data: &Data, o: &mut String) {
    if !PHASE.ran(data) {
        return;
    }
    let m = |k: &str| data.meta_str(k).unwrap_or_else(|| "?".into());
    let _ = writeln!(
        o,
        "#### Governance overhead: virtual key, rate limits, budget reservation (open loop ms, {} round(s) × ({} s warm-up + {} s measured) per target, {} connections; closed loop {} round(s), {} connections)\n",
        m("gov_open_rounds"), m("open_warmup_s"), m("open_duration_s"), m("open_conns"), m("gov_closed_rounds"), m("closed_conns"),
    );
    let _ = writeln!(
        o,
        "Same nginx answer for every target; the gateways route model alias `bench-model` (priced at $0.15 / $0.60 per million \
         tokens) to it. The keyed gateways set `keys: {{ require: true }}` and every request carries a virtual key created \
         through the admin API with `{}`: no limit or budget is ever reached, so each request is admitted against the \
         rate items and a concurrency slot and reserves its worst-case cost, settled after the answer. Added = this row's \
         percentile − the reference's, from the same run.\n",
        data.meta.get("gov_key_body").map_or("?".into(), Value::to_string),
    );
    PHASE.latency_table(data, o);
    PHASE.throughput_table(data, o);
    PHASE.all_runs(data, o);
    PHASE.threads(data, o);

    // Status of each gateway, memory, and what the request log charged to the key.
    let mut notes: Vec<String> = Vec::new();
    for (t, name) in TARGETS.iter().skip(1) {
        if let Some(st) = data.meta_str(&format!("govstatus:{t}")).filter(|s| s != "ok") {
            notes.push(format!("{name}: **not measured** — {st}"));
        }
        if let Some(kb) = data.meta_f64(&format!("govrss:{t}")) {
            let mut note = format!("{name}: RSS after the phase {:.1} MB", kb / 1024.0);
            if let Some(row) = data.meta.get(&format!("govspend:{t}")).and_then(|v| v.pointer("/rows/0")) {
                let n = |k: &str| row.get(k).and_then(Value::as_f64).unwrap_or(0.0);
                let _ = write!(
                    note,
                    "; the request log charged {} requests, {} input + {} output tokens, ${:.4} to the key (warm-ups and checks included)",
                    fmt_thousands(n("requests")),
                    fmt_thousands(n("input_tokens")),
                    fmt_thousands(n("output_tokens")),
                    n("cost_usd"),
                );
            }
            notes.push(note);
        }
    }
    if let Some(v) = data.meta_str("redis_version").filter(|v| !v.is_empty()) {
        notes.push(format!("Redis {v}"));
    }
    if let Some(e) = data.meta.get("gov_redis_evalsha") {
        let n = |k: &str| e.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        if n("calls") > 0.0 {
            notes.push(format!(
                "Redis ran {} EVALSHA calls during the phase (the counters' admit and settle scripts, plus any other client's), \
                 {:.1} µs each by its own clock (INFO commandstats)",
                fmt_thousands(n("calls")),
                n("usec") / n("calls"),
            ));
        }
    }
    for n in &notes {
        let _ = writeln!(o, "- {n}");
    }
    if !notes.is_empty() {
        let _ = writeln!(o);
    }
}
