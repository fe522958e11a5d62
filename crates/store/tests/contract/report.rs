//! The usage and cost report: several groups at once, errors, cache hit rate and savings,
//! nearest-rank latency percentiles and metadata grouping, against values worked out by hand.

use std::collections::BTreeMap;

use switchyard_core::store::{GroupBy, LogRecord, SpendQuery, SpendRow};

use crate::backend::Storage;

const HOUR_MS: i64 = 3_600_000;
/// 2026-11-20T00:00:00Z
const NOV_20: i64 = 1_795_132_800_000;
/// A metadata key written to break out of a quoted SQL string or a JSON path.
const HOSTILE: &str = "x'); DROP TABLE request_log; --\".$[0]";

struct Rec {
    model: &'static str,
    feature: &'static str,
    hour: i64,
    latency_ms: f64,
    ttft_ms: Option<f64>,
    cost: f64,
    outcome: &'static str,
    cache: Option<(&'static str, f64)>,
    tier: &'static str,
}

fn record(i: usize, r: Rec) -> LogRecord {
    let ms = NOV_20 + r.hour * HOUR_MS + i as i64;
    let mut metadata = BTreeMap::from([("tier".to_string(), r.tier.to_string())]);
    if r.model == "claude-sonnet-4-5" {
        metadata.insert(HOSTILE.into(), "evil".into());
    }
    LogRecord {
        request_id: format!("rep{i}"),
        started_at: switchyard_core::time::rfc3339(ms),
        started_at_ms: ms,
        metadata,
        feature: Some(r.feature.into()),
        requested_model: r.model.into(),
        provider: Some("openai".into()),
        model: Some(r.model.into()),
        status: if r.outcome == "error" { 502 } else { 200 },
        outcome: r.outcome.into(),
        latency_ms: r.latency_ms,
        ttft_ms: r.ttft_ms,
        input_tokens: 10,
        output_tokens: 2,
        cached_tokens: 1,
        cost_usd: Some(r.cost),
        cache_status: r.cache.map(|(s, _)| s.to_string()),
        cache_saved_usd: r.cache.map(|(_, saved)| saved),
        attempts: 1,
        ..LogRecord::default()
    }
}

fn records() -> Vec<LogRecord> {
    let chat = |latency_ms: f64, ttft_ms: Option<f64>, cost: f64, outcome: &'static str, cache| Rec {
        model: "gpt-4o",
        feature: "chat",
        hour: 1,
        latency_ms,
        ttft_ms,
        cost,
        outcome,
        cache,
        tier: "gold",
    };
    let mut recs = vec![
        // gpt-4o/chat: latencies 10..50, ttft 1, 3, 4, 5 (one stream without), two errors, one hit.
        chat(40.0, Some(4.0), 0.25, "ok", None),
        chat(10.0, Some(1.0), 0.25, "ok", None),
        chat(50.0, None, 0.0, "ok", Some(("HIT", 0.25))),
        chat(20.0, Some(3.0), 0.25, "incomplete", None),
        chat(30.0, Some(5.0), 0.0, "error", None),
        // claude/chat: one request.
        Rec { model: "claude-sonnet-4-5", latency_ms: 7.5, ttft_ms: Some(2.5), cost: 2.0, ..chat(0.0, None, 0.0, "ok", None) },
    ];
    // gpt-4o/summarize: latencies 1..=20 in reverse, the four fastest semantic hits.
    for n in (1..=20).rev() {
        let hit = n <= 4;
        recs.push(Rec {
            feature: "summarize",
            hour: 2,
            tier: "free",
            ..chat(n as f64, None, if hit { 0.0 } else { 0.078125 }, "ok", hit.then_some(("SEMANTIC_HIT", 0.125)))
        });
    }
    recs.into_iter().enumerate().map(|(i, r)| record(i, r)).collect()
}

/// group, requests, errors, cached tokens, cost, cache hits, hit rate, saved, p50, p95, ttft p50.
type Seen = (Vec<(String, Option<String>)>, u64, u64, u64, f64, u64, f64, f64, Option<f64>, Option<f64>, Option<f64>);

/// What a row says, money rounded so that sums in another order compare equal.
fn seen(r: &SpendRow) -> Seen {
    let round = |v: f64| (v * 1e9).round() / 1e9;
    (
        r.group.clone().into_iter().collect(),
        r.requests,
        r.errors,
        r.cached_tokens,
        round(r.cost_usd),
        r.cache_hits,
        round(r.cache_hit_rate),
        round(r.cache_saved_usd),
        r.latency_p50_ms,
        r.latency_p95_ms,
        r.ttft_p50_ms,
    )
}

fn group(pairs: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.map(Into::into))).collect()
}

pub async fn report_groups_errors_cache_and_percentiles(storage: Storage) {
    let mut b = storage.open().await;
    b.log.insert(&records()).unwrap();
    let spend = |group_by: Vec<GroupBy>, from_ms: Option<i64>| {
        let gov = b.gov.clone();
        async move {
            let rows = gov.spend(&SpendQuery { group_by, from_ms, percentiles: true, ..SpendQuery::default() }).await.unwrap();
            rows.iter().map(seen).collect::<Vec<_>>()
        }
    };

    // Everything: 26 latencies 1..20, 7.5, 10..50 → the 13th is 11, the 25th (ceil 24.7) is 40;
    // ttft 1, 2.5, 3, 4, 5 → the 3rd.
    assert_eq!(
        spend(vec![], None).await,
        vec![(vec![], 26, 2, 26, 4.0, 5, (5.0_f64 / 26.0 * 1e9).round() / 1e9, 0.75, Some(11.0), Some(40.0), Some(3.0))]
    );

    // By model and feature, most expensive first. Nearest rank, not interpolation: the median of
    // 1..=20 is 10 (not 10.5), its p95 19 (not 19.05).
    assert_eq!(
        spend(vec![GroupBy::Model, GroupBy::Feature], None).await,
        vec![
            (
                group(&[("feature", Some("chat")), ("model", Some("claude-sonnet-4-5"))]),
                1,
                0,
                1,
                2.0,
                0,
                0.0,
                0.0,
                Some(7.5),
                Some(7.5),
                Some(2.5)
            ),
            (
                group(&[("feature", Some("summarize")), ("model", Some("gpt-4o"))]),
                20,
                0,
                20,
                1.25,
                4,
                0.2,
                0.5,
                Some(10.0),
                Some(19.0),
                None
            ),
            (
                group(&[("feature", Some("chat")), ("model", Some("gpt-4o"))]),
                5,
                2,
                5,
                0.75,
                1,
                0.2,
                0.25,
                Some(30.0),
                Some(50.0),
                Some(3.0)
            ),
        ]
    );

    // Metadata and hour; `from` leaves out hour 1.
    let tiers = spend(vec![GroupBy::Metadata("tier".into())], None).await;
    assert_eq!(
        tiers.iter().map(|r| (r.0.clone(), r.1, r.4)).collect::<Vec<_>>(),
        vec![(group(&[("metadata.tier", Some("gold"))]), 6, 2.75), (group(&[("metadata.tier", Some("free"))]), 20, 1.25)]
    );
    let hours = spend(vec![GroupBy::Hour], None).await;
    assert_eq!(
        hours.iter().map(|r| (r.0.clone(), r.1, r.4)).collect::<Vec<_>>(),
        vec![(group(&[("hour", Some("2026-11-20T01:00Z"))]), 6, 2.75), (group(&[("hour", Some("2026-11-20T02:00Z"))]), 20, 1.25)]
    );
    let later = spend(vec![GroupBy::Feature], Some(NOV_20 + 2 * HOUR_MS)).await;
    assert_eq!(later.iter().map(|r| (r.0.clone(), r.1)).collect::<Vec<_>>(), vec![(group(&[("feature", Some("summarize"))]), 20)]);

    // A hostile key is data: it names one record's value, and the table is still there.
    let hostile = spend(vec![GroupBy::Metadata(HOSTILE.into())], None).await;
    let name = format!("metadata.{HOSTILE}");
    assert_eq!(
        hostile.iter().map(|r| (r.0.clone(), r.1)).collect::<Vec<_>>(),
        vec![(group(&[(&name, Some("evil"))]), 1), (group(&[(&name, None)]), 25)]
    );
    assert_eq!(spend(vec![], None).await[0].1, 26);

    // Without percentiles (budget bookkeeping) the same sums, and no latencies.
    let plain = b.gov.spend(&SpendQuery { group_by: vec![GroupBy::Feature], ..SpendQuery::default() }).await.unwrap();
    let sums: Vec<_> =
        plain.iter().map(|r| (r.requests, r.errors, r.cache_hits, r.latency_p50_ms, r.latency_p95_ms, r.ttft_p50_ms)).collect();
    assert_eq!(sums, vec![(6, 2, 1, None, None, None), (20, 0, 4, None, None, None)]);
}
