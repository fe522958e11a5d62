//! Virtual keys: required, shown once, scoped to models, expiring, revoked across instances.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use switchyard_testkit::GatewayProcess;

use super::*;
use crate::common::*;

fn single(extra: &str) -> String {
    format!("admin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\nkeys: {{ require: true }}\nproviders:\n  mock: {{ type: mock }}\n{extra}")
}

#[tokio::test]
async fn keys_are_required_shown_once_and_revoked_at_once() {
    let gw = GatewayProcess::spawn(bin(), &single("")).await;
    let body = chat("mock/echo", "hello");

    let r = call(&gw, None, &body).await;
    assert_eq!(r.status(), 401);
    let missing: Value = r.json().await.unwrap();
    assert_eq!(code(&missing), "missing_api_key");

    let (id, key) = create_key(&gw, json!({"name": "ci", "team": "platform", "customer": "acme"})).await;
    assert!(key.starts_with("sk-sy-") && key.len() >= 30, "{key}");
    let r = call(&gw, Some(&key), &body).await;
    assert_eq!(r.status(), 200);
    let request_id = header(&r, "x-request-id").to_string();

    // Shown once: neither the key nor its hash ever comes back.
    let (_, listed) = admin(&gw, Method::GET, "/admin/keys", None).await;
    let (_, one) = admin(&gw, Method::GET, &format!("/admin/keys/{id}"), None).await;
    for text in [listed.to_string(), one.to_string()] {
        assert!(!text.contains(&key) && !text.contains(&key[12..]), "{text}");
        assert!(!text.contains("hash"), "{text}");
    }
    assert_eq!(one["team"], "platform");

    // Made-up keys, keys of other formats and a tampered real key read alike.
    let forged = format!("{}x", &key[..key.len() - 1]);
    for bad in [forged.as_str(), "sk-sy-AAAAAAAA_notarealkeyatall0000000000", "sk-proj-abc"] {
        let r = call(&gw, Some(bad), &body).await;
        assert_eq!(r.status(), 401, "{bad}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(code(&e), "invalid_api_key");
        assert!(!e.to_string().contains(bad), "the key is not echoed");
    }

    let (status, revoked) = admin(&gw, Method::DELETE, &format!("/admin/keys/{id}"), None).await;
    assert_eq!(status, 200, "{revoked}");
    let took = eventually(Duration::from_secs(1), || async { call(&gw, Some(&key), &body).await.status() == 401 }).await;
    assert!(took.is_some(), "a revoked key is refused within a second on the instance that revoked it");

    let record = record(gw.data_dir(), &request_id).await;
    assert_eq!(
        (record.key_id.as_deref(), record.team.as_deref(), record.customer_identifier.as_deref()),
        (Some(id.as_str()), Some("platform"), Some("acme"))
    );
    let log = std::fs::read(gw.data_dir().join("switchyard.db")).unwrap();
    assert!(!String::from_utf8_lossy(&log).contains(&key), "the key is not in the database");
    assert!(!gw.output().contains(&key), "the key is not in the gateway's output");
}

#[tokio::test]
async fn a_key_reaches_only_its_models_and_expires() {
    let gw = GatewayProcess::spawn(bin(), &single("")).await;
    let soon = switchyard_core::time::now_ms() / 1000 + 2;
    let (_, key) = create_key(&gw, json!({"name": "narrow", "models": ["mock/echo"], "expires_at": soon})).await;
    assert_eq!(call(&gw, Some(&key), &chat("mock/echo", "x")).await.status(), 200);
    let r = call(&gw, Some(&key), &chat("mock/other", "x")).await;
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(code(&e), "model_not_allowed");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = call(&gw, Some(&key), &chat("mock/echo", "x")).await;
    assert_eq!(r.status(), 401, "expired");
}

#[tokio::test]
async fn without_require_keys_anonymous_calls_work_and_the_startup_says_so() {
    let gw = GatewayProcess::spawn(bin(), "providers:\n  mock: { type: mock }\n").await;
    assert_eq!(call(&gw, None, &chat("mock/echo", "x")).await.status(), 200);
    assert_eq!(call(&gw, Some("sk-anything"), &chat("mock/echo", "x")).await.status(), 200);
    assert!(gw.output().contains("WARNING: virtual keys are not required"), "{}", gw.output());
}

#[tokio::test]
async fn a_revocation_on_one_instance_is_refused_by_another_within_a_second() {
    let (Some(pg), Some(redis)) = (postgres_url(), redis_url()) else { return };
    let schema = Schema::create(&pg).await;
    let config = format!(
        "database: \"{}\"\nredis: {redis}\nkeys: {{ secret: {KEY_SECRET}, require: true }}\nadmin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\nproviders:\n  mock: {{ type: mock }}\n",
        schema.url
    );
    let a = GatewayProcess::spawn(bin(), &config).await;
    let b = GatewayProcess::spawn(bin(), &config).await;
    let (id, key) = create_key(&a, json!({"name": "shared"})).await;
    let body = chat("mock/echo", "x");
    assert_eq!(call(&b, Some(&key), &body).await.status(), 200, "a key minted on A works on B at once");
    let (status, _) = admin(&a, Method::DELETE, &format!("/admin/keys/{id}"), None).await;
    assert_eq!(status, 200);
    let took = eventually(Duration::from_secs(1), || async { call(&b, Some(&key), &body).await.status() == 401 }).await;
    assert!(took.is_some(), "B still accepted the key a second after A revoked it");
    eprintln!("revocation seen by the other instance after {took:?}");
    drop((a, b));
    schema.drop_now().await;
}

#[tokio::test]
async fn the_cli_mints_lists_reports_and_revokes_keys_through_the_admin_api() {
    let gw = GatewayProcess::spawn(bin(), &single("")).await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin())
            .args(args)
            .env("SWITCHYARD_ADMIN_URL", admin_url(&gw))
            .env("SWITCHYARD_ADMIN_KEY", ADMIN_KEY)
            .output()
            .expect("run the CLI");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, out, err) = run(&["keys", "create", "--name", "from-cli", "--team", "ops", "--rpm", "100", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let created: Value = serde_json::from_str(&out).unwrap();
    let (id, key) = (created["id"].as_str().unwrap().to_string(), created["key"].as_str().unwrap().to_string());
    assert_eq!(call(&gw, Some(&key), &chat("mock/echo", "x")).await.status(), 200);

    let (code, out, _) = run(&["keys", "list"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("from-cli") && out.contains(&id) && !out.contains(&key), "{out}");
    let (code, out, err) = run(&["spend", "--key", &id, "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let spend: Value = serde_json::from_str(&out).unwrap();
    assert!(spend["rows"][0]["requests"].as_u64().unwrap() >= 1, "{spend}");
    let (code, _, err) = run(&["keys", "revoke", &id]);
    assert_eq!(code, Some(0), "{err}");
    let refused =
        eventually(Duration::from_secs(1), || async { call(&gw, Some(&key), &chat("mock/echo", "x")).await.status() == 401 }).await;
    assert!(refused.is_some());

    let (code, _, err) = std::process::Command::new(bin())
        .args(["keys", "list", "--admin-url", &admin_url(&gw), "--admin-key", "wrong-admin-key-123456"])
        .output()
        .map(|o| (o.status.code(), (), String::from_utf8_lossy(&o.stderr).into_owned()))
        .unwrap();
    assert_eq!(code, Some(1));
    assert!(err.starts_with("error:") && !err.contains("wrong-admin-key"), "{err}");
}
