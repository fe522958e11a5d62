//! Request caps and the alerts on every cap: a generic JSON webhook, a Slack-shaped webhook and
//! a real SMTP server (Python's `aiosmtpd`, from the repo's `.venv` that scripts/test.sh sets
//! up), each receiving the soft-cap and the hard-cap alert once per window.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use switchyard_testkit::{FakeUpstream, GatewayProcess, Reply};

use super::*;
use crate::common::*;

/// `aiosmtpd` writing every message it accepts into a maildir; killed on drop.
pub(super) struct SmtpServer {
    child: Child,
    pub(super) port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpServer {
    /// `None` (said loudly) when no Python with aiosmtpd is found outside CI.
    pub(super) async fn start() -> Option<SmtpServer> {
        let Some(python) = python_with_aiosmtpd() else {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI needs aiosmtpd: scripts/test.sh installs it into .venv");
            eprintln!("SKIPPED (email part): no Python with aiosmtpd; set SWITCHYARD_TEST_PYTHON or run scripts/test.sh once");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let maildir = tempfile::tempdir().expect("maildir");
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            // Mailbox makes the maildir only where nothing exists yet.
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let server = SmtpServer { child, port, maildir };
        let up = eventually(Duration::from_secs(10), || async { tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() }).await;
        assert!(up.is_some(), "aiosmtpd listens on {port}");
        Some(server)
    }

    /// Every message received so far, as text.
    pub(super) fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.path().join("mail").join(sub)) else { continue };
            out.extend(entries.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()));
        }
        out
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python_with_aiosmtpd() -> Option<PathBuf> {
    let repo_venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let candidates = std::env::var_os("SWITCHYARD_TEST_PYTHON").map(PathBuf::from).into_iter().chain([repo_venv]);
    candidates
        .into_iter()
        .find(|python| Command::new(python).args(["-c", "import aiosmtpd"]).stderr(Stdio::null()).status().is_ok_and(|s| s.success()))
}

pub(super) async fn metric(gw: &GatewayProcess, line: &str) -> u64 {
    let text = client().get(format!("{}/metrics", gw.root_url())).send().await.expect("metrics").text().await.unwrap_or_default();
    text.lines().find_map(|l| l.strip_prefix(line)?.trim().parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn a_request_cap_refuses_after_the_cap_and_alerts_every_destination_once_per_window() {
    let up = metered_upstream(Duration::ZERO).await;
    // The first target always fails: every request is retried on the second, and still counts once.
    let down = FakeUpstream::start_repeating(Reply::openai_error(500, "boom", "server_error", "server_error")).await;
    // The webhook fails its first delivery: the alert is retried, not lost.
    let webhook = FakeUpstream::start(vec![Reply::json_status(503, "{}"), Reply::json("{}")]).await;
    let slack = FakeUpstream::start_repeating(Reply::json("{}")).await;
    let smtp = SmtpServer::start().await;
    let email = smtp.as_ref().map_or(String::new(), |s| {
        format!(", email: {{ smtp: \"127.0.0.1:{}\", from: gateway@example.com, to: [ops@example.com] }}", s.port)
    });
    let config = format!(
        "admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\ngovernance: {{ alerts: {{ webhook: \"{}/hook\", slack: \"{}/slack\"{email} }} }}\n\
         providers:\n  up: {{ type: openai, base_url: \"{}\", api_key: sk-upstream-key-123 }}\n  down: {{ type: openai, base_url: \"{}\", api_key: sk-upstream-key-456 }}\n\
         models:\n  metered:\n    targets: [ {{ provider: down, model: m }}, {{ provider: up, model: m }} ]\n    price: {{ input: 0, output: 10000 }}\n",
        webhook.base_url(),
        slack.base_url(),
        up.base_url(),
        down.base_url(),
    );
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let (id, key) = create_key(&gw, json!({"name": "capped", "budget": {"requests": 3, "window": "total", "soft_pct": 60}})).await;

    for i in 0..3 {
        let r = call(&gw, Some(&key), &one_token()).await;
        assert_eq!(r.status(), 200, "request {i}: {}", r.text().await.unwrap_or_default());
    }
    assert!(down.request_count() >= 3, "every request was tried on the failing target first");
    for _ in 0..2 {
        let r = call(&gw, Some(&key), &one_token()).await;
        assert_eq!(r.status(), 429);
        assert_eq!(header(&r, "x-should-retry"), "false", "a total cap never resets");
        let e: Value = r.json().await.unwrap();
        let message = e["error"]["message"].as_str().unwrap();
        assert_eq!(code(&e), "budget_exceeded");
        assert!(message.contains("request cap reached") && message.contains(&format!("key `{id}`")), "{message}");
        assert!(message.contains("3 requests of its total cap of 3 requests"), "{message}");
    }
    assert_eq!(up.request_count(), 3, "three admitted requests, each served once");

    // Soft cap (at 2 of 3 = 67%) and hard cap, each once, at every destination.
    assert!(webhook.wait_for_requests(3, Duration::from_secs(10)).await, "503, then the two alerts");
    assert!(slack.wait_for_requests(2, Duration::from_secs(10)).await);
    if let Some(smtp) = &smtp {
        let arrived = eventually(Duration::from_secs(10), || async { smtp.messages().len() >= 2 }).await;
        assert!(arrived.is_some(), "two emails: {:?}", smtp.messages());
    }
    // More refusals in the same window alert nobody again.
    for _ in 0..3 {
        assert_eq!(call(&gw, Some(&key), &one_token()).await.status(), 429);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!((webhook.request_count(), slack.request_count()), (3, 2), "once per window");

    let delivered: Vec<Value> = webhook.requests().iter().skip(1).map(|r| r.json()).collect();
    let mut kinds: Vec<&str> = delivered.iter().map(|a| a["kind"].as_str().unwrap_or("")).collect();
    kinds.sort();
    assert_eq!(kinds, ["hard_cap", "soft_cap"]);
    for alert in &delivered {
        assert_eq!(
            (alert["scope"].as_str(), alert["name"].as_str(), alert["window"].as_str()),
            (Some("key"), Some(id.as_str()), Some("total"))
        );
    }
    let texts: Vec<String> = slack.requests().iter().map(|r| r.json()["text"].as_str().unwrap_or("").to_string()).collect();
    assert!(texts.iter().any(|t| t.contains("total request cap at 67%")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("total request cap reached, refusing requests (3 requests of 3 requests)")), "{texts:?}");
    assert_eq!(slack.last_request().json().as_object().map(|o| o.len()), Some(1), "Slack gets {{\"text\"}} only");
    let everything = format!("{delivered:?}{texts:?}{:?}", smtp.as_ref().map(|s| s.messages()));
    assert!(!everything.contains(&key), "alerts never carry the key");

    if let Some(smtp) = &smtp {
        let mails = smtp.messages();
        assert_eq!(mails.len(), 2, "once per window");
        assert!(mails.iter().all(|m| m.contains("To: <ops@example.com>") && m.contains("From: <gateway@example.com>")), "{mails:?}");
        assert!(mails.iter().any(|m| m.contains(&format!("Subject: switchyard alert: hard cap for key {id}"))), "{mails:?}");
        assert_eq!(metric(&gw, "switchyard_alerts_sent_total{destination=\"email\"}").await, 2);
    }
    assert_eq!(metric(&gw, "switchyard_alerts_sent_total{destination=\"webhook\"}").await, 2);
    assert_eq!(metric(&gw, "switchyard_alerts_sent_total{destination=\"slack\"}").await, 2);
    assert_eq!(metric(&gw, "switchyard_alerts_failed_total{destination=\"webhook\"}").await, 0, "the retry delivered it");
    assert_eq!(metric(&gw, "switchyard_alerts_total{kind=\"hard_cap\"}").await, 1);
}

#[tokio::test]
async fn a_request_cap_is_set_and_read_back_through_the_admin_api_and_bad_ones_are_refused() {
    let up = metered_upstream(Duration::ZERO).await;
    let gw =
        GatewayProcess::spawn(bin(), &format!("admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\n{}", metered_models(&up.base_url())))
            .await;
    let cap = json!({"requests": 2, "window": "daily", "soft_pct": 80, "alerts": {"slack": "https://hooks.example/x"}});
    let (status, body) = admin(&gw, Method::PUT, "/admin/budgets/feature/chat", Some(cap)).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = client().post(format!("{}/chat/completions", gw.base_url())).header("x-switchyard-feature", "chat").json(&one_token());
        statuses.push(r.send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
    let read = eventually(Duration::from_secs(5), || async {
        admin(&gw, Method::GET, "/admin/budgets/feature/chat", None).await.1["spent"]["requests"].as_u64() == Some(2)
    })
    .await;
    assert!(read.is_some(), "{}", admin(&gw, Method::GET, "/admin/budgets/feature/chat", None).await.1);

    for (bad, field) in [
        (json!({"requests": 0, "window": "daily"}), "requests"),
        (json!({"window": "daily"}), "usd"),
        (json!({"requests": 5, "window": "daily", "alerts": {"webhook": "ftp://x"}}), "alerts.webhook"),
        (json!({"requests": 5, "window": "daily", "alerts": {"email": ["ops@x\r\nRCPT TO:<a@b>"]}}), "alerts.email"),
    ] {
        let (status, body) = admin(&gw, Method::PUT, "/admin/budgets/team/t", Some(bad)).await;
        assert_eq!((status, body["error"]["param"].as_str()), (400, Some(field)), "{body}");
    }
}

#[tokio::test]
async fn a_request_cap_holds_across_instances_sharing_redis() {
    let (Some(pg), Some(redis)) = (postgres_url(), redis_url()) else { return };
    let schema = Schema::create(&pg).await;
    let up = metered_upstream(Duration::from_millis(100)).await;
    let config = format!(
        "database: \"{}\"\nredis: {redis}\nkeys: {{ secret: {KEY_SECRET}, require: true }}\ngovernance: {{ redis_timeout: 500ms }}\nadmin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\n{}",
        schema.url,
        metered_models(&up.base_url())
    );
    let gws = [GatewayProcess::spawn(bin(), &config).await, GatewayProcess::spawn(bin(), &config).await];
    let (_, key) = create_key(&gws[0], json!({"name": "capped", "budget": {"requests": 7, "window": "monthly"}})).await;
    // Both instances know the key before the race (the warm-up requests count: 2 of the 7).
    for gw in &gws {
        assert_eq!(call(gw, Some(&key), &one_token()).await.status(), 200);
    }
    let calls = (0..40).map(|i| {
        let (gw, key) = (&gws[i % 2], key.clone());
        async move { call(gw, Some(&key), &one_token()).await.status().as_u16() }
    });
    let statuses = futures_util::future::join_all(calls).await;
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!((admitted, statuses.iter().filter(|s| **s == 429).count()), (5, 35), "{statuses:?}");
    assert_eq!(up.request_count(), 7);
    drop(gws);
    schema.drop_now().await;
}

#[tokio::test]
async fn a_saturated_rate_limit_alerts_its_budgets_or_its_scopes_destination_once_per_hour() {
    let up = metered_upstream(Duration::ZERO).await;
    let default_hook = FakeUpstream::start_repeating(Reply::json("{}")).await;
    let own_hook = FakeUpstream::start_repeating(Reply::json("{}")).await;
    let features_hook = FakeUpstream::start_repeating(Reply::json("{}")).await;
    let config = format!(
        "admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\ngovernance: {{ alerts: {{ webhook: \"{}/default\", scopes: {{ feature: {{ webhook: \"{}/features\" }} }} }} }}\n{}",
        default_hook.base_url(),
        features_hook.base_url(),
        metered_models(&up.base_url())
    );
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let budget = json!({"usd": 100, "window": "monthly", "alerts": {"webhook": format!("{}/own", own_hook.base_url())}});
    let (_, key) = create_key(&gw, json!({"name": "limited", "limits": {"rpm": 1}, "budget": budget})).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(call(&gw, Some(&key), &one_token()).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 429, 429, 429]);
    assert!(own_hook.wait_for_requests(1, Duration::from_secs(10)).await, "the budget's own destination got the alert");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!((own_hook.request_count(), default_hook.request_count()), (1, 0), "once, and only where the budget says");
    let alert = own_hook.last_request().json();
    assert_eq!(alert["kind"], "limit_saturated");
    assert!(alert["window"].as_str().unwrap().starts_with('h'), "{alert}");
    assert!(alert["text"].as_str().unwrap().contains("requests per minute limit reached"), "{alert}");
    assert!(!alert.to_string().contains(&key));

    // A feature without a budget of its own: the destinations configured for features.
    let (status, _) = admin(&gw, Method::PUT, "/admin/limits/feature/search", Some(json!({"rpm": 1}))).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    for expected in [200, 429, 429] {
        let r = client().post(format!("{}/chat/completions", gw.base_url())).header("x-switchyard-feature", "search").json(&one_token());
        assert_eq!(r.send().await.unwrap().status().as_u16(), expected);
    }
    assert!(features_hook.wait_for_requests(1, Duration::from_secs(10)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!((features_hook.request_count(), default_hook.request_count()), (1, 0));
    assert_eq!(features_hook.last_request().json()["name"], "search");
}

#[tokio::test]
async fn cache_hits_count_against_a_request_cap_only_with_count_hits() {
    for count_hits in [false, true] {
        let up = metered_upstream(Duration::ZERO).await;
        let config = format!(
            "admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\ncache: {{ count_hits: {count_hits} }}\n\
             providers:\n  up: {{ type: openai, base_url: \"{}\", api_key: sk-upstream-key-123 }}\n\
             models:\n  metered:\n    targets: [ {{ provider: up, model: m }} ]\n    price: {{ input: 0, output: 10000 }}\n    cache: {{ enabled: true }}\n",
            up.base_url()
        );
        let gw = GatewayProcess::spawn(bin(), &config).await;
        let (_, key) = create_key(&gw, json!({"name": "capped", "budget": {"requests": 2, "window": "daily"}})).await;
        // Only deterministic requests are cached.
        let mut body = one_token();
        body["temperature"] = json!(0);
        let mut seen = Vec::new();
        for _ in 0..4 {
            let r = call(&gw, Some(&key), &body).await;
            let cache = r.headers().get("x-switchyard-cache").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
            seen.push((r.status().as_u16(), cache));
        }
        let statuses: Vec<u16> = seen.iter().map(|(s, _)| *s).collect();
        if count_hits {
            assert_eq!(statuses, [200, 200, 429, 429], "a miss and a hit use the cap: {seen:?}");
        } else {
            assert_eq!(statuses, [200, 200, 200, 200], "hits are free: {seen:?}");
        }
        assert_eq!(up.request_count(), 1, "one miss, then hits");
    }
}
