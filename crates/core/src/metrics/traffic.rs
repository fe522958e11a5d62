//! Request traffic in Prometheus' terms: requests, latency and time-to-first-token histograms,
//! tokens, cost and upstream attempts. Observed once per request, from the finished log record
//! (`Recorder`'s drop), so that the metrics and the log always agree.
//!
//! Labels are bounded: an endpoint, a status class and a cache result are fixed sets; a provider
//! is a configured one; a model is the configured alias asked for, or a `provider/model` name once
//! it served — anything else is `other`. Every model and provider label is interned once and there
//! are at most `MAX_LABELS` of them, so no client can grow the series without bound. Customers,
//! keys and any other request-supplied text never become labels.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use crate::store::LogRecord;

/// The inbound API a request came in on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    Messages,
    Responses,
    Embeddings,
    #[default]
    Other,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat_completions",
            Endpoint::Messages => "messages",
            Endpoint::Responses => "responses",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Other => "other",
        }
    }
}

/// What a request's `model` label can be, known once it was routed.
#[derive(Debug, Clone, Default)]
pub enum ModelLabel {
    /// Not routed (refused before, or an unknown model): `other`.
    #[default]
    Unrouted,
    /// A configured alias: its name.
    Alias(Arc<str>),
    /// A `provider/model` name: the label once a target served, `other` until then (a client can
    /// invent any model name for a provider; only the ones that answer are worth a series).
    Direct,
}

/// Distinct model and provider labels kept; past it, new names count as `other`.
pub const MAX_LABELS: usize = 500;

/// Seconds. LLM calls span a cached hit (milliseconds) to a long reasoning answer (minutes).
pub const BUCKETS: [f64; 16] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 120.0];

/// Requests being handled now (a recorder alive), streams included until their end.
pub static IN_FLIGHT: AtomicI64 = AtomicI64::new(0);

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

type L = &'static str;

#[derive(Default)]
struct Registry {
    labels: HashSet<L>,
    /// (endpoint, model, provider, status_class, cache)
    requests: HashMap<(L, L, L, L, L), u64>,
    /// (endpoint, model, provider)
    duration: HashMap<(L, L, L), Histogram>,
    ttft: HashMap<(L, L, L), Histogram>,
    /// (model, provider) → input, output, cached, reasoning
    tokens: HashMap<(L, L), [u64; 4]>,
    cost: HashMap<(L, L), f64>,
    /// (provider, outcome)
    attempts: HashMap<(L, L), u64>,
    cache_lookups: HashMap<L, u64>,
    fallbacks: u64,
}

impl Registry {
    /// The label for `name`: interned once, `other` past `MAX_LABELS`.
    fn intern(&mut self, name: &str) -> L {
        if let Some(l) = self.labels.get(name) {
            return l;
        }
        if self.labels.len() >= MAX_LABELS || name.is_empty() {
            return "other";
        }
        // Bounded by MAX_LABELS for the life of the process: leaking them keeps every series key
        // a tuple of `&'static str`, hashed without an allocation per request.
        let l: L = Box::leak(name.to_string().into_boxed_str());
        self.labels.insert(l);
        l
    }

    fn known(&self, name: &str) -> bool {
        self.labels.contains(name)
    }
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

fn status_class(status: u16) -> L {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

fn cache_label(status: Option<&str>) -> L {
    match status {
        Some("HIT") => "hit",
        Some("SEMANTIC_HIT") => "semantic_hit",
        Some("MISS") => "miss",
        Some("BYPASS") => "bypass",
        _ => "none",
    }
}

fn attempt_outcome(error: Option<crate::store::AttemptError>) -> L {
    error.map_or("ok", |e| e.as_str())
}

/// Counts one finished request from its log record. One short lock, no await, no I/O.
pub fn observe(record: &LogRecord, endpoint: Endpoint, model: &ModelLabel) {
    let served = record.status < 400 && record.provider.is_some();
    let direct = match (model, served, &record.provider, &record.model) {
        (ModelLabel::Direct, true, Some(p), Some(m)) => Some(format!("{p}/{m}")),
        _ => None,
    };
    let mut r = registry();
    let model = match model {
        ModelLabel::Alias(alias) => r.intern(alias),
        ModelLabel::Direct => direct.as_deref().map_or("other", |name| r.intern(name)),
        ModelLabel::Unrouted => "other",
    };
    let provider = record.provider.as_deref().map_or("none", |p| r.intern(p));
    let (endpoint, class, cache) = (endpoint.as_str(), status_class(record.status), cache_label(record.cache_status.as_deref()));
    *r.requests.entry((endpoint, model, provider, class, cache)).or_default() += 1;
    r.duration.entry((endpoint, model, provider)).or_default().observe(record.latency_ms / 1000.0);
    if let Some(ttft) = record.ttft_ms {
        r.ttft.entry((endpoint, model, provider)).or_default().observe(ttft / 1000.0);
    }
    if cache != "none" {
        *r.cache_lookups.entry(cache).or_default() += 1;
    }
    let used = [record.input_tokens, record.output_tokens, record.cached_tokens, record.reasoning_tokens];
    if used.iter().any(|n| *n > 0) {
        let tokens = r.tokens.entry((model, provider)).or_default();
        for (total, n) in tokens.iter_mut().zip(used) {
            *total += n;
        }
    }
    if let Some(cost) = record.cost_usd.filter(|c| *c > 0.0) {
        *r.cost.entry((model, provider)).or_default() += cost;
    }
    for a in record.attempt_log.iter().filter(|a| a.reached_upstream()) {
        let provider = r.intern(&a.provider);
        *r.attempts.entry((provider, attempt_outcome(a.error))).or_default() += 1;
    }
    // Served by another target than the first one planned (a retry of the same target is not a
    // fallback; a target passed over for its open circuit is).
    if let (Some(first), Some(last)) = (record.attempt_log.first(), record.attempt_log.last()) {
        if last.error.is_none() && (first.provider != last.provider || first.model != last.model) {
            r.fallbacks += 1;
        }
    }
}

/// Whether `name` is a model or provider label already: the circuit gauge names a target by
/// its model only when it is (or is configured), else as `other`.
pub fn is_label(name: &str) -> bool {
    registry().known(name)
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Sorted, so that a scrape reads the same from one to the next.
fn sorted<K: Ord + Copy, V>(map: &HashMap<K, V>) -> Vec<(K, &V)> {
    let mut v: Vec<_> = map.iter().map(|(k, v)| (*k, v)).collect();
    v.sort_by_key(|e| e.0);
    v
}

/// Label values are config names or fixed words; escaped all the same.
pub fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

pub fn render(out: &mut String) {
    let r = registry();
    let e = escape;
    header(out, "switchyard_requests_total", "counter", "Requests finished, per endpoint, model, provider, status class and cache result.");
    for ((endpoint, model, provider, class, cache), n) in sorted(&r.requests) {
        let _ = writeln!(
            out,
            "switchyard_requests_total{{endpoint=\"{endpoint}\",model=\"{}\",provider=\"{}\",status_class=\"{class}\",cache=\"{cache}\"}} {n}",
            e(model),
            e(provider)
        );
    }
    for (name, help, map) in [
        ("switchyard_request_duration_seconds", "Time from the request's arrival to its end (a stream's last byte).", &r.duration),
        ("switchyard_time_to_first_token_seconds", "Time from the request's arrival to the first content sent.", &r.ttft),
    ] {
        header(out, name, "histogram", help);
        for ((endpoint, model, provider), h) in sorted(map) {
            h.render(out, name, &format!("endpoint=\"{endpoint}\",model=\"{}\",provider=\"{}\"", e(model), e(provider)));
        }
    }
    header(
        out,
        "switchyard_tokens_total",
        "counter",
        "Tokens as logged (and billed), per direction: input, output, cached (input), reasoning (output).",
    );
    for ((model, provider), counts) in sorted(&r.tokens) {
        for (direction, n) in ["input", "output", "cached", "reasoning"].iter().zip(counts) {
            let _ = writeln!(
                out,
                "switchyard_tokens_total{{direction=\"{direction}\",model=\"{}\",provider=\"{}\"}} {n}",
                e(model),
                e(provider)
            );
        }
    }
    header(out, "switchyard_cost_usd_total", "counter", "US dollars spent, as logged (a cache hit costs nothing).");
    for ((model, provider), usd) in sorted(&r.cost) {
        let _ = writeln!(out, "switchyard_cost_usd_total{{model=\"{}\",provider=\"{}\"}} {usd}", e(model), e(provider));
    }
    header(out, "switchyard_cache_lookups_total", "counter", "Response cache results of requests that considered the cache.");
    for result in ["hit", "semantic_hit", "miss", "bypass"] {
        let _ = writeln!(out, "switchyard_cache_lookups_total{{result=\"{result}\"}} {}", r.cache_lookups.get(result).unwrap_or(&0));
    }
    header(out, "switchyard_upstream_attempts_total", "counter", "Upstream calls, per provider and outcome (`ok` or the failure class).");
    for ((provider, outcome), n) in sorted(&r.attempts) {
        let _ = writeln!(out, "switchyard_upstream_attempts_total{{provider=\"{}\",outcome=\"{outcome}\"}} {n}", e(provider));
    }
    header(out, "switchyard_fallbacks_total", "counter", "Requests served by another target than the first one planned.");
    let _ = writeln!(out, "switchyard_fallbacks_total {}", r.fallbacks);
    drop(r);
    header(out, "switchyard_in_flight_requests", "gauge", "Requests being handled now, streams until their end.");
    let _ = writeln!(out, "switchyard_in_flight_requests {}", IN_FLIGHT.load(Ordering::Relaxed));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AttemptDetail, AttemptError};

    fn served(alias: &str) -> (LogRecord, ModelLabel) {
        let record = LogRecord {
            status: 200,
            provider: Some("unit-up".into()),
            model: Some("unit-model".into()),
            latency_ms: 30.0,
            ttft_ms: Some(7.0),
            input_tokens: 11,
            output_tokens: 3,
            cost_usd: Some(0.25),
            cache_status: Some("MISS".into()),
            attempt_log: vec![
                AttemptDetail {
                    provider: "unit-down".into(),
                    model: "m".into(),
                    error: Some(AttemptError::CircuitOpen),
                    ms: 0.0,
                    span: None,
                },
                AttemptDetail { provider: "unit-up".into(), model: "unit-model".into(), error: None, ms: 25.0, span: None },
            ],
            ..LogRecord::default()
        };
        (record, ModelLabel::Alias(Arc::from(alias)))
    }

    #[test]
    fn a_served_request_is_counted_under_its_alias_with_its_tokens_cost_and_attempts() {
        let (record, model) = served("unit-alias");
        observe(&record, Endpoint::Messages, &model);
        let mut out = String::new();
        render(&mut out);
        let labels = "model=\"unit-alias\",provider=\"unit-up\"";
        for line in [
            format!("switchyard_requests_total{{endpoint=\"messages\",{labels},status_class=\"2xx\",cache=\"miss\"}} 1"),
            format!("switchyard_request_duration_seconds_bucket{{endpoint=\"messages\",{labels},le=\"0.025\"}} 0"),
            format!("switchyard_request_duration_seconds_bucket{{endpoint=\"messages\",{labels},le=\"0.05\"}} 1"),
            format!("switchyard_request_duration_seconds_bucket{{endpoint=\"messages\",{labels},le=\"+Inf\"}} 1"),
            format!("switchyard_time_to_first_token_seconds_count{{endpoint=\"messages\",{labels}}} 1"),
            format!("switchyard_tokens_total{{direction=\"input\",{labels}}} 11"),
            format!("switchyard_tokens_total{{direction=\"output\",{labels}}} 3"),
            format!("switchyard_cost_usd_total{{{labels}}} 0.25"),
            "switchyard_upstream_attempts_total{provider=\"unit-up\",outcome=\"ok\"} 1".to_string(),
        ] {
            assert!(out.lines().any(|l| l == line), "missing `{line}` in:\n{out}");
        }
        // Passed over for its open circuit: not an attempt.
        assert!(!out.contains("provider=\"unit-down\""));
    }

    #[test]
    fn an_invented_model_name_is_other_unless_it_served() {
        let (mut record, _) = served("");
        record.provider = Some("unit-direct".into());
        record.model = Some("made-up-by-a-client".into());
        record.status = 404;
        observe(&record, Endpoint::Embeddings, &ModelLabel::Direct);
        observe(&record, Endpoint::Embeddings, &ModelLabel::Unrouted);
        let mut out = String::new();
        render(&mut out);
        assert!(!out.contains("made-up-by-a-client"), "{out}");
        assert!(
            out.contains("switchyard_requests_total{endpoint=\"embeddings\",model=\"other\",provider=\"unit-direct\",status_class=\"4xx\"")
        );
        record.status = 200;
        observe(&record, Endpoint::Embeddings, &ModelLabel::Direct);
        assert!(is_label("unit-direct/made-up-by-a-client"), "a provider/model that served is a label");
    }

    #[test]
    fn labels_are_bounded() {
        let mut r = Registry::default();
        for i in 0..MAX_LABELS {
            assert_ne!(r.intern(&format!("m{i}")), "other");
        }
        assert_eq!(r.intern("one-too-many"), "other");
        assert_eq!(r.intern("m7"), "m7", "known labels stay");
    }

    #[test]
    fn status_classes() {
        assert_eq!([200, 304, 404, 499, 503].map(status_class), ["2xx", "3xx", "4xx", "4xx", "5xx"]);
    }
}
