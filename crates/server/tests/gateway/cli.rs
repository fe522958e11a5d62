//! The CLI as a user runs it: `check` lists every problem and fails, `logs` reads the request log,
//! `serve` refuses an invalid config, `version` prints the version.

use std::process::Command;

use switchyard_testkit::GatewayProcess;

use crate::common::*;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin()).args(args).output().expect("run switchyard");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn check_lists_every_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "listen: nope\nproviders:\n  up: { type: openai, base_ur: x }\nmodels:\n  a: { targets: [ { provider: ghost, model: m } ] }\n",
    )
    .unwrap();
    let (code, _, err) = run(&["check", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    for needle in ["3 problems", "listen:", "providers.up.base_ur: unknown field", "models.a.targets[0].provider: unknown provider `ghost`"]
    {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    // `serve` refuses the same file.
    let (code, out, err) = run(&["serve", "--config", bad.to_str().unwrap(), "--data-dir", dir.path().to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(!out.contains("listening"), "{out}");
    assert!(err.contains("invalid configuration"), "{err}");

    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "providers:\n  mock: { type: mock }\n").unwrap();
    let (code, out, _) = run(&["check", "--config", good.to_str().unwrap()]);
    assert_eq!((code, out.contains("config ok")), (0, true), "{out}");
}

#[test]
fn version_prints_the_crate_version() {
    let (code, out, _) = run(&["version"]);
    assert_eq!((code, out.trim()), (0, format!("switchyard {}", env!("CARGO_PKG_VERSION")).as_str()));
}

#[tokio::test]
async fn logs_reads_the_request_log_with_filters() {
    let gw = GatewayProcess::spawn(
        bin(),
        "log: { bodies: true }\nproviders:\n  mock: { type: mock }\nmodels:\n  bot: { targets: [ { provider: mock, model: echo } ] }\n",
    )
    .await;
    let mut with_customer = chat("bot", "hello");
    with_customer["customer_identifier"] = serde_json::json!("acme");
    post(&gw, &with_customer).await;
    post(&gw, &chat("mock/echo", "hi")).await;
    records(gw.data_dir(), 2).await;
    let data_dir = gw.data_dir().to_str().unwrap();
    let (code, out, err) = run(&["logs", "--data-dir", data_dir, "--json"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["requested_model"], "mock/echo", "newest first");
    let (_, out, _) = run(&["logs", "--data-dir", data_dir, "--json", "--customer", "acme"]);
    assert_eq!(out.lines().count(), 1);
    let (_, out, _) = run(&["logs", "--data-dir", data_dir, "--model", "bot", "--limit", "5"]);
    assert!(out.contains("mock/echo") && out.contains("bot"), "{out}");
    assert_eq!(out.lines().count(), 2, "header plus one row:\n{out}");
    let search = ["--served-model", "mock/echo", "--status", "ok", "--last", "1h", "--q", "hello", "--json"];
    let (code, out, err) = run(&[&["logs", "--data-dir", data_dir][..], &search].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "only the request whose prompt says hello:\n{out}");
    let (code, _, err) = run(&["logs", "--data-dir", data_dir, "--metadata", "nokey", "--limit", "5"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--metadata"), "{err}");
    let (code, _, err) = run(&["logs", "--data-dir", data_dir, "--status", "fine"]);
    assert_eq!((code, err.trim_start().starts_with("--status")), (2, true), "{err}");
}
