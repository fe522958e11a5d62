//! Delivers the governor's alerts to their destinations: a generic JSON webhook, a Slack incoming
//! webhook and email over SMTP. Each delivery is its own background task (never on the request
//! path; shutdown waits for it, bounded), retried with backoff, and counted per destination kind
//! in `/metrics`. The governor has already made sure an alert is sent once per window; monitors,
//! that a rule fires once until it clears.

mod smtp;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use switchyard_core::govern::{Alert, AlertSink};
use switchyard_core::metrics::{ALERTS_FAILED, ALERTS_SENT};
use switchyard_core::store::AlertTargets;

use crate::config::{Alerts, Smtp};

/// Waits before the second, third and fourth tries; then the alert is given up on (and counted
/// as failed).
const BACKOFF: [Duration; 3] = [Duration::from_millis(500), Duration::from_secs(4), Duration::from_secs(30)];
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// The sink the governor hands alerts to: to the alert's own destinations (its budget's), else to
/// those configured for its kind of scope, else to the default ones.
pub fn sink(config: &Alerts) -> AlertSink {
    let client = reqwest::Client::builder().timeout(HTTP_TIMEOUT).build().unwrap_or_default();
    let config = Arc::new(config.clone());
    Arc::new(move |alert: Alert| deliver(&client, &config, alert))
}

fn deliver(client: &reqwest::Client, config: &Arc<Alerts>, alert: Alert) {
    let targets: AlertTargets =
        alert.targets.clone().or_else(|| config.per_scope.get(alert.scope.as_ref()?).cloned()).unwrap_or_else(|| config.targets.clone());
    let text = format!("switchyard: {}", alert.text);
    // A monitor's alert is about a rule, not a budget's scope.
    let scope = alert.scope.map_or("monitor", |s| s.as_str());
    if let Some(url) = targets.webhook {
        let mut body = json!({
            "text": text,
            "kind": alert.kind.as_str(),
            "scope": scope,
            "name": alert.name,
            "window": alert.window,
            "at": switchyard_core::time::rfc3339(switchyard_core::time::now_ms()),
        });
        if let Some(facts) = &alert.monitor {
            body["subject"] = json!(facts.subject);
            body["value"] = json!(facts.value);
            body["threshold"] = json!(facts.threshold);
        }
        spawn_post(client.clone(), "webhook", url, body);
    }
    if let Some(url) = targets.slack {
        spawn_post(client.clone(), "slack", url, json!({ "text": slack_escape(&text) }));
    }
    if !targets.email.is_empty() {
        let Some(smtp) = config.smtp.clone() else {
            tracing::warn!(kind = alert.kind.as_str(), "an alert has email recipients but governance.alerts.email sets no SMTP server");
            ALERTS_FAILED.inc("email");
            return;
        };
        let subject = format!("switchyard alert: {} for {} {}", alert.kind.as_str().replace('_', " "), scope, alert.name);
        let body = format!("{}\n\nkind: {}\nwindow: {}\n", alert.text, alert.kind.as_str(), alert.window);
        spawn_mail(smtp, targets.email, subject, body);
    }
}

fn spawn_post(client: reqwest::Client, destination: &'static str, url: String, body: serde_json::Value) {
    switchyard_core::tasks::spawn_background("alert-delivery", async move {
        retried(destination, || async {
            match client.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("answered {}", r.status().as_u16())),
                Err(e) => Err(e.without_url().to_string()),
            }
        })
        .await;
    });
}

fn spawn_mail(smtp: Smtp, to: Vec<String>, subject: String, body: String) {
    switchyard_core::tasks::spawn_background("alert-delivery", async move {
        retried("email", || async {
            let message = smtp::Message { from: &smtp.from, to: &to, subject: &subject, body: &body };
            smtp::send(&smtp.server, &message).await.map_err(|e| e.to_string())
        })
        .await;
    });
}

/// Tries `send` until it succeeds or the backoff is spent, and counts the outcome.
async fn retried<F, Fut>(destination: &'static str, mut send: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut waits = BACKOFF.iter();
    loop {
        match send().await {
            Ok(()) => {
                ALERTS_SENT.inc(destination);
                return;
            }
            Err(why) => match waits.next() {
                Some(wait) => {
                    tracing::debug!(destination, error = %why, "alert delivery failed; retrying");
                    tokio::time::sleep(*wait + Duration::from_millis(fastrand::u64(0..=wait.as_millis() as u64 / 4))).await;
                }
                None => {
                    tracing::warn!(destination, error = %why, "alert delivery failed after every retry");
                    ALERTS_FAILED.inc(destination);
                    return;
                }
            },
        }
    }
}

/// Slack reads `<…>` as links and mentions (`<!channel>`): names chosen by users must not ping
/// a whole channel.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failing_destination_is_retried_with_backoff_then_counted_failed() {
        let tries = std::sync::atomic::AtomicU32::new(0);
        let before = ALERTS_FAILED.get("slack");
        let started = tokio::time::Instant::now();
        retried("slack", || async {
            tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err("answered 500".to_string())
        })
        .await;
        assert_eq!(tries.load(std::sync::atomic::Ordering::Relaxed), 4);
        assert!(started.elapsed() >= BACKOFF.iter().sum::<Duration>());
        assert!(ALERTS_FAILED.get("slack") > before);
    }

    #[tokio::test(start_paused = true)]
    async fn a_destination_that_recovers_gets_the_alert_once() {
        let tries = std::sync::atomic::AtomicU32::new(0);
        retried("webhook", || async {
            let n = tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n == 0 {
                Err("answered 503".to_string())
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!(tries.load(std::sync::atomic::Ordering::Relaxed), 2);
    }

    #[test]
    fn slack_mentions_in_names_are_escaped() {
        assert_eq!(slack_escape("customer `<!channel>` & co"), "customer `&lt;!channel&gt;` &amp; co");
    }
}
