//! Spend: totals over the request log for a `SpendQuery`, one statement for both backends.
//!
//! The statement groups in three layers: `base` names each group value (`g0`, `g1`, …) once, so
//! that a bound metadata key appears once; on SQLite, `ranked` numbers each group's latencies
//! and times to first token (SQLite has no percentile function); the outer layer sums and picks
//! the nearest-rank percentiles (PostgreSQL: `percentile_disc`, the same definition). Without
//! `percentiles` (budget bookkeeping), the statement is a plain aggregate over `base`.

use std::collections::BTreeMap;

use switchyard_core::store::{GroupBy, SpendQuery, SpendRow, StoreError};

use super::filter::Filter;
use super::{Dialect, SqlRow, SqlValue};

/// The group's value for each `GroupBy`; `model` is the model that served (`None` when nothing
/// did), `day` and `hour` the UTC date and hour of the request's start. A metadata key is a bound
/// parameter, matched as a whole key (never parsed as a JSON path).
fn group_expr(dialect: Dialect, group_by: &GroupBy, filter: &mut Filter) -> String {
    let column = match group_by {
        GroupBy::Day => return dialect.utc_day("started_at_ms"),
        GroupBy::Hour => return dialect.utc_hour("started_at_ms"),
        GroupBy::Metadata(key) => {
            let p = filter.bind(SqlValue::text(key));
            return match dialect {
                Dialect::Sqlite => format!("(SELECT CAST(value AS TEXT) FROM json_each(metadata) WHERE key = {p})"),
                Dialect::Postgres => format!("(CAST(metadata AS jsonb) ->> CAST({p} AS TEXT))"),
            };
        }
        GroupBy::Key => "key_id",
        GroupBy::Team => "team",
        GroupBy::Customer => "customer_identifier",
        GroupBy::Feature => "feature",
        GroupBy::Model => "model",
        GroupBy::Provider => "provider",
    };
    column.into()
}

/// A request that failed: an error answer, or a stream cut after it started.
const ERROR: &str = "outcome IN ('error', 'incomplete')";
const CACHE_HIT: &str = "cache_status IN ('HIT', 'SEMANTIC_HIT')";

/// One row per group, most expensive first (ties: by group, records lacking a field last);
/// without `group_by`, exactly one row (zeros when nothing matched).
pub(crate) fn spend_sql(dialect: Dialect, q: &SpendQuery) -> (String, Vec<SqlValue>) {
    let mut filter = Filter::new(dialect);
    let groups: Vec<String> = q.group_by.iter().map(|g| group_expr(dialect, g, &mut filter)).collect();
    filter
        .equals("key_id", q.key.as_deref())
        .equals("team", q.team.as_deref())
        .equals("customer_identifier", q.customer.as_deref())
        .equals("feature", q.feature.as_deref())
        .model(q.model.as_deref())
        .started_between(q.from_ms, q.to_ms)
        .admitted(q.admitted);
    let aliases: Vec<String> = (0..groups.len()).map(|i| format!("g{i}")).collect();
    let named: Vec<String> = groups.iter().zip(&aliases).map(|(expr, alias)| format!("{expr} AS {alias}, ")).collect();
    let base = format!(
        "SELECT {}outcome, input_tokens, output_tokens, cached_tokens, cost_usd, cache_status, cache_saved_usd, latency_ms, \
         ttft_ms FROM request_log{}",
        named.concat(),
        filter.where_sql()
    );
    let (source, percentiles) = match dialect {
        _ if !q.percentiles => {
            (format!("({base}) AS base"), "CAST(NULL AS DOUBLE PRECISION), ".repeat(3).trim_end_matches(", ").to_string())
        }
        Dialect::Postgres => (
            format!("({base}) AS base"),
            "percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms), percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms), \
             percentile_disc(0.5) WITHIN GROUP (ORDER BY ttft_ms)"
                .to_string(),
        ),
        Dialect::Sqlite => {
            let partition = |extra: &str| {
                let mut by = aliases.clone();
                by.extend((!extra.is_empty()).then(|| extra.to_string()));
                if by.is_empty() {
                    String::new()
                } else {
                    format!("PARTITION BY {} ", by.join(", "))
                }
            };
            let source = format!(
                "(SELECT *, ROW_NUMBER() OVER ({}ORDER BY latency_ms) AS lat_rank, COUNT(*) OVER ({}) AS lat_n, \
                 ROW_NUMBER() OVER ({}ORDER BY ttft_ms) AS ttft_rank, COUNT(ttft_ms) OVER ({}) AS ttft_n FROM ({base}) AS base) AS ranked",
                partition(""),
                partition("").trim_end(),
                partition("ttft_ms IS NULL"),
                partition("").trim_end(),
            );
            // Nearest rank: the ceil(p·n)-th smallest value.
            let pick = |value: &str, rank: &str, n: &str, pct: u32| {
                format!("MAX(CASE WHEN {value} IS NOT NULL AND {rank} = ({n} * {pct} + 99) / 100 THEN {value} END)")
            };
            (
                source,
                format!(
                    "{}, {}, {}",
                    pick("latency_ms", "lat_rank", "lat_n", 50),
                    pick("latency_ms", "lat_rank", "lat_n", 95),
                    pick("ttft_ms", "ttft_rank", "ttft_n", 50)
                ),
            )
        }
    };
    let sum = |expr: &str| format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT)");
    let money = |expr: &str| format!("CAST(COALESCE(SUM({expr}), 0) AS DOUBLE PRECISION)");
    let selected: Vec<String> = aliases.iter().map(|a| format!("{a}, ")).collect();
    let grouping = if aliases.is_empty() {
        String::new()
    } else {
        let tie_break: Vec<String> = aliases.iter().map(|a| format!("{a} IS NULL, {a}")).collect();
        format!(" GROUP BY {} ORDER BY total_cost DESC, {}", aliases.join(", "), tie_break.join(", "))
    };
    let sql = format!(
        "SELECT {}COUNT(*), {}, {}, {}, {}, {} AS total_cost, {}, {}, {percentiles} FROM {source}{grouping}",
        selected.concat(),
        sum(&format!("CASE WHEN {ERROR} THEN 1 ELSE 0 END")),
        sum("input_tokens"),
        sum("output_tokens"),
        sum("cached_tokens"),
        money("cost_usd"),
        sum(&format!("CASE WHEN {CACHE_HIT} THEN 1 ELSE 0 END")),
        money("cache_saved_usd"),
    );
    (sql, filter.into_params())
}

/// A row of `spend_sql`'s answer for the query's `group_by`.
pub(crate) fn spend_from_row(row: &impl SqlRow, group_by: &[GroupBy]) -> Result<SpendRow, StoreError> {
    let mut group = BTreeMap::new();
    for (i, g) in group_by.iter().enumerate() {
        group.insert(g.name(), row.get::<Option<String>>(i)?);
    }
    let at = group_by.len();
    let requests = row.count(at)?;
    let cache_hits = row.count(at + 6)?;
    Ok(SpendRow {
        group,
        requests,
        errors: row.count(at + 1)?,
        input_tokens: row.count(at + 2)?,
        output_tokens: row.count(at + 3)?,
        cached_tokens: row.count(at + 4)?,
        cost_usd: row.get(at + 5)?,
        cache_hits,
        cache_hit_rate: if requests == 0 { 0.0 } else { cache_hits as f64 / requests as f64 },
        cache_saved_usd: row.get(at + 7)?,
        latency_p50_ms: row.get(at + 8)?,
        latency_p95_ms: row.get(at + 9)?,
        ttft_p50_ms: row.get(at + 10)?,
    })
}
