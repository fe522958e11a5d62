//! Fills a request log with synthetic records for `bench/logsearch/run`: N records spread evenly
//! over the last `days` days, across hundreds of customers and dozens of keys, teams, features,
//! models and providers, with metadata, errors, cache hits, latencies and stored bodies — written
//! through the gateway's own log sinks (the same tables, migrations and indexes it uses).
//!
//!   cargo run --release -p switchyard-store --example fill_log -- sqlite:PATH|postgres://URL N [days]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark tool: a panic is the failure report")]

use std::collections::BTreeMap;

use switchyard_core::store::{LogRecord, LogSink};
use switchyard_store::{PostgresLog, SqliteLog};

fn record(i: u64, at_ms: i64, rng: &mut fastrand::Rng) -> LogRecord {
    let models = ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash", "llama-3"];
    let providers = ["openai", "openai", "anthropic", "gemini", "vllm"];
    let m = rng.usize(..models.len());
    let error = rng.u8(..100) < 3;
    let hit = !error && rng.u8(..100) < 20;
    let mut metadata = BTreeMap::new();
    metadata.insert("env".to_string(), ["prod", "staging"][rng.usize(..2)].to_string());
    metadata.insert("tier".to_string(), format!("t{}", rng.u8(..5)));
    let input = rng.u64(10..4000);
    let output = if error { 0 } else { rng.u64(1..800) };
    LogRecord {
        request_id: format!("{at_ms:013}-{i:08}"),
        started_at: switchyard_core::time::rfc3339(at_ms),
        started_at_ms: at_ms,
        customer_identifier: Some(format!("customer-{}", rng.u32(..500))),
        key_id: Some(format!("key_{}", rng.u32(..50))),
        team: Some(format!("team-{}", rng.u32(..20))),
        metadata,
        feature: Some(["chat", "search", "summarize", "agent"][rng.usize(..4)].to_string()),
        requested_model: models[m].to_string(),
        provider: Some(providers[m].to_string()),
        model: Some(models[m].to_string()),
        status: if error { [429u16, 502, 400][rng.usize(..3)] } else { 200 },
        outcome: if error { "error" } else { "ok" }.to_string(),
        error_type: error.then(|| "upstream_error".to_string()),
        error_message: None,
        latency_ms: rng.f64() * 3000.0 + 50.0,
        ttft_ms: Some(rng.f64() * 800.0 + 20.0),
        input_tokens: input,
        output_tokens: output,
        cached_tokens: if hit { input } else { 0 },
        reasoning_tokens: 0,
        cost_usd: Some(if hit { 0.0 } else { (input as f64 * 0.15 + output as f64 * 0.6) / 1e6 }),
        cost_source: Some("catalog".into()),
        cache_status: Some(if hit { "HIT" } else { "MISS" }.to_string()),
        cache_saved_usd: hit.then(|| (input as f64 * 0.15) / 1e6),
        stream: rng.bool(),
        attempts: 1,
        attempt_log: Vec::new(),
        request_body: Some(format!("{{\"messages\":[{{\"role\":\"user\",\"content\":\"question {i} about invoices\"}}]}}")),
        response_body: Some(format!("{{\"choices\":[{{\"message\":{{\"content\":\"answer {i}\"}}}}]}}")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (target, n) = (&args[1], args[2].parse::<u64>().expect("N: a number of records"));
    let days: i64 = args.get(3).map_or(30, |d| d.parse().expect("days"));
    let mut sink: Box<dyn LogSink> = match target.strip_prefix("sqlite:") {
        Some(path) => Box::new(SqliteLog::open(std::path::Path::new(path), std::time::Duration::from_secs(5)).expect("open sqlite")),
        None => Box::new(PostgresLog::connect(target).expect("connect postgres")),
    };
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let span_ms = days * 86_400_000;
    let mut rng = fastrand::Rng::with_seed(7);
    let mut batch = Vec::with_capacity(5000);
    let started = std::time::Instant::now();
    for i in 0..n {
        let at_ms = now_ms - span_ms + (span_ms as f64 * (i as f64 / n as f64)) as i64;
        batch.push(record(i, at_ms, &mut rng));
        if batch.len() == batch.capacity() {
            sink.insert(&batch).expect("insert");
            batch.clear();
        }
    }
    if !batch.is_empty() {
        sink.insert(&batch).expect("insert");
    }
    eprintln!("wrote {n} records in {:.1} s", started.elapsed().as_secs_f64());
}
