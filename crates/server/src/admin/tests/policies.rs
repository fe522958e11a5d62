use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::json;
use switchyard_core::govern::names::window_start;
use switchyard_core::store::{GroupBy, SpendQuery, SpendRow};
use switchyard_core::time::now_ms;

use super::memory::MemoryGovernance;
use super::{error_of, Admin};
use crate::admin::time::parse_instant;

fn rows() -> Vec<SpendRow> {
    let row = |group: &str, cost: f64| SpendRow {
        group: [("model".to_string(), Some(group.to_string()))].into(),
        requests: 2,
        errors: 1,
        input_tokens: 100,
        output_tokens: 50,
        cached_tokens: 0,
        cost_usd: cost,
        cache_hits: 1,
        cache_hit_rate: 0.5,
        cache_saved_usd: 0.5,
        latency_p50_ms: Some(12.5),
        latency_p95_ms: Some(80.0),
        ttft_p50_ms: None,
    };
    vec![row("gpt-4o", 1.25), row("claude", 0.75)]
}

#[tokio::test]
async fn budgets_and_limits_share_a_policy_and_keep_each_other() {
    let store = Arc::new(MemoryGovernance::with_spend(rows()));
    let admin = Admin::over(store.clone());

    let (status, put) = admin.call(Method::PUT, "/admin/limits/team/support", Some(json!({"rpm": 100, "tpm": 50000}))).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    let (status, put) =
        admin.call(Method::PUT, "/admin/budgets/team/support", Some(json!({"usd": 10, "window": "daily", "soft_pct": 75}))).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["limits"], json!({"rpm": 100, "tpm": 50000}), "the budget write kept the limits");
    let (_, put) = admin.call(Method::PUT, "/admin/limits/team/support", Some(json!({"concurrency": 3}))).await;
    assert_eq!(put["budget"]["usd"], 10.0, "the limits write kept the budget: {put}");
    assert_eq!(admin.changes(), 3);

    let before = now_ms();
    let (status, budget) = admin.call(Method::GET, "/admin/budgets/team/support", None).await;
    assert_eq!(status, StatusCode::OK, "{budget}");
    assert_eq!(budget["budget"], json!({"usd": 10.0, "window": "daily", "soft_pct": 75.0}));
    assert_eq!(budget["spent"], json!({"usd": 2.0, "tokens": 300, "requests": 4}));
    let mut queries = store.spend_queries();
    let admitted = queries.pop().unwrap();
    assert_eq!(admitted.admitted, Some(switchyard_core::store::Admitted::Served), "requests are counted as a request cap counts them");
    let query = queries.pop().unwrap();
    assert_eq!(query.admitted, None);
    assert_eq!(query.team.as_deref(), Some("support"));
    assert_eq!((query.customer, query.key, query.to_ms), (None, None, None));
    assert_eq!(query.from_ms, window_start(switchyard_core::store::Window::Daily, before), "spend since the start of the UTC day");
    assert_eq!(parse_instant(budget["window_start"].as_str().unwrap()), query.from_ms);

    let (_, limits) = admin.call(Method::GET, "/admin/limits/team/support", None).await;
    assert_eq!(limits["limits"], json!({"concurrency": 3}));
    let (_, list) = admin.call(Method::GET, "/admin/budgets", None).await;
    assert_eq!(list["policies"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["policies"][0]["scope"], "team");
}

#[tokio::test]
async fn a_total_budget_counts_all_spend() {
    let store = Arc::new(MemoryGovernance::with_spend(rows()));
    let admin = Admin::over(store.clone());
    admin.call(Method::PUT, "/admin/budgets/customer/acme", Some(json!({"tokens": 1000, "window": "total"}))).await;
    let (_, budget) = admin.call(Method::GET, "/admin/budgets/customer/acme", None).await;
    assert_eq!(budget["window_start"], serde_json::Value::Null);
    let query = store.spend_queries().pop().unwrap();
    assert_eq!((query.customer.as_deref(), query.from_ms), (Some("acme"), None));
}

#[tokio::test]
async fn bad_policy_requests_are_refused_with_the_field() {
    let admin = Admin::over(Arc::new(MemoryGovernance::default()));
    let cases = [
        (
            Method::PUT,
            "/admin/budgets/tenant/x",
            Some(json!({"usd": 1, "window": "daily"})),
            StatusCode::BAD_REQUEST,
            Some("scope"),
            "unknown scope `tenant`",
        ),
        (
            Method::PUT,
            "/admin/budgets/key/x",
            Some(json!({"usd": 1, "window": "daily"})),
            StatusCode::BAD_REQUEST,
            Some("scope"),
            "team, customer, feature or model",
        ),
        (
            Method::PUT,
            "/admin/budgets/team/x",
            Some(json!({"usd": 1, "tokens": 2, "window": "daily"})),
            StatusCode::BAD_REQUEST,
            Some("usd"),
            "not both",
        ),
        (
            Method::PUT,
            "/admin/budgets/team/x",
            Some(json!({"usd": 1, "window": "daily", "cap": 1})),
            StatusCode::BAD_REQUEST,
            Some("cap"),
            "unknown field",
        ),
        (Method::PUT, "/admin/limits/model/x", Some(json!({"tpm": 0})), StatusCode::BAD_REQUEST, Some("tpm"), "at least 1"),
        (Method::GET, "/admin/budgets/team/nobody", None, StatusCode::NOT_FOUND, None, "no budget set for team `nobody`"),
        (Method::GET, "/admin/limits/feature/nothing", None, StatusCode::NOT_FOUND, None, "no limits set for feature `nothing`"),
    ];
    for (method, path, body, status, param, needle) in cases {
        let (got, answer) = admin.call(method, path, body).await;
        assert_eq!(got, status, "{path}: {answer}");
        let (got_param, message) = error_of(&answer);
        assert_eq!(got_param, param, "{path}: {answer}");
        assert!(message.contains(needle), "{path}: {message}");
    }
    assert_eq!(admin.changes(), 0);
}

#[tokio::test]
async fn spend_passes_filters_through_and_refuses_bad_parameters() {
    let store = Arc::new(MemoryGovernance::with_spend(rows()));
    let admin = Admin::over(store.clone());
    let (status, answer) = admin
        .call(
            Method::GET,
            "/admin/spend?team=support&customer=acme&model=gpt-4o&from=2026-11-01T00:00:00Z&to=1798761600&group_by=model&key=",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["rows"][0],
        json!({"group": {"model": "gpt-4o"}, "requests": 2, "errors": 1, "input_tokens": 100, "output_tokens": 50, "cached_tokens": 0,
               "cost_usd": 1.25, "cache_hits": 1, "cache_hit_rate": 0.5, "cache_saved_usd": 0.5, "latency_p50_ms": 12.5,
               "latency_p95_ms": 80.0, "ttft_p50_ms": null})
    );
    assert_eq!(answer["group_by"], json!(["model"]));
    assert_eq!(answer["total"]["requests"], 2, "the total is the store's answer without groups: {answer}");
    let queries = store.spend_queries();
    let (query, total) = (&queries[0], &queries[1]);
    assert_eq!(
        (query.team.as_deref(), query.customer.as_deref(), query.model.as_deref(), query.key.as_deref()),
        (Some("support"), Some("acme"), Some("gpt-4o"), None)
    );
    assert_eq!((query.from_ms, query.to_ms, &query.group_by), (Some(1_793_491_200_000), Some(1_798_761_600_000), &vec![GroupBy::Model]));
    assert_eq!(total, &SpendQuery { group_by: vec![], ..query.clone() }, "the total: same filters, no groups");

    // Several groups, metadata included, and `last` counting back from now.
    let before = now_ms();
    let (status, answer) = admin.call(Method::GET, "/admin/spend?group_by=model,%20feature,metadata.tier&last=24h", None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["group_by"], json!(["model", "feature", "metadata.tier"]));
    let query = store.spend_queries()[2].clone();
    assert_eq!(query.group_by, vec![GroupBy::Model, GroupBy::Feature, GroupBy::Metadata("tier".into())]);
    let from = query.from_ms.unwrap();
    assert!((before - 86_400_000..=now_ms() - 86_400_000).contains(&from), "{from}");
    let (_, _) = admin.call(Method::GET, "/admin/spend?last=15m&to=1798761600", None).await;
    assert_eq!(store.spend_queries()[4].from_ms, Some(1_798_761_600_000 - 900_000), "last counts back from to");
    let spent_before = store.spend_queries().len();

    for (path, param, needle) in [
        ("/admin/spend?from=yesterday", "from", "`yesterday` is not a time"),
        ("/admin/spend?to=2026-13-01T00:00:00Z", "to", "RFC 3339"),
        ("/admin/spend?from=2000&to=1000", "to", "later than from"),
        ("/admin/spend?group_by=week", "group_by", "unknown group `week`"),
        ("/admin/spend?group_by=model,colour", "group_by", "unknown group `colour`"),
        ("/admin/spend?group_by=model,model", "group_by", "named twice"),
        ("/admin/spend?group_by=metadata.", "group_by", "unknown group `metadata.`"),
        ("/admin/spend?group_by=prompt", "group_by", "prompt ids"),
        ("/admin/spend?last=yesterday", "last", "`yesterday` is not a window"),
        ("/admin/spend?last=0h", "last", "is not a window"),
        ("/admin/spend?last=1h&from=1000", "last", "either last or from"),
        ("/admin/spend?tenant=x", "tenant", "unknown parameter `tenant`"),
    ] {
        let (status, answer) = admin.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        let (got_param, message) = error_of(&answer);
        assert_eq!(got_param, Some(param), "{path}: {answer}");
        assert!(message.contains(needle), "{path}: {message}");
    }
    assert_eq!(store.spend_queries().len(), spent_before, "refused queries never reach the store");
}
