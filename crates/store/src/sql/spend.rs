//! Spend: totals over the request log for a `SpendQuery`, one statement for both backends.

use switchyard_core::store::{GroupBy, SpendQuery, SpendRow, StoreError};

use super::filter::Filter;
use super::{Dialect, SqlRow, SqlValue};

/// The group's value for each `GroupBy`; `model` is the model that served (`None` when nothing
/// did), `day` the UTC date of the request's start.
fn group_expr(dialect: Dialect, group_by: Option<GroupBy>) -> String {
    let column = match group_by {
        None => return "CAST(NULL AS TEXT)".into(),
        Some(GroupBy::Day) => return dialect.utc_day("started_at_ms"),
        Some(GroupBy::Key) => "key_id",
        Some(GroupBy::Team) => "team",
        Some(GroupBy::Customer) => "customer_identifier",
        Some(GroupBy::Feature) => "feature",
        Some(GroupBy::Model) => "model",
        Some(GroupBy::Provider) => "provider",
    };
    column.into()
}

/// One row per group, ordered by group with the records lacking the field last; without
/// `group_by`, exactly one row (zeros when nothing matched).
pub(crate) fn spend_sql(dialect: Dialect, q: &SpendQuery) -> (String, Vec<SqlValue>) {
    let mut filter = Filter::new(dialect);
    filter
        .equals("key_id", q.key.as_deref())
        .equals("team", q.team.as_deref())
        .equals("customer_identifier", q.customer.as_deref())
        .equals("feature", q.feature.as_deref())
        .model(q.model.as_deref())
        .started_between(q.from_ms, q.to_ms)
        .admitted(q.admitted);
    let group = group_expr(dialect, q.group_by);
    let grouping = match q.group_by {
        None => String::new(),
        Some(_) => format!(" GROUP BY {group} ORDER BY ({group}) IS NULL, {group}"),
    };
    let sql = format!(
        "SELECT {group}, COUNT(*), CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT), \
         CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(cost_usd), 0) AS DOUBLE PRECISION), \
         CAST(COALESCE(SUM(cache_saved_usd), 0) AS DOUBLE PRECISION) FROM request_log{}{grouping}",
        filter.where_sql()
    );
    (sql, filter.into_params())
}

pub(crate) fn spend_from_row(row: &impl SqlRow) -> Result<SpendRow, StoreError> {
    Ok(SpendRow {
        group: row.get(0)?,
        requests: row.count(1)?,
        input_tokens: row.count(2)?,
        output_tokens: row.count(3)?,
        cost_usd: row.get(4)?,
        cache_saved_usd: row.get(5)?,
    })
}
