//! The admin commands against the admin router on a real port, parsed from argv like the binary.

use std::sync::Arc;

use clap::Parser;
use switchyard_core::keys::prefix_of;
use switchyard_core::store::SpendRow;

use super::{execute, ClientError, ManageCommand};
use crate::admin::tests::memory::MemoryGovernance;
use crate::admin::tests::{Admin, ADMIN_KEY};
use crate::cli::{Cli, Command};

/// Serves the admin router on 127.0.0.1:0 and returns its URL.
async fn serve(store: Arc<MemoryGovernance>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Admin::over(store).app;
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn command(url: &str, key: &str, args: &[&str]) -> ManageCommand {
    let argv = ["switchyard"].iter().chain(args).copied().chain(["--admin-url", url, "--admin-key", key]);
    match Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}")).command {
        Command::Manage(c) => c,
        other => panic!("not an admin command: {other:?}"),
    }
}

async fn run(url: &str, args: &[&str]) -> Result<String, ClientError> {
    execute(command(url, ADMIN_KEY, args)).await
}

#[tokio::test]
async fn keys_budgets_limits_and_spend_through_the_admin_api() {
    let row = SpendRow {
        group: [("model".to_string(), Some("gpt-4o".to_string()))].into(),
        requests: 3,
        input_tokens: 120,
        output_tokens: 30,
        cost_usd: 0.0125,
        ..SpendRow::default()
    };
    let store = Arc::new(MemoryGovernance::with_spend(vec![row]));
    let url = serve(store.clone()).await;

    let created = run(
        &url,
        &[
            "keys",
            "create",
            "--name",
            "bot",
            "--team",
            "support",
            "--models",
            "a,b",
            "--rpm",
            "10",
            "--burst",
            "2",
            "--queue",
            "3s",
            "--budget-usd",
            "5",
            "--window",
            "daily",
            "--metadata",
            "env=prod",
        ],
    )
    .await
    .unwrap();
    let plaintext = created.split_whitespace().find(|w| w.starts_with("sk-sy-")).unwrap_or_else(|| panic!("{created}"));
    assert!(prefix_of(plaintext).is_some() && created.contains("not shown again"), "{created}");
    let stored = store.stored_keys().pop().unwrap();
    assert_eq!(
        (stored.models.as_slice(), stored.limits.rpm, stored.metadata["env"].as_str()),
        (&["a".to_string(), "b".to_string()][..], Some(10), "prod")
    );
    assert_eq!((stored.limits.burst, stored.limits.queue), (Some(2), Some(std::time::Duration::from_secs(3))));
    assert_eq!(stored.budget.as_ref().map(|b| (b.usd, b.window)), Some((Some(5.0), switchyard_core::store::Window::Daily)));

    let list = run(&url, &["keys", "list"]).await.unwrap();
    assert!(list.starts_with("ID") && list.contains(&stored.id) && list.contains("active") && !list.contains(plaintext), "{list}");
    let json = run(&url, &["keys", "list", "--json"]).await.unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap()["keys"][0]["id"], stored.id.as_str());
    let revoked = run(&url, &["keys", "revoke", &stored.id]).await.unwrap();
    assert!(revoked.starts_with(&format!("revoked key {}", stored.id)), "{revoked}");

    let set =
        run(&url, &["budgets", "set", "team", "support team", "--usd", "10", "--window", "monthly", "--soft-pct", "80"]).await.unwrap();
    assert!(set.contains("support team") && set.contains("$10.00") && set.contains("monthly"), "{set}");
    run(&url, &["limits", "set", "team", "support team", "--tpm", "5000"]).await.unwrap();
    let got = run(&url, &["budgets", "get", "team", "support team"]).await.unwrap();
    assert!(got.contains("$0.01") && got.contains("0.1%"), "{got}");
    let limits = run(&url, &["limits", "get", "team", "support team"]).await.unwrap();
    assert!(limits.lines().nth(1).is_some_and(|l| l.starts_with("team   support team") && l.contains("5000")), "{limits}");
    let policies = run(&url, &["budgets", "list"]).await.unwrap();
    assert!(policies.contains("5000") && policies.contains("$10.00"), "the budget survived the limits write: {policies}");
    let capped =
        run(&url, &["budgets", "set", "feature", "chat", "--requests", "1000", "--window", "daily", "--soft-pct", "80"]).await.unwrap();
    assert!(capped.contains("1000 requests") && capped.contains("daily"), "{capped}");
    let stored = switchyard_core::store::GovernanceStore::get_policy(&*store, switchyard_core::store::Scope::Feature, "chat")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.budget.map(|b| (b.requests, b.usd, b.soft_pct)), Some((Some(1000), None, Some(80.0))));

    let spend = run(&url, &["spend", "--team", "support", "--from", "2026-11-01T00:00:00Z", "--group-by", "model"]).await.unwrap();
    assert!(spend.contains("gpt-4o") && spend.contains("0.0125"), "{spend}");
    let queries = store.spend_queries();
    let query = queries[queries.len() - 2].clone(); // then the total's query
    assert_eq!((query.team.as_deref(), query.from_ms), (Some("support"), Some(1_793_491_200_000)));

    let report = run(&url, &["report", "--last", "24h", "--by", "model", "--by", "feature", "--team", "support"]).await.unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert!(lines[0].starts_with("MODEL   FEATURE  REQUESTS") && lines[1].starts_with("gpt-4o  -               3"), "{report}");
    assert!(lines.last().unwrap().starts_with("TOTAL") && lines.last().unwrap().contains("0.012500"), "{report}");
    let queries = store.spend_queries();
    let query = queries[queries.len() - 2].clone();
    assert_eq!((query.group_by.len(), query.team.as_deref(), query.from_ms.is_some()), (2, Some("support"), true));
    let csv = run(&url, &["report", "--by", "model", "--csv"]).await.unwrap();
    assert!(
        csv.starts_with("MODEL,REQUESTS,") && csv.lines().nth(1) == Some("gpt-4o,3,0,120,30,0,0.012500,0,0.0%,0.000000,-,-,-"),
        "{csv}"
    );
}

#[tokio::test]
async fn api_errors_and_an_unreachable_api_read_clearly() {
    let url = serve(Arc::new(MemoryGovernance::default())).await;
    let bad = run(&url, &["budgets", "set", "team", "t", "--usd=-1", "--window", "daily"]).await.unwrap_err();
    assert_eq!(bad.to_string(), "usd: must be a positive number of dollars, not -1");
    let missing = run(&url, &["keys", "create", "--name", "x", "--budget-usd", "3"]).await.unwrap_err();
    assert!(missing.to_string().starts_with("budget.window: missing field `window`"), "{missing}");

    let wrong = execute(command(&url, "not-the-admin-key-000", &["keys", "list"])).await.unwrap_err();
    assert!(matches!(wrong, ClientError::Api { status: 401, .. }), "{wrong}");
    assert!(!wrong.to_string().contains("not-the-admin-key"), "{wrong}");

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let unreachable = run(&closed, &["keys", "list"]).await.unwrap_err().to_string();
    assert!(unreachable.contains(&format!("not reachable at {closed}")) && unreachable.contains("SWITCHYARD_ADMIN_KEY"), "{unreachable}");

    let no_key = execute(command(&url, "", &["spend"])).await.unwrap_err();
    assert!(matches!(no_key, ClientError::NoKey), "{no_key}");
}
