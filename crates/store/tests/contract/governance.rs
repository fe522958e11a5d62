//! Keys, policies, the change sequence, and spend.

use switchyard_core::store::{
    Admitted, AlertTargets, Budget, GroupBy, KeyRecord, Limits, LogRecord, Policy, Scope, SpendQuery, SpendRow, StoreError, Window,
};

use crate::backend::Storage;

pub fn full_key(id: &str, prefix: &str) -> KeyRecord {
    KeyRecord {
        id: id.into(),
        prefix: prefix.into(),
        hash: (0u8..32).collect(),
        name: format!("name of {id}"),
        team: Some("search".into()),
        customer: Some("acme".into()),
        models: vec!["gpt-4o-mini".into(), "anthropic/claude-sonnet-4-5".into()],
        expires_at_ms: Some(1_900_000_000_123),
        limits: Limits {
            rpm: Some(60),
            tpm: Some(10_000),
            concurrency: Some(4),
            burst: Some(10),
            tpm_burst: Some(2_000),
            queue: Some(std::time::Duration::from_millis(2_500)),
        },
        budget: Some(Budget {
            usd: Some(12.5),
            tokens: None,
            requests: Some(10_000),
            window: Window::Monthly,
            soft_pct: Some(80.0),
            downgrade_to: Some("gpt-4o-mini".into()),
            downgrade_pct: Some(95.0),
            alerts: Some(AlertTargets {
                webhook: Some("https://hooks.example/x".into()),
                slack: None,
                email: vec!["ops@example.com".into()],
            }),
        }),
        metadata: [("owner".to_string(), "ana".to_string()), ("env".to_string(), "prod".to_string())].into(),
        created_at_ms: 1_800_000_000_000,
        revoked_at_ms: None,
        seq: 0,
    }
}

fn minimal_key(id: &str, prefix: &str, created_at_ms: i64) -> KeyRecord {
    KeyRecord { id: id.into(), prefix: prefix.into(), hash: vec![7; 32], name: id.into(), created_at_ms, ..KeyRecord::default() }
}

fn policy(scope: Scope, name: &str, usd: f64) -> Policy {
    Policy {
        scope,
        name: name.into(),
        budget: Some(Budget {
            usd: Some(usd),
            tokens: None,
            requests: None,
            window: Window::Daily,
            soft_pct: None,
            downgrade_to: None,
            downgrade_pct: None,
            alerts: None,
        }),
        limits: Limits { rpm: Some(10), ..Limits::default() },
        updated_at_ms: 1_800_000_000_000,
        seq: 0,
    }
}

pub async fn keys_round_trip_every_field(storage: Storage) {
    let b = storage.open().await;
    let full = b.gov.create_key(full_key("key_1", "sy-aaaaaaaa")).await.unwrap();
    assert!(full.seq > 0, "the store assigns a seq");
    assert_eq!(full, KeyRecord { seq: full.seq, ..full_key("key_1", "sy-aaaaaaaa") });
    // Created later but with an earlier creation time: listing is oldest first.
    let older = b.gov.create_key(minimal_key("key_0", "sy-bbbbbbbb", 1_700_000_000_000)).await.unwrap();
    assert!(older.seq > full.seq);

    assert_eq!(b.gov.get_key("key_1").await.unwrap(), Some(full.clone()));
    assert_eq!(b.gov.key_by_prefix("sy-aaaaaaaa").await.unwrap(), Some(full.clone()));
    assert_eq!(b.gov.key_by_prefix("sy-bbbbbbbb").await.unwrap(), Some(older.clone()));
    assert_eq!(b.gov.get_key("key_missing").await.unwrap(), None);
    assert_eq!(b.gov.key_by_prefix("sy-missing0").await.unwrap(), None);
    assert_eq!(b.gov.list_keys().await.unwrap(), vec![older, full]);
}

pub async fn duplicate_id_or_prefix_is_a_conflict(storage: Storage) {
    let b = storage.open().await;
    let first = b.gov.create_key(full_key("key_1", "sy-aaaaaaaa")).await.unwrap();
    match b.gov.create_key(full_key("key_2", "sy-aaaaaaaa")).await {
        Err(StoreError::Conflict(msg)) => assert!(msg.contains("prefix `sy-aaaaaaaa`"), "{msg}"),
        other => panic!("duplicate prefix: expected a conflict, got {other:?}"),
    }
    match b.gov.create_key(full_key("key_1", "sy-cccccccc")).await {
        Err(StoreError::Conflict(msg)) => assert!(msg.contains("id `key_1`"), "{msg}"),
        other => panic!("duplicate id: expected a conflict, got {other:?}"),
    }
    // The failed writes left nothing behind and the store still works.
    assert_eq!(b.gov.list_keys().await.unwrap(), vec![first.clone()]);
    let next = b.gov.create_key(full_key("key_3", "sy-dddddddd")).await.unwrap();
    assert!(next.seq > first.seq);
}

pub async fn revoke_keeps_the_first_time_and_is_a_change(storage: Storage) {
    let b = storage.open().await;
    let key = b.gov.create_key(full_key("key_1", "sy-aaaaaaaa")).await.unwrap();
    let revoked = b.gov.revoke_key("key_1", 1_850_000_000_000).await.unwrap().expect("the key exists");
    assert_eq!(revoked.revoked_at_ms, Some(1_850_000_000_000));
    assert!(revoked.seq > key.seq);
    let changes = b.gov.changes_since(key.seq).await.unwrap();
    assert_eq!(changes.keys, vec![revoked.clone()]);
    assert_eq!(changes.seq, revoked.seq);

    let again = b.gov.revoke_key("key_1", 1_860_000_000_000).await.unwrap().expect("the key exists");
    assert_eq!(again.revoked_at_ms, Some(1_850_000_000_000), "the first revocation time stays");
    assert_eq!(b.gov.get_key("key_1").await.unwrap(), Some(again));
    assert_eq!(b.gov.revoke_key("key_missing", 1).await.unwrap(), None);
}

pub async fn policies_upsert_get_and_list(storage: Storage) {
    let b = storage.open().await;
    let team = b.gov.put_policy(policy(Scope::Team, "search", 100.0)).await.unwrap();
    let customer = b.gov.put_policy(Policy { budget: None, ..policy(Scope::Customer, "acme", 0.0) }).await.unwrap();
    assert!(customer.seq > team.seq);
    assert_eq!(b.gov.get_policy(Scope::Team, "search").await.unwrap(), Some(team.clone()));
    assert_eq!(b.gov.get_policy(Scope::Customer, "acme").await.unwrap().unwrap().budget, None);
    assert_eq!(b.gov.get_policy(Scope::Feature, "search").await.unwrap(), None, "scope is part of the identity");

    let replaced = b.gov.put_policy(Policy { updated_at_ms: 1_800_000_000_999, ..policy(Scope::Team, "search", 250.0) }).await.unwrap();
    assert!(replaced.seq > customer.seq);
    let stored = b.gov.get_policy(Scope::Team, "search").await.unwrap().unwrap();
    assert_eq!(stored, replaced);
    assert_eq!(stored.budget.unwrap().usd, Some(250.0));
    assert_eq!(b.gov.list_policies().await.unwrap(), vec![customer, replaced], "by scope, then name");
}

pub async fn changes_since_spans_keys_and_policies(storage: Storage) {
    let b = storage.open().await;
    let empty = b.gov.changes_since(0).await.unwrap();
    assert_eq!((empty.keys.len(), empty.policies.len(), empty.seq), (0, 0, 0));

    let k1 = b.gov.create_key(minimal_key("key_1", "sy-11111111", 1)).await.unwrap();
    let p1 = b.gov.put_policy(policy(Scope::Feature, "chat", 1.0)).await.unwrap();
    let k2 = b.gov.create_key(minimal_key("key_2", "sy-22222222", 2)).await.unwrap();
    let p2 = b.gov.put_policy(policy(Scope::Model, "gpt-4o", 2.0)).await.unwrap();

    let all = b.gov.changes_since(0).await.unwrap();
    assert_eq!(all.keys, vec![k1.clone(), k2.clone()]);
    assert_eq!(all.policies, vec![p1.clone(), p2.clone()]);
    assert_eq!(all.seq, p2.seq);

    let newer = b.gov.changes_since(p1.seq).await.unwrap();
    assert_eq!(newer.keys, vec![k2]);
    assert_eq!(newer.policies, vec![p2.clone()]);
    assert_eq!(newer.seq, p2.seq);

    let none = b.gov.changes_since(p2.seq).await.unwrap();
    assert!(none.keys.is_empty() && none.policies.is_empty());
    assert_eq!(none.seq, p2.seq, "nothing new: the seq asked for comes back");

    // Updating the first policy moves it after everything else.
    let p1b = b.gov.put_policy(policy(Scope::Feature, "chat", 3.0)).await.unwrap();
    let after = b.gov.changes_since(p2.seq).await.unwrap();
    assert_eq!((after.keys.len(), after.policies, after.seq), (0, vec![p1b.clone()], p1b.seq));
}

const DAY_MS: i64 = 86_400_000;
/// 2026-11-20T00:00:00Z
const NOV_20: i64 = 1_795_132_800_000;

#[allow(clippy::too_many_arguments)]
fn spent(
    id: &str,
    ms: i64,
    key: Option<&str>,
    team: Option<&str>,
    customer: &str,
    feature: Option<&str>,
    served: Option<(&str, &str)>,
    cost: f64,
) -> LogRecord {
    LogRecord {
        request_id: id.into(),
        started_at: switchyard_core::time::rfc3339(ms),
        started_at_ms: ms,
        key_id: key.map(Into::into),
        team: team.map(Into::into),
        customer_identifier: Some(customer.into()),
        feature: feature.map(Into::into),
        requested_model: "support-bot".into(),
        provider: served.map(|(p, _)| p.into()),
        model: served.map(|(_, m)| m.into()),
        status: if served.is_some() { 200 } else { 502 },
        outcome: if served.is_some() { "ok" } else { "error" }.into(),
        input_tokens: 100,
        output_tokens: 10,
        cost_usd: served.map(|_| cost),
        cost_source: served.map(|_| "catalog".into()),
        ..LogRecord::default()
    }
}

/// The sums these tests check, for one group (`None`: no group, or a record without the field).
#[derive(Debug, PartialEq)]
struct Sums {
    group: Option<String>,
    requests: u64,
    input_tokens: u64,
    output_tokens: u64,
    cost_usd: f64,
    cache_saved_usd: f64,
}

fn row(group: Option<&str>, requests: u64, cost_usd: f64) -> Sums {
    Sums {
        group: group.map(Into::into),
        requests,
        input_tokens: 100 * requests,
        output_tokens: 10 * requests,
        cost_usd,
        cache_saved_usd: 0.0,
    }
}

fn close(actual: Vec<SpendRow>, expected: Vec<Sums>) {
    let round = |v: f64| (v * 1e9).round() / 1e9;
    let actual: Vec<Sums> = actual
        .into_iter()
        .map(|r| Sums {
            group: r.group.into_values().next().flatten(),
            requests: r.requests,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cost_usd: round(r.cost_usd),
            cache_saved_usd: round(r.cache_saved_usd),
        })
        .collect();
    let expected: Vec<Sums> =
        expected.into_iter().map(|r| Sums { cost_usd: round(r.cost_usd), cache_saved_usd: round(r.cache_saved_usd), ..r }).collect();
    assert_eq!(actual, expected);
}

pub async fn spend_sums_with_filters_and_every_group_by(storage: Storage) {
    let mut b = storage.open().await;
    let oa = Some(("openai", "gpt-4o"));
    let an = Some(("anthropic", "claude-sonnet-4-5"));
    b.log
        .insert(&[
            spent("r1", NOV_20 + 1000, Some("key_a"), Some("search"), "acme", Some("chat"), oa, 0.25),
            spent("r2", NOV_20 + DAY_MS - 1, Some("key_a"), Some("search"), "acme", Some("summarize"), an, 0.5),
            spent("r3", NOV_20 + DAY_MS, Some("key_b"), Some("ads"), "globex", Some("chat"), oa, 1.0),
            spent("r4", NOV_20 + 2 * DAY_MS + 5, None, None, "globex", None, None, 0.0),
        ])
        .unwrap();
    let q = |f: fn(&mut SpendQuery)| {
        let mut q = SpendQuery::default();
        f(&mut q);
        q
    };
    let spend = |q: SpendQuery| {
        let gov = b.gov.clone();
        async move { gov.spend(&q).await.unwrap() }
    };

    close(spend(SpendQuery::default()).await, vec![row(None, 4, 1.75)]);
    close(spend(q(|q| q.key = Some("key_nobody".into()))).await, vec![Sums { input_tokens: 0, output_tokens: 0, ..row(None, 0, 0.0) }]);

    // Filters, one at a time and together.
    close(spend(q(|q| q.key = Some("key_a".into()))).await, vec![row(None, 2, 0.75)]);
    close(spend(q(|q| q.team = Some("ads".into()))).await, vec![row(None, 1, 1.0)]);
    close(spend(q(|q| q.customer = Some("globex".into()))).await, vec![row(None, 2, 1.0)]);
    close(spend(q(|q| q.feature = Some("chat".into()))).await, vec![row(None, 2, 1.25)]);
    close(spend(q(|q| q.model = Some("gpt-4o".into()))).await, vec![row(None, 2, 1.25)]);
    close(spend(q(|q| q.model = Some("anthropic/claude-sonnet-4-5".into()))).await, vec![row(None, 1, 0.5)]);
    close(spend(q(|q| q.model = Some("support-bot".into()))).await, vec![row(None, 4, 1.75)]);
    close(spend(q(|q| (q.customer, q.feature) = (Some("acme".into()), Some("chat".into())))).await, vec![row(None, 1, 0.25)]);
    // `from` inclusive, `to` exclusive.
    close(spend(q(|q| (q.from_ms, q.to_ms) = (Some(NOV_20 + DAY_MS - 1), Some(NOV_20 + 2 * DAY_MS + 5)))).await, vec![row(None, 2, 1.5)]);

    // Every grouping; most expensive first, ties in group order with records lacking the field last.
    let by = |g: GroupBy| SpendQuery { group_by: vec![g], ..SpendQuery::default() };
    close(spend(by(GroupBy::Key)).await, vec![row(Some("key_b"), 1, 1.0), row(Some("key_a"), 2, 0.75), row(None, 1, 0.0)]);
    close(spend(by(GroupBy::Team)).await, vec![row(Some("ads"), 1, 1.0), row(Some("search"), 2, 0.75), row(None, 1, 0.0)]);
    close(spend(by(GroupBy::Customer)).await, vec![row(Some("globex"), 2, 1.0), row(Some("acme"), 2, 0.75)]);
    close(spend(by(GroupBy::Feature)).await, vec![row(Some("chat"), 2, 1.25), row(Some("summarize"), 1, 0.5), row(None, 1, 0.0)]);
    close(spend(by(GroupBy::Model)).await, vec![row(Some("gpt-4o"), 2, 1.25), row(Some("claude-sonnet-4-5"), 1, 0.5), row(None, 1, 0.0)]);
    close(spend(by(GroupBy::Provider)).await, vec![row(Some("openai"), 2, 1.25), row(Some("anthropic"), 1, 0.5), row(None, 1, 0.0)]);
    close(
        spend(by(GroupBy::Day)).await,
        vec![row(Some("2026-11-21"), 1, 1.0), row(Some("2026-11-20"), 2, 0.75), row(Some("2026-11-22"), 1, 0.0)],
    );
    // Grouping and filtering together.
    close(
        spend(SpendQuery { team: Some("search".into()), group_by: vec![GroupBy::Feature], ..SpendQuery::default() }).await,
        vec![row(Some("summarize"), 1, 0.5), row(Some("chat"), 1, 0.25)],
    );

    // Cache hits cost nothing and add what they saved; a miss pays and saves nothing.
    let cached = |id: &str, feature: &str, status: &str, cost: f64, saved: Option<f64>| LogRecord {
        cache_status: Some(status.into()),
        cache_saved_usd: saved,
        ..spent(id, NOV_20 + 3 * DAY_MS, Some("key_c"), Some("cachers"), "initech", Some(feature), oa, cost)
    };
    b.log
        .insert(&[
            cached("r5", "chat", "HIT", 0.0, Some(0.375)),
            cached("r6", "chat", "SEMANTIC_HIT", 0.0, Some(0.125)),
            cached("r7", "summarize", "MISS", 0.25, None),
            cached("r8", "summarize", "HIT", 0.0, Some(0.0625)),
        ])
        .unwrap();
    let saved = |group: Option<&str>, requests: u64, cost_usd: f64, cache_saved_usd: f64| Sums {
        cache_saved_usd,
        ..row(group, requests, cost_usd)
    };
    close(spend(SpendQuery::default()).await, vec![saved(None, 8, 2.0, 0.5625)]);
    close(spend(q(|q| q.team = Some("cachers".into()))).await, vec![saved(None, 4, 0.25, 0.5625)]);
    close(
        spend(SpendQuery { key: Some("key_c".into()), group_by: vec![GroupBy::Feature], ..SpendQuery::default() }).await,
        vec![saved(Some("summarize"), 2, 0.25, 0.0625), saved(Some("chat"), 2, 0.0, 0.5)],
    );
    close(
        spend(by(GroupBy::Team)).await,
        vec![row(Some("ads"), 1, 1.0), row(Some("search"), 2, 0.75), saved(Some("cachers"), 4, 0.25, 0.5625), row(None, 1, 0.0)],
    );

    // What a request cap counts: requests sent upstream (a refusal never was), and cache hits
    // when they are admitted too.
    let tried = |id: &str, attempts: u32, cache: Option<&str>| LogRecord {
        attempts,
        cache_status: cache.map(Into::into),
        ..spent(id, NOV_20 + 4 * DAY_MS, Some("key_d"), None, "hooli", None, oa, 0.1)
    };
    b.log.insert(&[tried("r9", 1, None), tried("r10", 2, Some("MISS")), tried("r11", 0, None), tried("r12", 0, Some("HIT"))]).unwrap();
    let requests = |admitted: Option<Admitted>| {
        let gov = b.gov.clone();
        async move {
            let q = SpendQuery { key: Some("key_d".into()), admitted, ..SpendQuery::default() };
            gov.spend(&q).await.unwrap()[0].requests
        }
    };
    assert_eq!(requests(None).await, 4);
    assert_eq!(requests(Some(Admitted::Served)).await, 2);
    assert_eq!(requests(Some(Admitted::WithHits)).await, 3);
}
