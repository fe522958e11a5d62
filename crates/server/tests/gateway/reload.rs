//! Hot reload through the real binary: SIGHUP and `POST /admin/config/reload` re-read the file
//! in the same process; a broken file replaces nothing; a stream in flight finishes on the
//! config it started with; counters of unchanged models carry on.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard_testkit::GatewayProcess;

use crate::common::*;
use crate::governance::{admin, ADMIN_KEY};

const RELOADED: &str = "config reloaded";
const REJECTED: &str = "config reload rejected";

fn rewrite(gw: &GatewayProcess, yaml: &str) {
    std::fs::write(gw.config_path(), yaml).expect("rewrite the config file");
}

/// SIGHUP, then waits for the log line of the `n`th reload that `needle` names.
async fn sighup(gw: &GatewayProcess, needle: &str, n: usize) {
    gw.sighup();
    let seen = gw.wait_for_output(needle, n, Duration::from_secs(10)).await;
    assert_eq!(seen, n, "`{needle}` in the log after SIGHUP:\n{}", gw.output());
}

async fn metric(gw: &GatewayProcess, name: &str) -> u64 {
    let text = client().get(format!("{}/metrics", gw.root_url())).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no {name} in:\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

async fn status_of(gw: &GatewayProcess, model: &str) -> u16 {
    post(gw, &chat(model, "hello")).await.status().as_u16()
}

#[tokio::test]
async fn a_model_added_to_the_file_serves_after_sighup_without_a_restart() {
    let before = "providers:\n  mock: { type: mock }\nmodels:\n  first: { targets: [ { provider: mock, model: echo } ] }\n";
    let gw = GatewayProcess::spawn(bin(), before).await;
    let pid = gw.pid();
    assert_eq!(status_of(&gw, "second").await, 404);

    rewrite(&gw, &format!("{before}  second: {{ targets: [ {{ provider: mock, model: echo }} ] }}\n"));
    sighup(&gw, RELOADED, 1).await;

    let r = post(&gw, &chat("second", "added by a reload")).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "added by a reload");
    assert_eq!(status_of(&gw, "first").await, 200);
    assert_eq!(gw.pid(), pid);
    assert_eq!(gw.output().matches("switchyard listening on").count(), 1, "started once:\n{}", gw.output());
    assert_eq!(metric(&gw, "switchyard_config_reloads_total").await, 1);
}

#[tokio::test]
async fn a_broken_file_leaves_the_running_config_serving_and_says_what_is_wrong() {
    let admin_section = format!("admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\n");
    let good = format!(
        "{admin_section}providers:\n  mock: {{ type: mock }}\nmodels:\n  first: {{ targets: [ {{ provider: mock, model: echo }} ] }}\n"
    );
    let gw = GatewayProcess::spawn(bin(), &good).await;

    // Two problems: an unknown top-level key and a target naming an undeclared provider.
    let broken = format!("{good}  second: {{ targets: [ {{ provider: nowhere, model: echo }} ] }}\nnonsense: 1\n");
    rewrite(&gw, &broken);
    sighup(&gw, REJECTED, 1).await;
    assert_eq!(status_of(&gw, "first").await, 200, "the running config still serves");
    assert_eq!(status_of(&gw, "second").await, 404);

    let (status, answer) = admin(&gw, reqwest::Method::POST, "/admin/config/reload", None).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["status"], "rejected");
    assert_eq!(answer["error"]["code"], "invalid_config");
    let mut paths: Vec<&str> = answer["problems"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["models.second.targets[0].provider", "nonsense"], "{answer}");
    assert!(answer["problems"].as_array().unwrap().iter().all(|p| !p["message"].as_str().unwrap().is_empty()));
    assert_eq!(gw.wait_for_output(REJECTED, 2, Duration::from_secs(5)).await, 2, "one WARN line per refused reload");
    assert!(gw.output().lines().filter(|l| l.contains(REJECTED)).all(|l| l.contains("WARN")), "{}", gw.output());
    assert_eq!(metric(&gw, "switchyard_config_reload_failures_total").await, 2);
    assert_eq!(metric(&gw, "switchyard_config_reloads_total").await, 0);
    assert_eq!(status_of(&gw, "first").await, 200);

    // Fixed, and with a setting only a restart can change: it is named and keeps its value.
    let fixed = format!("redis: redis://127.0.0.1:1\n{good}  second: {{ targets: [ {{ provider: mock, model: echo }} ] }}\n");
    rewrite(&gw, &fixed);
    let (status, answer) = admin(&gw, reqwest::Method::POST, "/admin/config/reload", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "reloaded");
    assert_eq!(answer["generation"], 2);
    assert_eq!(answer["models"], serde_json::json!(["first", "second"]));
    assert_eq!(answer["providers"]["reused"], serde_json::json!(["mock"]));
    assert_eq!(answer["needs_restart"][0]["path"], "redis", "{answer}");
    assert_eq!(answer["needs_restart"].as_array().unwrap().len(), 1, "{answer}");
    assert_eq!(status_of(&gw, "second").await, 200);
    assert_eq!(metric(&gw, "switchyard_config_reloads_total").await, 1);

    let anonymous = client().post(format!("{}/admin/config/reload", crate::governance::admin_url(&gw))).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "the reload endpoint needs the admin key");
}

#[tokio::test]
async fn a_stream_in_flight_across_a_reload_that_removes_its_model_completes() {
    let with_slow = "providers:\n  mock: { type: mock }\n  slow: { type: mock, chunk_delay: 300ms }\nmodels:\n  slowbot: { targets: [ { provider: slow, model: echo } ] }\n";
    let gw = GatewayProcess::spawn(bin(), with_slow).await;
    let words = "one two three four five six seven eight nine ten eleven twelve";
    let mut body = chat("slowbot", words);
    body["stream"] = Value::Bool(true);
    let mut response = post(&gw, &body).await;
    assert_eq!(response.status(), 200);
    let mut text = String::from_utf8(response.chunk().await.unwrap().expect("a first chunk").to_vec()).unwrap();

    rewrite(&gw, "providers:\n  mock: { type: mock }\n");
    sighup(&gw, RELOADED, 1).await;
    assert_eq!(status_of(&gw, "slowbot").await, 404, "the reload removed the model");
    let reloaded = Instant::now();

    while let Some(chunk) = response.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    // Twelve chunks 300 ms apart: most of the stream came after the reload.
    assert!(reloaded.elapsed() > Duration::from_millis(900), "the stream ended {:?} after the reload", reloaded.elapsed());
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    let content: String = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_string))
        .collect();
    assert_eq!(content.split_whitespace().collect::<Vec<_>>().join(" "), words, "{text}");
}

#[tokio::test]
async fn the_rate_limit_of_an_unchanged_model_still_counts_after_a_reload() {
    let before =
        "providers:\n  mock: { type: mock }\nmodels:\n  limited: { targets: [ { provider: mock, model: echo } ], limits: { rpm: 2 } }\n";
    let gw = GatewayProcess::spawn(bin(), before).await;
    let mut admitted = 0;
    while status_of(&gw, "limited").await == 200 {
        admitted += 1;
        assert!(admitted <= 5, "an rpm: 2 limit admitted more than 5 requests");
    }
    assert!(admitted >= 1);

    rewrite(&gw, &format!("{before}  other: {{ targets: [ {{ provider: mock, model: echo }} ] }}\n"));
    sighup(&gw, RELOADED, 1).await;
    assert_eq!(status_of(&gw, "other").await, 200, "the reload applied");
    assert_eq!(status_of(&gw, "limited").await, 429, "the counter of `limited` survived the reload");

    // A limit changed by a reload applies too: removed, the model serves again at once.
    rewrite(&gw, "providers:\n  mock: { type: mock }\nmodels:\n  limited: { targets: [ { provider: mock, model: echo } ] }\n");
    sighup(&gw, RELOADED, 2).await;
    assert_eq!(status_of(&gw, "limited").await, 200);
}
