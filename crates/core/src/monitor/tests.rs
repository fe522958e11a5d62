use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{advance, Instant};

use super::*;
use crate::store::AttemptDetail;
use switchyard_providers::ErrorKind;

const S: Duration = Duration::from_secs(1);

/// Held by the tests that install process-wide monitors: under `cargo test` (threads, not
/// nextest's processes) they would replace each other's.
static PROCESS_MONITORS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn rule(name: &str, condition: Condition) -> Rule {
    Rule {
        name: name.into(),
        model: Some("gpt-4o".into()),
        provider: None,
        condition,
        window: 10 * S,
        min_requests: 10,
        alerts: None,
        send_resolved: false,
    }
}

/// A request for `gpt-4o` that ended with `status` after one attempt at `openai`.
fn request(status: u16, latency_ms: f64) -> LogRecord {
    let error = (status >= 500).then_some(AttemptError::Failed(ErrorKind::Server));
    LogRecord {
        requested_model: "gpt-4o".into(),
        status,
        latency_ms,
        attempts: 1,
        attempt_log: vec![AttemptDetail { provider: "openai".into(), model: "gpt-4o".into(), error, ms: latency_ms, span: None }],
        ..LogRecord::default()
    }
}

fn feed(m: &Monitors, record: &LogRecord, n: usize) {
    for _ in 0..n {
        m.observe(record, Instant::now());
    }
}

#[tokio::test(start_paused = true)]
async fn an_error_rate_rule_fires_once_while_it_holds_and_again_only_after_it_cleared() {
    let m = Monitors::new(vec![rule("errors", Condition::ErrorRateAbove(0.2))], None, None);
    feed(&m, &request(200, 10.0), 7);
    feed(&m, &request(502, 10.0), 3);
    let alerts = m.evaluate(Instant::now());
    assert_eq!(alerts.len(), 1, "30% of 10 requests is above 20%");
    let a = &alerts[0];
    assert_eq!((a.kind, a.name.as_str(), a.scope), (AlertKind::MonitorErrorRate, "errors", None));
    assert_eq!(a.text, "monitor `errors`: model `gpt-4o` error rate 30.0% over the last 10s (3 failed of 10 requests) is above 20%");
    assert_eq!(a.monitor.as_ref().map(|f| (f.subject.as_str(), f.value, f.threshold)), Some(("model gpt-4o", Some(0.3), Some(0.2))));
    // Still holding: no second alert, however often it is evaluated.
    advance(S).await;
    feed(&m, &request(502, 10.0), 5);
    assert!(m.evaluate(Instant::now()).is_empty());
    assert!(m.status(Instant::now())[0].firing.is_some());
    // The window rolls past every failure: cleared and re-armed, silently.
    advance(11 * S).await;
    feed(&m, &request(200, 10.0), 10);
    assert!(m.evaluate(Instant::now()).is_empty());
    assert!(m.status(Instant::now())[0].firing.is_none());
    // Failing again: a new alert.
    feed(&m, &request(500, 10.0), 10);
    assert_eq!(m.evaluate(Instant::now()).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn fewer_requests_than_min_requests_never_fire() {
    let m = Monitors::new(vec![rule("errors", Condition::ErrorRateAbove(0.05))], None, None);
    feed(&m, &request(500, 10.0), 9);
    assert!(m.evaluate(Instant::now()).is_empty(), "9 failures of 9 requests, under min_requests 10");
    feed(&m, &request(500, 10.0), 1);
    assert_eq!(m.evaluate(Instant::now()).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn client_errors_cache_hits_and_refusals_are_not_failures() {
    let m = Monitors::new(vec![rule("errors", Condition::ErrorRateAbove(0.0))], None, None);
    // A 400 the upstream answered counts as a request that did not fail.
    feed(&m, &request(400, 10.0), 10);
    // The gateway's own refusals (rate limit, budget, auth) never reached a target: not counted.
    let refused = LogRecord { requested_model: "gpt-4o".into(), status: 429, ..LogRecord::default() };
    feed(&m, &refused, 50);
    // Cache hits and clients that went away say nothing about the model either.
    let hit = LogRecord { cache_status: Some("HIT".into()), ..request(200, 1.0) };
    let gone = LogRecord { status: 499, ..request(499, 1.0) };
    feed(&m, &hit, 5);
    feed(&m, &gone, 5);
    let totals = m.status(Instant::now())[0].totals.unwrap();
    assert_eq!((totals.requests, totals.failures), (10, 0));
    assert!(m.evaluate(Instant::now()).is_empty(), "0% is not above 0%");
    // Another model's failures are not this rule's.
    feed(&m, &LogRecord { requested_model: "other".into(), ..request(500, 1.0) }, 10);
    assert!(m.evaluate(Instant::now()).is_empty());
    feed(&m, &request(503, 10.0), 1);
    assert_eq!(m.evaluate(Instant::now()).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_latency_rule_fires_on_the_p95_not_the_average() {
    let m = Monitors::new(vec![rule("slow", Condition::P95LatencyAbove(1000.0))], None, None);
    // 95 fast and 5 very slow: the average is high, the p95 is not.
    feed(&m, &request(200, 100.0), 95);
    feed(&m, &request(200, 20_000.0), 5);
    assert!(m.evaluate(Instant::now()).is_empty());
    feed(&m, &request(200, 3000.0), 10);
    let alerts = m.evaluate(Instant::now());
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::MonitorLatency);
    assert!(alerts[0].text.starts_with("monitor `slow`: model `gpt-4o` p95 latency "), "{}", alerts[0].text);
    assert!(alerts[0].text.ends_with("over the last 10s (110 requests) is above 1000 ms"), "{}", alerts[0].text);
    let value = alerts[0].monitor.as_ref().and_then(|f| f.value).unwrap();
    assert!((2700.0..=3300.0).contains(&value), "{value}");
}

#[tokio::test(start_paused = true)]
async fn a_provider_rule_counts_each_attempt_at_that_provider() {
    let by_provider = Rule { model: None, provider: Some("openai".into()), min_requests: 2, ..rule("p", Condition::ErrorRateAbove(0.4)) };
    let m = Monitors::new(vec![by_provider], None, None);
    // Each request failed over from openai (a 5xx) to anthropic, which served it: the requests
    // succeeded, openai failed every time.
    let failed_over = LogRecord {
        requested_model: "support-bot".into(),
        status: 200,
        attempts: 2,
        attempt_log: vec![
            AttemptDetail {
                provider: "openai".into(),
                model: "gpt-4o".into(),
                error: Some(AttemptError::Failed(ErrorKind::Overloaded)),
                ms: 5.0,
                span: None,
            },
            AttemptDetail { provider: "anthropic".into(), model: "claude".into(), error: None, ms: 50.0, span: None },
        ],
        ..LogRecord::default()
    };
    feed(&m, &failed_over, 2);
    // A bad request is the caller's fault, not openai's; a target skipped for its open circuit
    // was not sent at all.
    let bad = AttemptDetail {
        provider: "openai".into(),
        model: "gpt-4o".into(),
        error: Some(AttemptError::Failed(ErrorKind::BadRequest)),
        ms: 5.0,
        span: None,
    };
    let skipped = AttemptDetail { error: Some(AttemptError::CircuitOpen), ..bad.clone() };
    feed(&m, &LogRecord { status: 400, attempts: 1, attempt_log: vec![bad, skipped], ..LogRecord::default() }, 1);
    let totals = m.status(Instant::now())[0].totals.unwrap();
    assert_eq!((totals.requests, totals.failures), (3, 2));
    let alerts = m.evaluate(Instant::now());
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].text.contains("provider `openai` error rate 66.7%"), "{}", alerts[0].text);
}

#[tokio::test(start_paused = true)]
async fn a_circuit_rule_reports_each_circuit_once_per_window_and_only_the_ones_it_watches() {
    let all = Rule { model: None, window: 60 * S, ..rule("circuits", Condition::CircuitOpen) };
    let only_anthropic = Rule { provider: Some("anthropic".into()), model: None, ..rule("anthropic", Condition::CircuitOpen) };
    let m = Monitors::new(vec![all, only_anthropic], None, None);
    let openai: Key = (Arc::from("openai"), "gpt-4o".to_string());
    let alerts = m.circuit_opened(&openai, Instant::now());
    assert_eq!(alerts.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["circuits"]);
    assert_eq!(alerts[0].kind, AlertKind::CircuitOpen);
    assert!(alerts[0].text.contains("the circuit of `openai/gpt-4o` opened"), "{}", alerts[0].text);
    advance(30 * S).await;
    assert!(m.circuit_opened(&openai, Instant::now()).is_empty(), "reopened within the window: not again");
    let other: Key = (Arc::from("openai"), "gpt-4o-mini".to_string());
    assert_eq!(m.circuit_opened(&other, Instant::now()).len(), 1, "another circuit is its own");
    advance(30 * S).await;
    assert_eq!(m.circuit_opened(&openai, Instant::now()).len(), 1, "a window later: again");
    // Window rules ignore circuits, circuit rules ignore traffic.
    feed(&m, &request(500, 1.0), 20);
    assert!(m.evaluate(Instant::now()).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_reload_keeps_the_state_of_unchanged_rules_and_starts_changed_ones_afresh() {
    let m = Monitors::new(vec![rule("a", Condition::ErrorRateAbove(0.1)), rule("b", Condition::ErrorRateAbove(0.1))], None, None);
    feed(&m, &request(500, 1.0), 10);
    assert_eq!(m.evaluate(Instant::now()).len(), 2);
    let next = Monitors::new(vec![rule("a", Condition::ErrorRateAbove(0.1)), rule("b", Condition::ErrorRateAbove(0.2))], None, Some(&m));
    let status = next.status(Instant::now());
    assert!(status[0].firing.is_some() && status[0].totals.unwrap().requests == 10, "a is unchanged: still firing, same window");
    assert!(status[1].firing.is_none() && status[1].totals.unwrap().requests == 0, "b changed: a fresh window");
    assert!(next.evaluate(Instant::now()).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_breaker_opening_alerts_through_the_running_monitors_sink() {
    let _one_at_a_time = PROCESS_MONITORS.lock().await;
    let got: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let sink: AlertSink = {
        let got = got.clone();
        Arc::new(move |a: Alert| got.lock().unwrap().push(a))
    };
    let watch = Rule { provider: Some("breaker-test".into()), model: None, ..rule("circuits", Condition::CircuitOpen) };
    install(Some(Arc::new(Monitors::new(vec![watch], Some(sink), None))));
    let before = crate::metrics::ALERTS.get("circuit_open");
    let breakers = crate::breaker::Breakers::new(crate::breaker::BreakerPolicy::default());
    let key: Key = (Arc::from("breaker-test"), "m".to_string());
    for _ in 0..4 {
        breakers.record(&key, false);
    }
    assert!(got.lock().unwrap().is_empty(), "closed after 4 failures");
    breakers.record(&key, false);
    install(None);
    let alerts = got.lock().unwrap().clone();
    assert_eq!(alerts.len(), 1);
    assert_eq!((alerts[0].kind, alerts[0].name.as_str()), (AlertKind::CircuitOpen, "circuits"));
    assert!(crate::metrics::ALERTS.get("circuit_open") > before);
}

/// What a finished request pays for monitors, in ns per record: none configured, rules that do
/// not match it, and rules that do; and that every record reached the matching rules. The timing
/// is printed, never asserted (a timing is not a test); for numbers worth reading run it in release:
/// `cargo test --release -p switchyard-core --lib monitor::tests::request_path_cost -- --nocapture`.
#[test]
fn request_path_cost() {
    let _one_at_a_time = PROCESS_MONITORS.blocking_lock();
    let record = request(200, 120.0);
    const N: u32 = if cfg!(debug_assertions) { 20_000 } else { 2_000_000 };
    let per_record = |f: &dyn Fn()| {
        let started = std::time::Instant::now();
        for _ in 0..N {
            f();
        }
        started.elapsed().as_nanos() as f64 / f64::from(N)
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let _guard = runtime.enter();
    install(None);
    let none = per_record(&|| observe(std::hint::black_box(&record)));
    let others: Vec<Rule> = (0..10)
        .map(|i| Rule { model: Some(format!("model-{i}")), ..rule(&format!("r{i}"), Condition::ErrorRateAbove(0.1)) })
        .chain((0..10).map(|i| Rule {
            model: None,
            provider: Some(format!("provider-{i}")),
            ..rule(&format!("p{i}"), Condition::ErrorRateAbove(0.1))
        }))
        .collect();
    install(Some(Arc::new(Monitors::new(others.clone(), None, None))));
    let unmatched = per_record(&|| observe(std::hint::black_box(&record)));
    let mut matching = others;
    matching.push(rule("model", Condition::P95LatencyAbove(1000.0)));
    matching.push(Rule { model: None, provider: Some("openai".into()), ..rule("provider", Condition::ErrorRateAbove(0.1)) });
    let monitors = Arc::new(Monitors::new(matching, None, None));
    install(Some(monitors.clone()));
    let matched = per_record(&|| observe(std::hint::black_box(&record)));
    install(None);
    let counted: Vec<u32> = monitors.status(Instant::now()).iter().filter_map(|s| s.totals).map(|t| t.requests).collect();
    assert!(counted.contains(&N), "the matching rules saw every record: {counted:?}");
    println!(
        "ns per finished request: no monitors {none:.1}, 20 rules not matching {unmatched:.1}, 20 not matching + 2 matching {matched:.1}"
    );
}

#[tokio::test(start_paused = true)]
async fn failures_while_a_circuit_is_open_do_not_open_it_again() {
    let _one_at_a_time = PROCESS_MONITORS.lock().await;
    let got: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let sink: AlertSink = {
        let got = got.clone();
        Arc::new(move |a: Alert| got.lock().unwrap().push(a))
    };
    // A window shorter than the breaker's cool-off: only real openings can be reported twice.
    let watch =
        Rule { provider: Some("reopen-test".into()), model: None, window: Duration::from_millis(10), ..rule("c", Condition::CircuitOpen) };
    install(Some(Arc::new(Monitors::new(vec![watch], Some(sink), None))));
    let breakers = crate::breaker::Breakers::new(crate::breaker::BreakerPolicy::default());
    let key: Key = (Arc::from("reopen-test"), "m".to_string());
    for _ in 0..5 {
        breakers.record(&key, false);
    }
    assert_eq!(got.lock().unwrap().len(), 1, "opened");
    // The only target left is sent to while open, and fails again and again.
    advance(Duration::from_secs(1)).await;
    for _ in 0..10 {
        breakers.record(&key, false);
    }
    assert_eq!(got.lock().unwrap().len(), 1, "still the same opening");
    // Past the cool-off, the probe fails: that opens it again.
    advance(Duration::from_secs(5)).await;
    assert_eq!(breakers.admit(&key), crate::breaker::Admission::Probe);
    breakers.record(&key, false);
    install(None);
    assert_eq!(got.lock().unwrap().len(), 2, "the failed probe opened it again");
}

#[tokio::test(start_paused = true)]
async fn with_send_resolved_a_rule_that_stops_holding_says_so_once() {
    let r = Rule { send_resolved: true, ..rule("errors", Condition::ErrorRateAbove(0.2)) };
    let quiet = rule("quiet", Condition::ErrorRateAbove(0.2));
    let m = Monitors::new(vec![r, quiet], None, None);
    feed(&m, &request(500, 1.0), 10);
    assert_eq!(m.evaluate(Instant::now()).len(), 2);
    advance(S).await;
    feed(&m, &request(200, 1.0), 90);
    let alerts = m.evaluate(Instant::now());
    assert_eq!(alerts.len(), 1, "only the rule with send_resolved: {alerts:#?}");
    assert_eq!((alerts[0].kind, alerts[0].name.as_str()), (AlertKind::MonitorResolved, "errors"));
    assert!(
        alerts[0]
            .text
            .starts_with("monitor `errors` resolved: model `gpt-4o` error rate 10.0% over the last 10s, not above 20% (firing since "),
        "{}",
        alerts[0].text
    );
    assert!(m.evaluate(Instant::now()).is_empty(), "once");
}
