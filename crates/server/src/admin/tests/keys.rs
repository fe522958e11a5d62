use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use switchyard_core::keys::{prefix_of, verify};
use switchyard_core::store::GovernanceStore;
use switchyard_store::SqliteGovernance;

use super::memory::{BrokenGovernance, MemoryGovernance};
use super::{error_of, secret, Admin, ADMIN_KEY};
use crate::admin::endpoints;

#[tokio::test]
async fn every_protected_route_needs_the_admin_key_and_never_echoes_a_wrong_one() {
    let admin = Admin::over(Arc::new(MemoryGovernance::default()));
    let wrong = "Bearer admin-key-for-tests-0123456788";
    for e in endpoints().into_iter().filter(|e| e.needs_key) {
        let path = e.path.replace("{id}", "key_x").replace("{scope}", "team").replace("{name}", "t");
        for authorization in [None, Some(wrong), Some("Basic YWRtaW46YWRtaW4="), Some(ADMIN_KEY), Some("Bearer ")] {
            let (status, body) = admin.raw(e.method.clone(), &path, authorization, Some("{}".into())).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{} {path} with {authorization:?}: {body}", e.method);
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["error"]["type"], "authentication_error");
            assert!(!body.contains("admin-key-for-tests"), "{body}");
        }
    }
    let (status, _) = admin.raw(Method::GET, "/admin/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(admin.changes(), 0, "refused requests change nothing");
}

#[tokio::test]
async fn create_list_get_revoke_in_memory() {
    let store = Arc::new(MemoryGovernance::default());
    key_lifecycle(store.clone()).await;
    let stored = store.stored_keys();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].budget.as_ref().and_then(|b| b.usd), Some(25.0));
}

#[tokio::test]
async fn create_list_get_revoke_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    key_lifecycle(Arc::new(SqliteGovernance::open(&dir.path().join("gov.db")).unwrap())).await;
}

/// The whole life of a key: the plaintext appears once, verifies against the stored hash, and no
/// answer ever shows the key again or its hash.
async fn key_lifecycle(store: Arc<dyn GovernanceStore>) {
    let admin = Admin::over(store.clone());
    let (status, created) = admin
        .call(
            Method::POST,
            "/admin/keys",
            Some(json!({
                "name": "support bot", "team": "support", "customer": "acme", "models": ["gpt-4o-mini", "mock/echo"],
                "expires_at": "2999-01-01T00:00:00Z", "limits": {"rpm": 60, "concurrency": 4, "burst": 10, "queue": "2500ms"},
                "budget": {"usd": 25.0, "window": "monthly", "soft_pct": 80, "downgrade_to": "gpt-4o-mini", "downgrade_pct": 90},
                "metadata": {"owner": "ops"}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let plaintext = created["key"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("key_"), "{id}");
    assert_eq!(prefix_of(&plaintext), created["prefix"].as_str());
    assert_eq!((created["status"].as_str(), created["expires_at"].as_str()), (Some("active"), Some("2999-01-01T00:00:00.000Z")));
    assert_eq!(created["limits"], json!({"rpm": 60, "concurrency": 4, "burst": 10, "queue": "2s 500ms"}));
    assert!(created.get("hash").is_none());
    assert_eq!(admin.changes(), 1);

    let stored = store.get_key(&id).await.unwrap().unwrap();
    assert!(verify(&secret(), &plaintext, &stored.hash), "the stored hash is HMAC(secret, key)");
    let hash_hex: String = stored.hash.iter().map(|b| format!("{b:02x}")).collect();
    let secret_part = &plaintext[15..];

    let (status, list) = admin.call(Method::GET, "/admin/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["keys"].as_array().unwrap().len(), 1);
    let (status, one) = admin.call(Method::GET, &format!("/admin/keys/{id}"), None).await;
    assert_eq!((status, one["name"].as_str()), (StatusCode::OK, Some("support bot")));

    let (status, revoked) = admin.call(Method::DELETE, &format!("/admin/keys/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{revoked}");
    assert_eq!(admin.changes(), 2);

    for answer in [&list, &one, &revoked] {
        let text = answer.to_string();
        assert!(!text.contains(secret_part) && !text.contains(&hash_hex) && !text.contains("\"hash\""), "{text}");
    }

    let (status, missing) = admin.call(Method::DELETE, "/admin/keys/key_nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert!(error_of(&missing).1.contains("key_nope"));
    let (status, _) = admin.call(Method::GET, "/admin/keys/key_nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(admin.changes(), 2, "a failed revoke is no change");
}

#[tokio::test]
async fn bad_key_requests_name_the_field() {
    let admin = Admin::over(Arc::new(MemoryGovernance::default()));
    let cases = [
        (json!({}), "name", "missing field `name`"),
        (json!({"name": " "}), "name", "must not be empty"),
        (json!({"name": "a", "tema": "x"}), "tema", "unknown field `tema`"),
        (json!({"name": "a", "models": ["ok", ""]}), "models[1]", "must name a model"),
        (json!({"name": "a", "expires_at": "2001-01-01T00:00:00Z"}), "expires_at", "in the future"),
        (json!({"name": "a", "expires_at": 1000}), "expires_at", "in the future"),
        (json!({"name": "a", "expires_at": "next tuesday"}), "expires_at", "not a time"),
        (json!({"name": "a", "expires_at": -5}), "expires_at", "in the future"),
        (json!({"name": "a", "expires_at": 1.5e12}), "expires_at", "whole Unix seconds"),
        (json!({"name": "a", "expires_at": true}), "expires_at", "RFC 3339"),
        (json!({"name": "a", "limits": {"rpm": 0}}), "limits.rpm", "at least 1"),
        (json!({"name": "a", "limits": {"rps": 3}}), "limits.rps", "unknown field `rps`"),
        (json!({"name": "a", "limits": {"rpm": -3}}), "limits.rpm", "invalid value"),
        (json!({"name": "a", "limits": {"rpm": 200_000_000_000u64}}), "limits.rpm", "at most 100000000000"),
        (json!({"name": "a", "limits": {"burst": 5}}), "limits.burst", "needs rpm"),
        (json!({"name": "a", "limits": {"rpm": 10, "burst": 11}}), "limits.burst", "from 1 to rpm (10)"),
        (json!({"name": "a", "limits": {"tpm": 100, "tpm_burst": 0}}), "limits.tpm_burst", "from 1 to tpm (100)"),
        (json!({"name": "a", "limits": {"concurrency": 2, "queue": "5s"}}), "limits.queue", "needs rpm or tpm"),
        (json!({"name": "a", "limits": {"rpm": 10, "queue": "11m"}}), "limits.queue", "at most 600s"),
        (json!({"name": "a", "limits": {"rpm": 10, "queue": "0s"}}), "limits.queue", "above 0"),
        (json!({"name": "a", "limits": {"rpm": 10, "queue": "soon"}}), "limits.queue", "soon"),
        (json!({"name": "a", "budget": {"window": "daily"}}), "budget.usd", "usd (dollars), tokens or requests"),
        (json!({"name": "a", "budget": {"requests": 0, "window": "daily"}}), "budget.requests", "at least 1"),
        (json!({"name": "a", "budget": {"requests": 5, "window": "daily", "alerts": {"slack": "x"}}}), "budget.alerts.slack", "http"),
        (
            json!({"name": "a", "budget": {"requests": 5, "window": "daily", "alerts": {"email": ["a@b\nc"]}}}),
            "budget.alerts.email",
            "addresses",
        ),
        (json!({"name": "a", "budget": {"usd": 5, "tokens": 5, "window": "daily"}}), "budget.usd", "not both"),
        (json!({"name": "a", "budget": {"usd": -5, "window": "daily"}}), "budget.usd", "positive"),
        (json!({"name": "a", "budget": {"tokens": 0, "window": "daily"}}), "budget.tokens", "at least 1"),
        (json!({"name": "a", "budget": {"usd": 5}}), "budget.window", "missing field `window`"),
        (json!({"name": "a", "budget": {"usd": 5, "window": "weekly"}}), "budget.window", "unknown variant `weekly`"),
        (json!({"name": "a", "budget": {"usd": 5, "window": "daily", "soft_pct": 120}}), "budget.soft_pct", "at most 100"),
        (json!({"name": "a", "budget": {"usd": 5, "window": "daily", "downgrade_pct": 0}}), "budget.downgrade_pct", "above 0"),
        (json!({"name": "a", "budget": {"usd": 5, "window": "daily", "downgrade_pct": 50}}), "budget.downgrade_pct", "needs downgrade_to"),
        (json!({"name": "a", "team": ""}), "team", "must not be empty"),
    ];
    for (body, param, needle) in cases {
        let (status, answer) = admin.call(Method::POST, "/admin/keys", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
        let (got_param, message) = error_of(&answer);
        assert_eq!(got_param, Some(param), "{body} → {answer}");
        assert!(message.contains(needle), "{body} → {message}");
    }
    let (status, answer) = admin.raw(Method::POST, "/admin/keys", Some(&format!("Bearer {ADMIN_KEY}")), Some("{\"name\":".into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer.contains("not valid JSON"), "{answer}");
    assert_eq!(admin.changes(), 0);
}

#[tokio::test]
async fn store_failures_are_500s_that_leak_nothing() {
    let admin = Admin::over(Arc::new(BrokenGovernance));
    for (method, path, body) in [
        (Method::GET, "/admin/keys", None),
        (Method::POST, "/admin/keys", Some(json!({"name": "a"}))),
        (Method::PUT, "/admin/budgets/team/t", Some(json!({"usd": 1, "window": "total"}))),
        (Method::GET, "/admin/spend", None),
    ] {
        let (status, answer) = admin.call(method, path, body).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        let (_, message) = error_of(&answer);
        assert!(message.contains("server log") && !answer.to_string().contains("disk on fire"), "{answer}");
    }
    assert_eq!(admin.changes(), 0);
}

#[tokio::test]
async fn an_admin_write_whose_body_is_not_json_is_refused_415_and_changes_nothing() {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let admin = Admin::over(Arc::new(MemoryGovernance::default()));
    for (method, path) in [(Method::POST, "/admin/keys"), (Method::PUT, "/admin/budgets/team/t")] {
        for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
            let mut request =
                http::Request::builder().method(method.clone()).uri(path).header("authorization", format!("Bearer {ADMIN_KEY}"));
            if let Some(t) = content_type {
                request = request.header("content-type", t);
            }
            let response = admin.app.clone().oneshot(request.body(Body::from(r#"{"name":"k"}"#)).unwrap()).await.unwrap();
            assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{method} {path} {content_type:?}");
            let body: Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
            assert_eq!(body["error"]["code"], "unsupported_media_type");
        }
    }
    assert_eq!(admin.changes(), 0);
}
