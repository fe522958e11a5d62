//! `loadgen report FILE.jsonl` — turns the raw results written by `bench/run` into markdown.
//!
//! Input lines are either run records (the JSON printed by the load modes; their `label` is
//! `SCENARIO/TARGET#ROUND`, e.g. `open3000/gateway#2`) or meta records
//! `{"kind":"meta","key":K,"value":V}`. Rounds of the same scenario and target are merged:
//! histograms are added bucket by bucket, counts are summed, throughput = ok / total seconds.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde_json::Value;

use crate::new_hist;

mod cache;
mod governance;
mod inbound;
mod phase;
mod telemetry;

const TARGETS: [(&str, &str); 3] = [("direct", "direct nginx"), ("floor", "nginx proxy (floor)"), ("gateway", "switchyard gateway")];

struct Agg {
    rounds: usize,
    ok: u64,
    errors: u64,
    dropped: u64,
    seconds: f64,
    latency: Histogram<u64>,
    ttfb: Histogram<u64>,
    service: Histogram<u64>,
    round_p50: Vec<f64>,
    round_p99: Vec<f64>,
    first_error: Option<String>,
    error_kinds: BTreeMap<String, u64>,
    status: BTreeMap<String, u64>,
    /// Successful answers per `x-switchyard-cache` value.
    cache: BTreeMap<String, u64>,
    rate: Option<f64>,
}

impl Agg {
    fn new() -> Self {
        Agg {
            rounds: 0,
            ok: 0,
            errors: 0,
            dropped: 0,
            seconds: 0.0,
            latency: new_hist(),
            ttfb: new_hist(),
            service: new_hist(),
            round_p50: Vec::new(),
            round_p99: Vec::new(),
            first_error: None,
            error_kinds: BTreeMap::new(),
            status: BTreeMap::new(),
            cache: BTreeMap::new(),
            rate: None,
        }
    }

    fn add(&mut self, v: &Value) {
        let u = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        self.rounds += 1;
        self.ok += u("ok");
        self.errors += u("errors");
        self.dropped += u("dropped");
        self.seconds += v.get("elapsed_s").and_then(Value::as_f64).unwrap_or(0.0);
        self.rate = v.get("rate").and_then(Value::as_f64);
        for (name, h) in [("latency", &mut self.latency), ("ttfb", &mut self.ttfb), ("service", &mut self.service)] {
            if let Some(buckets) = v.pointer(&format!("/hist_ns/{name}")).and_then(Value::as_array) {
                for b in buckets {
                    if let (Some(val), Some(n)) = (b.get(0).and_then(Value::as_u64), b.get(1).and_then(Value::as_u64)) {
                        h.saturating_record_n(val, n);
                    }
                }
            }
        }
        if let Some(p) = v.pointer("/latency_ms/p50").and_then(Value::as_f64) {
            self.round_p50.push(p);
        }
        if let Some(p) = v.pointer("/latency_ms/p99").and_then(Value::as_f64) {
            self.round_p99.push(p);
        }
        if self.first_error.is_none() {
            self.first_error = v.get("first_error").and_then(Value::as_str).map(str::to_string);
        }
        for (field, map) in [("error_kinds", &mut self.error_kinds), ("status", &mut self.status), ("cache", &mut self.cache)] {
            if let Some(o) = v.get(field).and_then(Value::as_object) {
                for (k, n) in o {
                    *map.entry(k.clone()).or_default() += n.as_u64().unwrap_or(0);
                }
            }
        }
    }

    fn q(&self, which: &str, q: f64) -> Option<f64> {
        let h = match which {
            "ttfb" => &self.ttfb,
            "service" => &self.service,
            _ => &self.latency,
        };
        if h.is_empty() {
            return None;
        }
        let ns = if q >= 1.0 { h.max() } else { h.value_at_quantile(q) };
        Some(ns as f64 / 1e6)
    }

    fn rps(&self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.ok as f64 / self.seconds)
    }
}

struct Data {
    runs: BTreeMap<(String, String), Agg>,
    meta: BTreeMap<String, Value>,
}

impl Data {
    fn run(&self, scenario: &str, target: &str) -> Option<&Agg> {
        self.runs.get(&(scenario.to_string(), target.to_string()))
    }
    fn meta_str(&self, k: &str) -> Option<String> {
        self.meta.get(k).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
    /// Sum of the numeric meta values whose key starts with `prefix`.
    fn meta_sum(&self, prefix: &str) -> Option<f64> {
        let v: Vec<f64> = self.meta.iter().filter(|(k, _)| k.starts_with(prefix)).filter_map(|(_, v)| v.as_f64()).collect();
        (!v.is_empty()).then(|| v.iter().sum())
    }
    /// "35% of a core · 92.1 µs/req" for the process group `kind` (hopcpu | upcpu).
    fn cpu_cell(&self, kind: &str, s: &str, t: &str) -> String {
        let Some(a) = self.run(s, t) else { return String::new() };
        let Some(cpu) = self.meta_sum(&format!("{kind}:{s}/{t}#")) else { return "–".into() };
        let mut out = String::new();
        if a.seconds > 0.0 {
            out += &format!("{:.0}%", 100.0 * cpu / a.seconds);
        }
        if a.ok > 0 {
            out += &format!(" · {:.1} µs/req", cpu * 1e6 / a.ok as f64);
        }
        out
    }
    fn meta_f64(&self, k: &str) -> Option<f64> {
        self.meta.get(k).and_then(|v| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
    }
}

fn f3(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.3}"))
}

fn signed3(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:+.3}"))
}

fn rps(x: Option<f64>) -> String {
    x.map_or("–".into(), fmt_thousands)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

fn sub(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? - b?)
}

fn list(v: &[f64]) -> String {
    v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(", ")
}

fn errors_cell(a: &Agg) -> String {
    let mut s = a.errors.to_string();
    if !a.error_kinds.is_empty() {
        let kinds: Vec<String> = a.error_kinds.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        s += &format!(" ({})", kinds.join(", "));
    }
    if a.dropped > 0 {
        s += &format!(" +{} dropped", a.dropped);
    }
    s
}

pub fn report(path: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut data = Data { runs: BTreeMap::new(), meta: BTreeMap::new() };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", i + 1))?;
        if v.get("kind").and_then(Value::as_str) == Some("meta") {
            let k = v.get("key").and_then(Value::as_str).unwrap_or("").to_string();
            data.meta.insert(k, v.get("value").cloned().unwrap_or(Value::Null));
        } else if let Some(label) = v.get("label").and_then(Value::as_str) {
            let label = label.split('#').next().unwrap_or(label);
            if let Some((s, t)) = label.split_once('/') {
                data.runs.entry((s.to_string(), t.to_string())).or_insert_with(Agg::new).add(&v);
            }
        }
    }
    let gw_pending = data.meta_str("gateway_status").filter(|s| s != "ok");
    let pending = |t: &str| t == "gateway" && gw_pending.is_some();

    let mut o = String::new();
    let m = |k: &str| data.meta_str(k).unwrap_or_else(|| "?".into());
    let _ = writeln!(o, "### Run {}\n", m("date"));
    let _ = writeln!(o, "- command: `{}`", m("command"));
    let _ = writeln!(o, "- machine: {} ({} cores), kernel {}", m("cpu"), m("cores"), m("kernel"));
    let _ = writeln!(o, "- nginx: {}; gateway: {} ({})", m("nginx_version"), m("gateway_version"), m("gateway_source"));
    let _ = writeln!(o, "- pinning: {}", m("pinning"));
    let _ = writeln!(
        o,
        "- open loop: {} rounds × ({} s warm-up + {} s measured) per target, {} connections; closed loop: {} rounds × ({} s + {} s), {} connections; stream probe: {} req/s, {} rounds × {} s; targets interleaved within each round",
        m("open_rounds"), m("open_warmup_s"), m("open_duration_s"), m("open_conns"),
        m("closed_rounds"), m("closed_warmup_s"), m("closed_duration_s"), m("closed_conns"),
        m("stream_rate"), m("stream_rounds"), m("stream_duration_s"),
    );
    if let Some(l) = data.meta_str("loadavg_before") {
        let _ = writeln!(o, "- load average before the load phase: {l}");
    }
    if let Some(e) = data.meta_str("gateway_exit") {
        let _ = writeln!(o, "- **{e}**");
    }
    if let Some(reason) = &gw_pending {
        let _ = writeln!(o, "- gateway: **pending** — {reason}");
    }
    let _ = writeln!(o);

    if !data.runs.keys().any(|(s, _)| !is_phase(s)) {
        // Only the provider, governance, cache and/or inbound phase ran (BENCH_…=only).
        providers(&data, &mut o);
        governance::section(&data, &mut o);
        cache::section(&data, &mut o);
        inbound::section(&data, &mut o);
        telemetry::section(&data, &mut o);
        return Ok(o);
    }

    let mut open: Vec<(String, f64)> =
        data.runs.iter().filter(|((s, _), _)| s.starts_with("open")).map(|((s, _), a)| (s.clone(), a.rate.unwrap_or(0.0))).collect();
    open.dedup_by(|a, b| a.0 == b.0);
    open.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap());

    // Summary: added latency.
    let _ = writeln!(o, "#### Latency (open loop, coordinated-omission corrected, ms)\n");
    let _ = writeln!(
        o,
        "| scenario | direct p50 / p99 | floor p50 / p99 | gateway p50 / p99 | **gateway added p50 / p99** (vs direct) | floor added p50 / p99 (vs direct) |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    for (s, rate) in &open {
        let p = |t: &str, q: f64| data.run(s, t).and_then(|a| a.q("latency", q));
        let cell = |t: &str| {
            if pending(t) {
                "pending".to_string()
            } else {
                format!("{} / {}", f3(p(t, 0.5)), f3(p(t, 0.99)))
            }
        };
        let added = |t: &str| {
            if pending(t) {
                "pending".to_string()
            } else {
                format!("{} / {}", signed3(sub(p(t, 0.5), p("direct", 0.5))), signed3(sub(p(t, 0.99), p("direct", 0.99))))
            }
        };
        let _ = writeln!(
            o,
            "| open {} req/s | {} | {} | {} | **{}** | {} |",
            fmt_thousands(*rate),
            cell("direct"),
            cell("floor"),
            cell("gateway"),
            added("gateway"),
            added("floor")
        );
    }
    let _ = writeln!(o);

    // Detail per scenario and target.
    let _ = writeln!(o, "#### All runs (rounds merged)\n");
    let _ = writeln!(
        o,
        "| scenario | target | achieved req/s | errors | p50 | p90 | p99 | p99.9 | max | p50 per round | p99 per round | hop CPU (% of a core · per request) | upstream nginx CPU | other processes' CPU per round (cores) |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut order: Vec<(String, String)> = open.iter().map(|(s, r)| (s.clone(), format!("open {} req/s", fmt_thousands(*r)))).collect();
    if data.runs.keys().any(|(x, _)| x == "closed") {
        order.push(("closed".into(), format!("closed {} conns", m("closed_conns"))));
    }
    if data.runs.keys().any(|(x, _)| x == "stream") {
        order.push(("stream".into(), format!("stream {} req/s", m("stream_rate"))));
    }
    for (s, scen) in &order {
        for (t, tname) in TARGETS {
            let a = match data.run(s, t) {
                Some(a) if !pending(t) => a,
                _ => {
                    let _ = writeln!(o, "| {scen} | {tname} | pending | | | | | | | | | | | |");
                    continue;
                }
            };
            let _ = writeln!(
                o,
                "| {scen} | {tname} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                rps(a.rps()),
                errors_cell(a),
                f3(a.q("latency", 0.5)),
                f3(a.q("latency", 0.9)),
                f3(a.q("latency", 0.99)),
                f3(a.q("latency", 0.999)),
                f3(a.q("latency", 1.0)),
                list(&a.round_p50),
                list(&a.round_p99),
                if t == "direct" { "n/a".to_string() } else { data.cpu_cell("hopcpu", s, t) },
                data.cpu_cell("upcpu", s, t),
                data.meta
                    .iter()
                    .filter(|(k, _)| k.starts_with(&format!("othercpu:{s}/{t}#")))
                    .map(|(_, v)| v.as_f64().map_or("?".into(), |x| format!("{x:.2}")))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
    }
    let _ = writeln!(
        o,
        "\nLatencies in ms. Closed loop: latency from the actual send. Stream: latency = time to the end of the SSE body. \
         Hop CPU = CPU time of the process under test (nginx proxy worker or all gateway threads) from \
         /proc/PID/task/*/schedstat during the measured windows, as a share of one core and per successful request. \
         Other processes' CPU = CPU used during the round by every other live process on the machine (other tenants; \
         processes that exit within the round are missed), in cores out of 2 — a round with a high value was disturbed.\n"
    );
    let errs: Vec<String> = data
        .runs
        .iter()
        .filter(|((s, _), _)| !["gov-", "cache-", "inbound-", "telemetry-"].iter().any(|p| s.starts_with(p)))
        .filter_map(|((s, t), a)| a.first_error.as_ref().map(|e| format!("- {s}/{t}: first error: `{}`", e.replace('`', "'"))))
        .collect();
    if !errs.is_empty() {
        let _ = writeln!(o, "{}\n", errs.join("\n"));
    }

    // Throughput.
    let thr = |t: &str| if pending(t) { None } else { data.run("closed", t).and_then(Agg::rps) };
    let _ = writeln!(o, "#### Max throughput (closed loop, {} connections, req/s)\n", m("closed_conns"));
    let _ = writeln!(o, "| direct | floor | gateway | **gateway / floor** | gateway / direct | floor / direct |");
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    let gw = |s: String| if pending("gateway") { "pending".to_string() } else { s };
    let _ = writeln!(
        o,
        "| {} | {} | {} | **{}** | {} | {} |\n",
        rps(thr("direct")),
        rps(thr("floor")),
        gw(rps(thr("gateway"))),
        gw(ratio(thr("gateway"), thr("floor"))),
        gw(ratio(thr("gateway"), thr("direct"))),
        ratio(thr("floor"), thr("direct")),
    );

    // Streaming.
    let st = |t: &str, k: &str, q: f64| if pending(t) { None } else { data.run("stream", t).and_then(|a| a.q(k, q)) };
    let _ = writeln!(o, "#### Streaming time to first byte ({} req/s open loop, ms)\n", m("stream_rate"));
    let _ = writeln!(o, "| target | TTFB p50 | TTFB p99 | added TTFB p50 / p99 (vs direct) | total p50 | total p99 |");
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    for (t, tname) in TARGETS {
        if pending(t) {
            let _ = writeln!(o, "| {tname} | pending | pending | pending | pending | pending |");
            continue;
        }
        let added = if t == "direct" {
            "–".to_string()
        } else {
            format!(
                "{} / {}",
                signed3(sub(st(t, "ttfb", 0.5), st("direct", "ttfb", 0.5))),
                signed3(sub(st(t, "ttfb", 0.99), st("direct", "ttfb", 0.99)))
            )
        };
        let _ = writeln!(
            o,
            "| {tname} | {} | {} | {} | {} | {} |",
            f3(st(t, "ttfb", 0.5)),
            f3(st(t, "ttfb", 0.99)),
            added,
            f3(st(t, "latency", 0.5)),
            f3(st(t, "latency", 0.99)),
        );
    }
    let _ = writeln!(o);

    // Gateway CPU by thread.
    if !pending("gateway") {
        let mut threads: Vec<String> = Vec::new();
        let mut rows: Vec<(String, BTreeMap<String, f64>, u64)> = Vec::new();
        for (s, scen) in &order {
            let prefix = format!("gwthreads:{s}/gateway#");
            let mut per: BTreeMap<String, f64> = BTreeMap::new();
            for (_, v) in data.meta.iter().filter(|(k, _)| k.starts_with(&prefix)) {
                if let Some(obj) = v.as_object() {
                    for (name, secs) in obj {
                        *per.entry(name.clone()).or_default() += secs.as_f64().unwrap_or(0.0);
                        if !threads.contains(name) {
                            threads.push(name.clone());
                        }
                    }
                }
            }
            let ok = data.run(s, "gateway").map_or(0, |a| a.ok);
            if !per.is_empty() && ok > 0 {
                rows.push((scen.clone(), per, ok));
            }
        }
        threads.retain(|t| rows.iter().any(|(_, per, ok)| per.get(t).copied().unwrap_or(0.0) * 1e6 / *ok as f64 >= 0.05));
        threads.sort_by(|a, b| {
            let tot = |t: &String| -> f64 { rows.iter().map(|(_, p, _)| p.get(t).copied().unwrap_or(0.0)).sum() };
            tot(b).partial_cmp(&tot(a)).unwrap()
        });
        if !rows.is_empty() {
            let _ = writeln!(o, "#### Gateway CPU by thread (µs of CPU per successful request, measured windows)\n");
            let _ = writeln!(o, "| scenario | {} | total |", threads.join(" | "));
            let _ = writeln!(o, "|---|{}---|", "---|".repeat(threads.len()));
            for (scen, per, ok) in &rows {
                let cells: Vec<String> =
                    threads.iter().map(|t| format!("{:.1}", per.get(t).copied().unwrap_or(0.0) * 1e6 / *ok as f64)).collect();
                let total: f64 = per.values().sum::<f64>() * 1e6 / *ok as f64;
                let _ = writeln!(o, "| {scen} | {} | {total:.1} |", cells.join(" | "));
            }
            let _ = writeln!(o);
        }
    }

    providers(&data, &mut o);
    governance::section(&data, &mut o);
    cache::section(&data, &mut o);
    inbound::section(&data, &mut o);
    telemetry::section(&data, &mut o);

    // Memory.
    let mb = |k: &str| data.meta_f64(k).map(|kb| format!("{:.1} MB", kb / 1024.0)).unwrap_or_else(|| "–".into());
    let _ = writeln!(o, "#### Gateway memory (VmRSS / VmHWM from /proc/PID/status)\n");
    let _ = writeln!(o, "| idle RSS (1 s after start) | RSS after load | peak RSS (VmHWM) |");
    let _ = writeln!(o, "|---|---|---|");
    if pending("gateway") {
        let _ = writeln!(o, "| pending | pending | pending |\n");
    } else {
        let _ = writeln!(o, "| {} | {} | {} |\n", mb("rss_idle_kb"), mb("rss_after_kb"), mb("rss_peak_kb"));
        if data.meta.contains_key("rss_end_kb") && data.meta.contains_key("provider_list") {
            let _ = writeln!(o, "After the provider phase (same process): RSS {}, peak {}.\n", mb("rss_end_kb"), mb("rss_peak_end_kb"));
        }
    }

    // Targets.
    if !pending("gateway") {
        let _ = writeln!(o, "#### Against the targets\n");
        let _ = writeln!(o, "| target | goal | measured | met |");
        let _ = writeln!(o, "|---|---|---|---|");
        let p = |t: &str, q: f64| data.run("open3000", t).and_then(|a| a.q("latency", q));
        let a50 = sub(p("gateway", 0.5), p("direct", 0.5));
        let a99 = sub(p("gateway", 0.99), p("direct", 0.99));
        let tr = match (thr("gateway"), thr("floor")) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let rss = data.meta_f64("rss_idle_kb").map(|kb| kb / 1024.0);
        let yn = |c: Option<bool>| match c {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "–",
        };
        let _ = writeln!(o, "| added p50 @ 3,000 req/s | ≤ 0.15 ms | {} ms | {} |", signed3(a50), yn(a50.map(|v| v <= 0.15)));
        let _ = writeln!(o, "| added p99 @ 3,000 req/s | ≤ 1 ms | {} ms | {} |", signed3(a99), yn(a99.map(|v| v <= 1.0)));
        let _ = writeln!(
            o,
            "| max throughput vs floor | ≥ 0.8× | {} | {} |",
            tr.map_or("–".into(), |v| format!("{v:.2}×")),
            yn(tr.map(|v| v >= 0.8))
        );
        let _ =
            writeln!(o, "| idle RSS | ≤ 50 MB | {} | {} |\n", rss.map_or("–".into(), |v| format!("{v:.1} MB")), yn(rss.map(|v| v <= 50.0)));
    }
    Ok(o)
}

/// Per-provider translation overhead (`bench/run` with BENCH_PROVIDERS=1): scenarios
/// `prov-json-P` and `prov-sse-P`, targets `direct` (the loadgen posts the provider's native
/// request straight to nginx's native endpoint) and `gateway` (OpenAI request to the gateway, which
/// translates to P's wire format, calls the same nginx endpoint and translates the answer back).
fn providers(data: &Data, o: &mut String) {
    let Some(list) = data.meta.get("provider_list").and_then(Value::as_array) else { return };
    let provs: Vec<(String, String)> =
        list.iter().filter_map(|p| Some((p.get("key")?.as_str()?.to_string(), p.get("wire")?.as_str()?.to_string()))).collect();
    if provs.is_empty() || !data.runs.keys().any(|(s, _)| s.starts_with("prov-")) {
        return;
    }
    let m = |k: &str| data.meta_str(k).unwrap_or_else(|| "?".into());
    let cpu_us = |s: &str, t: &str| -> Option<f64> {
        let a = data.run(s, t)?;
        let cpu = data.meta_sum(&format!("hopcpu:{s}/{t}#"))?;
        (a.ok > 0).then(|| cpu * 1e6 / a.ok as f64)
    };
    let other = |s: &str| -> String {
        let v: Vec<f64> =
            data.meta.iter().filter(|(k, _)| k.starts_with(&format!("othercpu:{s}/"))).filter_map(|(_, v)| v.as_f64()).collect();
        if v.is_empty() {
            "–".into()
        } else {
            format!("{:.2}", v.iter().cloned().fold(0.0, f64::max))
        }
    };
    let errs = |s: &str| -> String {
        let e: Vec<String> = ["direct", "gateway"]
            .iter()
            .filter_map(|t| data.run(s, t).map(|a| (t, a)))
            .filter(|(_, a)| a.errors > 0 || a.dropped > 0)
            .map(|(t, a)| format!("{t}: {}", errors_cell(a)))
            .collect();
        if e.is_empty() {
            "0".into()
        } else {
            e.join("; ")
        }
    };
    let pair = |a: Option<f64>, b: Option<f64>| format!("{} / {}", f3(a), f3(b));
    let spair = |a: Option<f64>, b: Option<f64>| format!("{} / {}", signed3(a), signed3(b));
    let us = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.1}"));
    let sus = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:+.1}"));

    let _ = writeln!(
        o,
        "#### Translation overhead per provider ({} req/s open loop, {} connections, {} round(s) × ({} s warm-up + {} s measured) per target, ms)\n",
        fmt_thousands(data.meta_f64("provider_rate").unwrap_or(0.0)),
        m("provider_conns"),
        m("provider_rounds"),
        m("provider_warmup_s"),
        m("provider_duration_s"),
    );
    let _ = writeln!(
        o,
        "Direct = the provider's native request posted straight to nginx's native endpoint (the floor for that hop); \
         gateway = OpenAI request in, native request out to the same nginx endpoint, native answer translated back to OpenAI. \
         Added = gateway − direct. Δ vs openai = this provider's added p50 and gateway CPU minus the `openai` row's \
         (the cost of translation beyond an OpenAI pass-through). Gateway CPU = all gateway threads, µs per successful request. \
         Other CPU = the highest per-run CPU use of every other process on the machine, in cores out of 2.\n"
    );
    let mut notes: Vec<String> = Vec::new();
    for (kind, title) in [("json", "Non-streaming"), ("sse", "Streaming (latency = end of body; TTFB = first body byte)")] {
        let _ = writeln!(o, "**{title}**\n");
        if kind == "json" {
            let _ = writeln!(o, "| provider (upstream wire) | direct p50 / p99 | gateway p50 / p99 | **added p50 / p99** | gateway CPU µs/req | Δ vs openai: added p50 · CPU | errors | other CPU (cores) |");
            let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
        } else {
            let _ = writeln!(o, "| provider (upstream wire) | direct p50 / p99 | gateway p50 / p99 | **added p50 / p99** | added TTFB p50 / p99 | gateway CPU µs/req | Δ vs openai: added p50 · CPU | errors | other CPU (cores) |");
            let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|");
        }
        let base = format!("prov-{kind}-openai");
        let q = |s: &str, t: &str, w: &str, p: f64| data.run(s, t).and_then(|a| a.q(w, p));
        let added = |s: &str, w: &str, p: f64| sub(q(s, "gateway", w, p), q(s, "direct", w, p));
        for (key, wire) in &provs {
            let s = format!("prov-{kind}-{key}");
            if data.run(&s, "direct").is_none() && data.run(&s, "gateway").is_none() {
                continue;
            }
            let delta = if *key == "openai" {
                "–".to_string()
            } else {
                format!(
                    "{} ms · {} µs",
                    signed3(sub(added(&s, "latency", 0.5), added(&base, "latency", 0.5))),
                    sus(sub(cpu_us(&s, "gateway"), cpu_us(&base, "gateway")))
                )
            };
            let common = format!(
                "| {key} ({wire}) | {} | {} | **{}** |",
                pair(q(&s, "direct", "latency", 0.5), q(&s, "direct", "latency", 0.99)),
                pair(q(&s, "gateway", "latency", 0.5), q(&s, "gateway", "latency", 0.99)),
                spair(added(&s, "latency", 0.5), added(&s, "latency", 0.99)),
            );
            let ttfb = if kind == "sse" { format!(" {} |", spair(added(&s, "ttfb", 0.5), added(&s, "ttfb", 0.99))) } else { String::new() };
            let _ = writeln!(o, "{common}{ttfb} {} | {delta} | {} | {} |", us(cpu_us(&s, "gateway")), errs(&s), other(&s));
            // A target that could not keep up with the schedule: its corrected latency is queueing
            // time, so also give the throughput and the time from the actual send.
            for t in ["direct", "gateway"] {
                if let (Some(a), Some(rate)) = (data.run(&s, t), data.meta_f64("provider_rate")) {
                    if a.rps().is_some_and(|r| r < 0.97 * rate) {
                        notes.push(format!(
                            "{key} {} → {t}: **did not keep up** with {} req/s: achieved {} req/s; from the actual send p50 / p99 {} / {} ms",
                            if kind == "json" { "non-stream" } else { "stream" },
                            fmt_thousands(rate),
                            rps(a.rps()),
                            f3(a.q("service", 0.5)),
                            f3(a.q("service", 0.99)),
                        ));
                    }
                }
            }
        }
        let _ = writeln!(o);
        if !notes.is_empty() {
            for n in notes.drain(..) {
                let _ = writeln!(o, "- {n}");
            }
            let _ = writeln!(o);
        }
    }
    // Gateway CPU by thread for the provider runs.
    let mut threads: Vec<String> = Vec::new();
    let mut rows: Vec<(String, BTreeMap<String, f64>, u64)> = Vec::new();
    for kind in ["json", "sse"] {
        for (key, _) in &provs {
            let s = format!("prov-{kind}-{key}");
            let mut per: BTreeMap<String, f64> = BTreeMap::new();
            for (_, v) in data.meta.iter().filter(|(k, _)| k.starts_with(&format!("gwthreads:{s}/gateway#"))) {
                for (name, secs) in v.as_object().into_iter().flatten() {
                    *per.entry(name.clone()).or_default() += secs.as_f64().unwrap_or(0.0);
                    if !threads.contains(name) {
                        threads.push(name.clone());
                    }
                }
            }
            let ok = data.run(&s, "gateway").map_or(0, |a| a.ok);
            if !per.is_empty() && ok > 0 {
                rows.push((format!("{key} {}", if kind == "json" { "non-stream" } else { "stream" }), per, ok));
            }
        }
    }
    threads.retain(|t| rows.iter().any(|(_, per, ok)| per.get(t).copied().unwrap_or(0.0) * 1e6 / *ok as f64 >= 0.05));
    threads.sort_by(|a, b| {
        let tot = |t: &String| -> f64 { rows.iter().map(|(_, p, _)| p.get(t).copied().unwrap_or(0.0)).sum() };
        tot(b).partial_cmp(&tot(a)).unwrap()
    });
    if !rows.is_empty() {
        let _ = writeln!(o, "**Gateway CPU by thread, provider runs (µs per successful request)**\n");
        let _ = writeln!(o, "| provider run | {} | total |", threads.join(" | "));
        let _ = writeln!(o, "|---|{}---|", "---|".repeat(threads.len()));
        for (name, per, ok) in &rows {
            let cells: Vec<String> =
                threads.iter().map(|t| format!("{:.1}", per.get(t).copied().unwrap_or(0.0) * 1e6 / *ok as f64)).collect();
            let total: f64 = per.values().sum::<f64>() * 1e6 / *ok as f64;
            let _ = writeln!(o, "| {name} | {} | {total:.1} |", cells.join(" | "));
        }
        let _ = writeln!(o);
    }
    // First errors of the provider runs are listed under "All runs" (or here when that is absent).
    if !data.runs.keys().any(|(s, _)| !is_phase(s)) {
        let firsts: Vec<String> = data
            .runs
            .iter()
            .filter(|((s, _), _)| s.starts_with("prov-"))
            .filter_map(|((s, t), a)| a.first_error.as_ref().map(|e| format!("- {s}/{t}: first error: `{}`", e.replace('`', "'"))))
            .collect();
        if !firsts.is_empty() {
            let _ = writeln!(o, "{}\n", firsts.join("\n"));
        }
    }
}

/// A scenario of a phase after the main scenarios (providers, governance, cache, inbound, telemetry).
fn is_phase(scenario: &str) -> bool {
    ["prov-", "gov-", "cache-", "inbound-", "telemetry-"].iter().any(|p| scenario.starts_with(p))
}

fn fmt_thousands(x: f64) -> String {
    let n = x.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
