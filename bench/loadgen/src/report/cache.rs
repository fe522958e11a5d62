//! The cache phase of `bench/run` (BENCH_CACHE): what the response cache costs on a miss and
//! saves on a hit, with entries in memory and in Redis. Scenarios `cache-open<RATE>` and
//! `cache-closed`; targets `direct` (nginx), `plain` (gateway, caching not configured), `hit`,
//! `miss` (a gateway whose model has `cache: { enabled: true }`, with one fixed body or a body
//! that differs in every request) and the same two on Redis.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::phase::Phase;
use super::{signed3, sub, Data};

const TARGETS: [(&str, &str); 6] = [
    ("direct", "direct nginx"),
    ("plain", "gateway, cache bypassed"),
    ("hit", "cache hit — in memory"),
    ("miss", "cache miss + store — in memory"),
    ("hit-redis", "cache hit — Redis"),
    ("miss-redis", "cache miss + store — Redis"),
];

const PHASE: Phase = Phase { prefix: "cache-", targets: &TARGETS, base: ("plain", "bypassed"), runs_name: "cache runs", status: None };

pub(super) fn section(data: &Data, o: &mut String) {
    if !PHASE.ran(data) {
        return;
    }
    let m = |k: &str| data.meta_str(k).unwrap_or_else(|| "?".into());
    let _ = writeln!(
        o,
        "#### Response cache: hit and miss paths (open loop ms, {} round(s) × ({} s warm-up + {} s measured) per target, {} connections; closed loop {} round(s), {} connections)\n",
        m("cache_open_rounds"), m("open_warmup_s"), m("open_duration_s"), m("open_conns"), m("cache_closed_rounds"), m("closed_conns"),
    );
    let _ = writeln!(
        o,
        "Same nginx answer for every target and the same request body, `{}`, for the direct, bypassed and hit rows. \
         The bypassed gateway routes model alias `bench-model` to nginx without a `cache:` setting (every answer `BYPASS`); \
         the cache gateways give it `{}`, so the deterministic request is cached: the hit rows send the fixed body (after the \
         first request, every answer is a `HIT` served without calling nginx), the miss rows append a nonce unique to the \
         request to the message (`loadgen --unique`): every answer is a `MISS` that calls nginx and stores the answer. \
         Redis rows add `redis:` (entries in the machine's Redis, LZ4-compressed, with their TTL). Each gateway is its own \
         process on the hop's CPU. Added = this row's percentile − the reference's, from the same run.\n",
        m("cache_body"),
        m("cache_model_config"),
    );
    PHASE.latency_table(data, o);
    PHASE.throughput_table(data, o);
    answers(data, o);
    PHASE.all_runs(data, o);
    PHASE.threads(data, o);
    targets(data, o);
}

/// What each target answered (the `x-switchyard-cache` header of every measured answer), how
/// many requests nginx served per answer in the same windows, and the gateway's memory.
fn answers(data: &Data, o: &mut String) {
    let scens = PHASE.scenarios(data);
    let _ = writeln!(
        o,
        "| target | x-switchyard-cache of the measured answers | nginx requests per answer @ {} | RSS at start → after the phase |",
        scens.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(" · ")
    );
    let _ = writeln!(o, "|---|---|---|---|");
    for &(t, name) in TARGETS.iter() {
        if let Some(st) = data.meta_str(&format!("cachestatus:{t}")).filter(|s| s != "ok") {
            let _ = writeln!(o, "| {name} | **not measured** — {st} | | |");
            continue;
        }
        if !PHASE.measured(data, t) {
            continue;
        }
        let mut seen: BTreeMap<String, u64> = BTreeMap::new();
        let mut ok = 0;
        for (s, _) in &scens {
            if let Some(a) = data.run(s, t) {
                ok += a.ok;
                for (k, n) in &a.cache {
                    *seen.entry(k.clone()).or_default() += n;
                }
            }
        }
        let header = if seen.is_empty() {
            "none".to_string()
        } else {
            let mut parts: Vec<String> = seen.iter().map(|(k, n)| format!("{k} {:.2}%", 100.0 * *n as f64 / ok.max(1) as f64)).collect();
            let without = ok.saturating_sub(seen.values().sum());
            if without > 0 {
                parts.push(format!("no header {without}"));
            }
            parts.join(", ")
        };
        let upstream: Vec<String> = scens
            .iter()
            .map(|(s, _)| {
                let ok = data.run(s, t).map_or(0, |a| a.ok);
                match data.meta_sum(&format!("upreqs:{s}/{t}#")) {
                    Some(n) if ok > 0 => format!("{:.3}", n / ok as f64),
                    _ => "–".into(),
                }
            })
            .collect();
        let mb = |k: &str| data.meta_f64(&format!("{k}:{t}")).map_or("–".into(), |kb| format!("{:.1} MB", kb / 1024.0));
        let rss = if t == "direct" { "–".to_string() } else { format!("{} → {}", mb("cacherss_idle"), mb("cacherss")) };
        let _ = writeln!(o, "| {name} | {header} | {} | {rss} |", upstream.join(" · "));
    }
    let _ = writeln!(
        o,
        "\nnginx requests per answer: the upstream nginx's request counter (stub_status) over the measured windows ÷ the \
         answers the load generator counted in them (≈ 1 when every request goes upstream, ≈ 0 when none does).\n"
    );
}

fn targets(data: &Data, o: &mut String) {
    let p = |t: &str, q: f64| data.run("cache-open3000", t).and_then(|a| a.q("latency", q));
    let cpu = |t: &str| PHASE.cpu_us(data, "cache-open3000", t, "hopcpu");
    if p("direct", 0.5).is_none() {
        return;
    }
    let _ = writeln!(o, "**Against the cache targets (3,000 req/s)**\n");
    let _ = writeln!(o, "| target | goal | measured | met |");
    let _ = writeln!(o, "|---|---|---|---|");
    for (t, name) in [("hit", "memory"), ("hit-redis", "Redis")] {
        let a = sub(p(t, 0.5), p("direct", 0.5));
        if a.is_none() {
            continue;
        }
        let met = match a {
            Some(v) if v <= 0.2 => "yes",
            Some(_) => "**no**",
            None => "–",
        };
        let _ = writeln!(o, "| hit ({name}): added p50 vs direct | ≤ 0.2 ms | {} ms | {met} |", signed3(a));
    }
    for (t, name) in [("miss", "memory"), ("miss-redis", "Redis")] {
        let a50 = sub(p(t, 0.5), p("plain", 0.5));
        if a50.is_none() {
            continue;
        }
        let _ = writeln!(
            o,
            "| miss ({name}): added p50 / p99 and gateway CPU vs the bypassed gateway | unchanged | {} / {} ms · {} µs/req | – |",
            signed3(a50),
            signed3(sub(p(t, 0.99), p("plain", 0.99))),
            sub(cpu(t), cpu("plain")).map_or("–".into(), |v| format!("{v:+.1}")),
        );
    }
    let _ = writeln!(o);
}
