//! Monitors through the real binary: a failing model, a slow provider and a circuit opening each
//! reach the configured destinations (a webhook, Slack, a real SMTP server) exactly once while
//! the condition holds; client errors alert nobody; a reload adds rules without a restart.
//! Windows are a few seconds long (the ticker runs every tenth of one) so that these take seconds.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use switchyard_testkit::{FakeUpstream, GatewayProcess, Reply};

use super::caps::{metric, SmtpServer};
use super::*;
use crate::common::*;

const UPSTREAM_KEY: &str = "sk-upstream-key-for-monitors";

fn ok_body() -> String {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    })
    .to_string()
}

/// Providers `up` (at `up`) and `picky` (at `picky`), aliases `bot` → up and `strict` → picky,
/// the admin API, the default destinations `hooks`, and `monitors`.
fn monitored(up: &str, picky: &str, alerts: &str, monitors: &str) -> String {
    format!(
        "admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\ngovernance: {{ alerts: {{ {alerts} }} }}\n\
         providers:\n  up: {{ type: openai, base_url: \"{up}\", api_key: {UPSTREAM_KEY} }}\n  picky: {{ type: openai, base_url: \"{picky}\", api_key: {UPSTREAM_KEY} }}\n\
         models:\n  bot: {{ targets: [ {{ provider: up, model: m }} ] }}\n  strict: {{ targets: [ {{ provider: picky, model: m }} ] }}\n\
         {monitors}"
    )
}

fn ask(model: &str) -> Value {
    chat(model, "hi")
}

/// The JSON bodies a receiver got.
fn received(hook: &FakeUpstream) -> Vec<Value> {
    hook.requests().iter().map(|r| r.json()).collect()
}

#[tokio::test]
async fn a_failing_model_alerts_the_webhook_once_naming_the_rule_and_client_errors_alert_nobody() {
    let up = FakeUpstream::start_repeating(Reply::openai_error(500, "boom", "server_error", "server_error")).await;
    let picky = FakeUpstream::start_repeating(Reply::openai_error(400, "bad input", "invalid_request_error", "bad")).await;
    let hook = FakeUpstream::start_repeating(Reply::json("{}")).await;
    let monitors = "monitors:\n\
        - { name: bot-errors, model: bot, error_rate_above: 0.5, window: 3s, min_requests: 3 }\n\
        - { name: strict-errors, model: strict, error_rate_above: 0.0, window: 30s, min_requests: 3 }\n";
    let gw = GatewayProcess::spawn(
        bin(),
        &monitored(&up.base_url(), &picky.base_url(), &format!("webhook: \"{}/hook\"", hook.base_url()), monitors),
    )
    .await;

    // Client errors, many of them: the upstream answered 400 each time. Not an error of `strict`.
    for _ in 0..6 {
        assert_eq!(post(&gw, &ask("strict")).await.status(), 400);
    }
    for _ in 0..4 {
        assert!(post(&gw, &ask("bot")).await.status().is_server_error());
    }
    assert!(hook.wait_for_requests(1, Duration::from_secs(10)).await, "one alert for bot-errors");
    // The failures go on, ticks go by: no second alert while it keeps holding.
    for _ in 0..4 {
        assert!(post(&gw, &ask("bot")).await.status().is_server_error());
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let alerts = received(&hook);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(
        (a["kind"].as_str(), a["scope"].as_str(), a["name"].as_str(), a["subject"].as_str()),
        (Some("monitor_error_rate"), Some("monitor"), Some("bot-errors"), Some("model bot"))
    );
    assert_eq!((a["value"].as_f64(), a["threshold"].as_f64(), a["window"].as_str()), (Some(1.0), Some(0.5), Some("3s")));
    let text = a["text"].as_str().unwrap_or("");
    assert!(text.starts_with("switchyard: monitor `bot-errors`: model `bot` error rate 100.0% over the last 3s ("), "{text}");
    assert!(text.ends_with("is above 50%"), "{text}");
    assert!(!format!("{alerts:?}").contains(UPSTREAM_KEY), "alerts never carry a key");
    assert_eq!(metric(&gw, "switchyard_alerts_total{kind=\"monitor_error_rate\"}").await, 1);
    assert_eq!(metric(&gw, "switchyard_alerts_sent_total{destination=\"webhook\"}").await, 1);

    // Read back: both rules, one firing since the alert, the other quiet with its 400s counted
    // as requests that did not fail.
    let (status, body) = admin(&gw, Method::GET, "/admin/monitors", None).await;
    assert_eq!(status, 200, "{body}");
    let rules = body["data"].as_array().cloned().unwrap_or_default();
    let by_name = |n: &str| rules.iter().find(|r| r["name"] == n).cloned().unwrap_or(Value::Null);
    let bot = by_name("bot-errors");
    assert_eq!(
        (bot["condition"].as_str(), bot["threshold"].as_f64(), bot["model"].as_str()),
        (Some("error_rate_above"), Some(0.5), Some("bot"))
    );
    assert!(bot["firing_since"].is_string(), "{bot}");
    let strict = by_name("strict-errors");
    assert!(strict["firing_since"].is_null(), "{strict}");
    assert_eq!(strict["value"].as_f64(), Some(0.0), "{strict}");
}

#[tokio::test]
async fn a_slow_provider_alerts_its_p95_latency_to_the_rules_own_webhook_and_by_email() {
    let up = FakeUpstream::start_repeating(Reply::json(ok_body()).delayed(Duration::from_millis(600))).await;
    let picky = FakeUpstream::start_repeating(Reply::json(ok_body())).await;
    let default_hook = FakeUpstream::start_repeating(Reply::json("{}")).await;
    let own_hook = FakeUpstream::start_repeating(Reply::json("{}")).await;
    let smtp = SmtpServer::start().await;
    let (email_default, email_rule) = match &smtp {
        Some(s) => (format!(", email: {{ smtp: \"127.0.0.1:{}\", from: gateway@example.com }}", s.port), ", email: [oncall@example.com]"),
        None => (String::new(), ""),
    };
    let monitors = format!(
        "monitors:\n\
         - {{ name: up-slow, provider: up, p95_latency_ms_above: 400, window: 5s, min_requests: 3, alerts: {{ webhook: \"{}/own\"{email_rule} }} }}\n\
         - {{ name: picky-slow, provider: picky, p95_latency_ms_above: 400, window: 5s, min_requests: 3 }}\n",
        own_hook.base_url()
    );
    let alerts = format!("webhook: \"{}/hook\"{email_default}", default_hook.base_url());
    let gw = GatewayProcess::spawn(bin(), &monitored(&up.base_url(), &picky.base_url(), &alerts, &monitors)).await;

    for _ in 0..4 {
        assert_eq!(post(&gw, &ask("strict")).await.status(), 200);
        assert_eq!(post(&gw, &ask("bot")).await.status(), 200);
    }
    assert!(own_hook.wait_for_requests(1, Duration::from_secs(10)).await, "the latency alert, at the rule's own webhook");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let alerts = received(&own_hook);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(
        (a["kind"].as_str(), a["name"].as_str(), a["subject"].as_str()),
        (Some("monitor_latency"), Some("up-slow"), Some("provider up"))
    );
    let p95 = a["value"].as_f64().unwrap_or(0.0);
    assert!((540.0..3000.0).contains(&p95), "p95 of 600 ms answers: {p95}");
    assert!(a["text"].as_str().unwrap_or("").contains("is above 400 ms"), "{a}");
    assert_eq!(default_hook.request_count(), 0, "a rule's own destinations replace the default; the fast provider is quiet");
    if let Some(smtp) = &smtp {
        let arrived = eventually(Duration::from_secs(10), || async { !smtp.messages().is_empty() }).await;
        assert!(arrived.is_some(), "an email");
        let mails = smtp.messages();
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert!(mails[0].contains("To: <oncall@example.com>"), "{}", mails[0]);
        assert!(mails[0].contains("Subject: switchyard alert: monitor latency for monitor up-slow"), "{}", mails[0]);
        assert!(mails[0].contains("monitor `up-slow`: provider `up` p95 latency"), "{}", mails[0]);
    }
    assert_eq!(metric(&gw, "switchyard_alerts_total{kind=\"monitor_latency\"}").await, 1);
}

#[tokio::test]
async fn a_circuit_opening_alerts_at_once_and_once_per_window() {
    let up = FakeUpstream::start_repeating(Reply::openai_error(503, "down", "server_error", "server_error")).await;
    let picky = FakeUpstream::start_repeating(Reply::json(ok_body())).await;
    let hook = FakeUpstream::start_repeating(Reply::json("{}")).await;
    let slack = FakeUpstream::start_repeating(Reply::json("{}")).await;
    let alerts = format!("webhook: \"{}/hook\", slack: \"{}/slack\"", hook.base_url(), slack.base_url());
    let monitors = "monitors:\n  - { name: circuits, circuit_open: true, window: 1m }\n";
    let gw = GatewayProcess::spawn(bin(), &monitored(&up.base_url(), &picky.base_url(), &alerts, monitors)).await;

    // The default breaker opens after 5 consecutive failures of the target.
    let mut sent = 0;
    while hook.request_count() == 0 && sent < 10 {
        let _ = post(&gw, &ask("bot")).await;
        sent += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(hook.wait_for_requests(1, Duration::from_secs(5)).await, "the circuit alert");
    assert!(slack.wait_for_requests(1, Duration::from_secs(5)).await);
    // Past its cool-off the circuit probes, fails and opens again: within the rule's window,
    // nobody is told twice.
    tokio::time::sleep(Duration::from_millis(5200)).await;
    for _ in 0..3 {
        let _ = post(&gw, &ask("bot")).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = received(&hook);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(
        (got[0]["kind"].as_str(), got[0]["name"].as_str(), got[0]["subject"].as_str()),
        (Some("circuit_open"), Some("circuits"), Some("circuit up/m"))
    );
    let text = slack.last_request().json()["text"].as_str().unwrap_or("").to_string();
    assert_eq!(text, "switchyard: monitor `circuits`: the circuit of `up/m` opened; requests to it are refused until a probe succeeds");
    assert_eq!(slack.request_count(), 1);
    assert_eq!(metric(&gw, "switchyard_alerts_total{kind=\"circuit_open\"}").await, 1);
}

#[tokio::test]
async fn a_rule_added_by_a_reload_alerts_without_a_restart() {
    let up = FakeUpstream::start_repeating(Reply::openai_error(500, "boom", "server_error", "server_error")).await;
    let picky = FakeUpstream::start_repeating(Reply::json(ok_body())).await;
    let hook = FakeUpstream::start_repeating(Reply::json("{}")).await;
    let alerts = format!("webhook: \"{}/hook\"", hook.base_url());
    let gw = GatewayProcess::spawn(bin(), &monitored(&up.base_url(), &picky.base_url(), &alerts, "")).await;
    for _ in 0..3 {
        assert!(post(&gw, &ask("bot")).await.status().is_server_error());
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(hook.request_count(), 0, "no monitors yet");

    let monitors = "monitors:\n  - { name: added, model: bot, error_rate_above: 0.1, window: 2s, min_requests: 2 }\n";
    std::fs::write(gw.config_path(), monitored(&up.base_url(), &picky.base_url(), &alerts, monitors)).expect("rewrite the config");
    let (status, report) = admin(&gw, Method::POST, "/admin/config/reload", None).await;
    assert_eq!(status, 200, "{report}");
    // A rule the file gets wrong is refused and the running rules stay.
    let bad = "monitors:\n  - { name: added, model: bot, error_rate_above: 2 }\n";
    std::fs::write(gw.config_path(), monitored(&up.base_url(), &picky.base_url(), &alerts, bad)).expect("rewrite the config");
    let (status, report) = admin(&gw, Method::POST, "/admin/config/reload", None).await;
    assert_eq!(status, 422, "{report}");
    assert_eq!(report["problems"][0]["path"].as_str(), Some("monitors[0].error_rate_above"), "{report}");

    for _ in 0..3 {
        assert!(post(&gw, &ask("bot")).await.status().is_server_error());
    }
    assert!(hook.wait_for_requests(1, Duration::from_secs(10)).await, "the rule the reload added fires");
    assert_eq!(received(&hook)[0]["name"].as_str(), Some("added"));
}

#[tokio::test]
async fn with_send_resolved_the_webhook_hears_when_the_rule_stops_holding() {
    let up = FakeUpstream::start_repeating(Reply::openai_error(500, "boom", "server_error", "server_error")).await;
    let picky = FakeUpstream::start_repeating(Reply::json(ok_body())).await;
    let hook = FakeUpstream::start_repeating(Reply::json("{}")).await;
    let alerts = format!("webhook: \"{}/hook\"", hook.base_url());
    let monitors =
        "monitors:\n  - { name: bot-errors, model: bot, error_rate_above: 0.5, window: 2s, min_requests: 3, send_resolved: true }\n";
    let gw = GatewayProcess::spawn(bin(), &monitored(&up.base_url(), &picky.base_url(), &alerts, monitors)).await;
    for _ in 0..3 {
        assert!(post(&gw, &ask("bot")).await.status().is_server_error());
    }
    assert!(hook.wait_for_requests(1, Duration::from_secs(10)).await, "fired");
    // No more requests: the failures leave the 2 s window and the rule stops holding.
    assert!(hook.wait_for_requests(2, Duration::from_secs(10)).await, "resolved");
    let got = received(&hook);
    assert_eq!(got.iter().map(|a| a["kind"].as_str().unwrap_or("")).collect::<Vec<_>>(), ["monitor_error_rate", "monitor_resolved"]);
    let text = got[1]["text"].as_str().unwrap_or("");
    assert!(
        text.starts_with("switchyard: monitor `bot-errors` resolved: model `bot` fewer than 3 requests over the last 2s (firing since "),
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(hook.request_count(), 2, "resolved once");
    assert_eq!(metric(&gw, "switchyard_alerts_total{kind=\"monitor_resolved\"}").await, 1);
}
