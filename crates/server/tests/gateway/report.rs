//! The usage and cost report through the real binary: what `GET /admin/spend` and
//! `switchyard report` say equals what the requests' own headers said.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use switchyard_testkit::{fixture_reply, FakeUpstream, GatewayProcess};

use crate::common::*;
use crate::governance::{admin, admin_url, ADMIN_KEY};

/// Sends one chat request for `feature`; returns the cache status and the cost header.
async fn send(gw: &GatewayProcess, content: &str, feature: &str) -> (String, f64) {
    let body = json!({"model": "bot", "temperature": 0, "messages": [{"role": "user", "content": content}]});
    let r = client()
        .post(format!("{}/chat/completions", gw.base_url()))
        .header("x-switchyard-feature", feature)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let header = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (header("x-switchyard-cache"), header("x-switchyard-cost-usd").parse().unwrap())
}

/// The report once the request log holds `requests` records (the log is written in the background).
async fn report_of(gw: &GatewayProcess, query: &str, requests: u64) -> Value {
    for _ in 0..100 {
        let (status, answer) = admin(gw, reqwest::Method::GET, &format!("/admin/spend?{query}"), None).await;
        assert_eq!(status, 200, "{answer}");
        // The rows and the total are two queries: both must have seen every record.
        let in_rows: u64 = answer["rows"].as_array().map_or(0, |rows| rows.iter().filter_map(|r| r["requests"].as_u64()).sum());
        if answer["total"]["requests"] == requests && in_rows == requests {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the request log never held {requests} requests");
}

#[tokio::test]
async fn the_report_adds_up_to_the_cost_headers_and_the_hits_sent() {
    let up = FakeUpstream::start_repeating(fixture_reply("openai/text.json")).await;
    let config = format!(
        "admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\nproviders:\n  up: {{ type: openai, base_url: \"{}\", api_key: sk-upstream-123 }}\nmodels:\n  bot:\n    targets: [ {{ provider: up, model: gpt-4o-mini }} ]\n    cache: {{ enabled: true }}\n",
        up.base_url()
    );
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let sent = [("a", "chat"), ("a", "chat"), ("b", "chat"), ("a", "chat"), ("c", "summarize"), ("c", "summarize")];
    let (mut cost, mut hits) = (0.0, 0);
    for (content, feature) in sent {
        let (cache, usd) = send(&gw, content, feature).await;
        cost += usd;
        hits += u64::from(cache == "HIT");
    }
    assert_eq!(hits, 3, "a, b and c missed once each");
    assert!(cost > 0.0);

    let answer = report_of(&gw, "group_by=model,feature&last=1h", 6).await;
    let total = &answer["total"];
    // Each header carries 8 decimals.
    assert!((total["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-7, "{cost} vs {answer}");
    assert_eq!((total["cache_hits"].as_u64(), total["cache_hit_rate"].as_f64()), (Some(3), Some(0.5)), "{answer}");
    assert_eq!(total["errors"], 0);
    assert!(total["latency_p50_ms"].as_f64().unwrap() <= total["latency_p95_ms"].as_f64().unwrap(), "{answer}");
    let rows = answer["rows"].as_array().unwrap();
    let by_feature: Vec<(Value, Value, Value)> =
        rows.iter().map(|r| (r["group"].clone(), r["requests"].clone(), r["cache_hits"].clone())).collect();
    assert_eq!(
        by_feature,
        vec![
            (json!({"model": "gpt-4o-mini", "feature": "chat"}), json!(4), json!(2)),
            (json!({"model": "gpt-4o-mini", "feature": "summarize"}), json!(2), json!(1)),
        ],
        "chat paid for two answers, summarize for one: chat first"
    );
    let row_cost: f64 = rows.iter().map(|r| r["cost_usd"].as_f64().unwrap()).sum();
    assert!((row_cost - cost).abs() < 1e-7);

    // The CLI shows the same report, a line per group and the total.
    let out = Command::new(bin())
        .args(["report", "--last", "1h", "--by", "model", "--by", "feature"])
        .env("SWITCHYARD_ADMIN_URL", admin_url(&gw))
        .env("SWITCHYARD_ADMIN_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("MODEL") && lines[1].starts_with("gpt-4o-mini  chat") && lines[3].starts_with("TOTAL"), "{text}");
    assert!(lines[3].contains(&format!("{cost:.6}")) && lines[3].contains("50.0%"), "{text}");
}
