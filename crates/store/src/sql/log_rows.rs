//! `LogRecord` ↔ `request_log` row, and the insert and query statements, for both backends.

use switchyard_core::store::{LogFilter, LogQuery, LogRecord, StatusFilter, StoreError};

use super::filter::Filter;
use super::{Dialect, SqlRow, SqlValue};

const COLUMNS: [&str; 30] = [
    "request_id",
    "started_at",
    "started_at_ms",
    "customer_identifier",
    "metadata",
    "feature",
    "requested_model",
    "provider",
    "model",
    "status",
    "outcome",
    "error_type",
    "error_message",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "stream",
    "attempts",
    "request_body",
    "response_body",
    "attempt_log",
    "key_id",
    "team",
    "cost_usd",
    "cost_source",
    "cache_status",
    "cache_saved_usd",
];

/// Most rows one multi-row insert carries (PostgreSQL allows 65,535 parameters per statement).
pub(crate) const MAX_ROWS_PER_INSERT: usize = 500;

/// `INSERT … VALUES (…), (…)` for `rows` records, skipping request ids already stored (which is
/// what makes spool replay safe to repeat).
pub(crate) fn insert_sql(dialect: Dialect, rows: usize) -> String {
    let tuples: Vec<String> = (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=COLUMNS.len()).map(|c| dialect.param(r * COLUMNS.len() + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!("INSERT INTO request_log ({}) VALUES {} ON CONFLICT (request_id) DO NOTHING", COLUMNS.join(", "), tuples.join(", "))
}

/// The parameters of one record, in column order.
pub(crate) fn params(r: &LogRecord) -> Result<Vec<SqlValue>, StoreError> {
    Ok(vec![
        SqlValue::text(&r.request_id),
        SqlValue::text(&r.started_at),
        SqlValue::Int(Some(r.started_at_ms)),
        SqlValue::opt_text(&r.customer_identifier),
        SqlValue::json(&r.metadata, "request metadata")?,
        SqlValue::opt_text(&r.feature),
        SqlValue::text(&r.requested_model),
        SqlValue::opt_text(&r.provider),
        SqlValue::opt_text(&r.model),
        SqlValue::Int(Some(i64::from(r.status))),
        SqlValue::text(&r.outcome),
        SqlValue::opt_text(&r.error_type),
        SqlValue::opt_text(&r.error_message),
        SqlValue::Real(Some(r.latency_ms)),
        SqlValue::Real(r.ttft_ms),
        SqlValue::count(r.input_tokens),
        SqlValue::count(r.output_tokens),
        SqlValue::count(r.cached_tokens),
        SqlValue::count(r.reasoning_tokens),
        SqlValue::Bool(r.stream),
        SqlValue::Int(Some(i64::from(r.attempts))),
        SqlValue::opt_text(&r.request_body),
        SqlValue::opt_text(&r.response_body),
        SqlValue::json(&r.attempt_log, "attempt log")?,
        SqlValue::opt_text(&r.key_id),
        SqlValue::opt_text(&r.team),
        SqlValue::Real(r.cost_usd),
        SqlValue::opt_text(&r.cost_source),
        SqlValue::opt_text(&r.cache_status),
        SqlValue::Real(r.cache_saved_usd),
    ])
}

/// The parameters of several records, for `insert_sql(dialect, records.len())`.
pub(crate) fn batch_params(records: &[LogRecord]) -> Result<Vec<SqlValue>, StoreError> {
    let mut all = Vec::with_capacity(records.len() * COLUMNS.len());
    for r in records {
        all.extend(params(r)?);
    }
    Ok(all)
}

/// Newest first, filtered as `LogQuery` says.
pub(crate) fn query_sql(dialect: Dialect, q: &LogQuery) -> (String, Vec<SqlValue>) {
    let mut filter = Filter::new(dialect);
    filter.model(q.model.as_deref()).equals("customer_identifier", q.customer.as_deref());
    let where_sql = filter.where_sql();
    let limit = filter.bind(SqlValue::count(q.limit as u64));
    let sql =
        format!("SELECT {} FROM request_log{where_sql} ORDER BY started_at_ms DESC, request_id DESC LIMIT {limit}", COLUMNS.join(", "));
    (sql, filter.into_params())
}

/// A search, newest first, with one record more than `limit` (which says there is a next page:
/// `LogPage::from_overfetch`). Every value is a parameter; only column names and operators are
/// spelled into the text.
pub(crate) fn search_sql(dialect: Dialect, q: &LogFilter) -> (String, Vec<SqlValue>) {
    let mut f = Filter::new(dialect);
    f.equals("request_id", q.request_id.as_deref())
        .equals("customer_identifier", q.customer.as_deref())
        .equals("team", q.team.as_deref())
        .equals("key_id", q.key.as_deref())
        .equals("feature", q.feature.as_deref())
        .equals("requested_model", q.model.as_deref())
        .served_model(q.served_model.as_deref())
        .equals("provider", q.provider.as_deref())
        .equals("cache_status", q.cache.as_deref())
        .started_between(q.from_ms, q.to_ms)
        .at_least("latency_ms", q.min_latency_ms)
        .at_least("cost_usd", q.min_cost_usd)
        .body_contains(q.text.as_deref());
    match q.status {
        None => {}
        Some(StatusFilter::Ok) => f.clause("outcome = 'ok'"),
        Some(StatusFilter::Error) => f.clause("outcome <> 'ok'"),
        Some(StatusFilter::Code(code)) => {
            let p = f.bind(SqlValue::Int(Some(i64::from(code))));
            f.clause(&format!("status = {p}"));
        }
    }
    for (key, value) in &q.metadata {
        f.metadata(key, value);
    }
    let id = dialect.byte_order("request_id");
    if let Some(after) = &q.after {
        let ms = f.bind(SqlValue::Int(Some(after.started_at_ms)));
        let rid = f.bind(SqlValue::text(&after.request_id));
        f.clause(&format!("(started_at_ms < {ms} OR (started_at_ms = {ms} AND {id} < {rid}))"));
    }
    let where_sql = f.where_sql();
    let limit = f.bind(SqlValue::count(q.limit as u64 + 1));
    let sql = format!("SELECT {} FROM request_log{where_sql} ORDER BY started_at_ms DESC, {id} DESC LIMIT {limit}", COLUMNS.join(", "));
    (sql, f.into_params())
}

/// A row selected with the columns of `query_sql`.
pub(crate) fn from_row(row: &impl SqlRow) -> Result<LogRecord, StoreError> {
    let request_id: String = row.get(0)?;
    let context = |what: &str| format!("{what} of request {request_id}");
    Ok(LogRecord {
        started_at: row.get(1)?,
        started_at_ms: row.get(2)?,
        customer_identifier: row.get(3)?,
        metadata: row.json(4, &context("metadata"))?,
        feature: row.get(5)?,
        requested_model: row.get(6)?,
        provider: row.get(7)?,
        model: row.get(8)?,
        status: u16::try_from(row.get::<i64>(9)?).map_err(|_| StoreError::Other(format!("{} is out of range", context("status"))))?,
        outcome: row.get(10)?,
        error_type: row.get(11)?,
        error_message: row.get(12)?,
        latency_ms: row.get(13)?,
        ttft_ms: row.get(14)?,
        input_tokens: row.count(15)?,
        output_tokens: row.count(16)?,
        cached_tokens: row.count(17)?,
        reasoning_tokens: row.count(18)?,
        stream: row.get(19)?,
        attempts: u32::try_from(row.get::<i64>(20)?).map_err(|_| StoreError::Other(format!("{} is out of range", context("attempts"))))?,
        request_body: row.get(21)?,
        response_body: row.get(22)?,
        attempt_log: row.json(23, &context("attempt log"))?,
        key_id: row.get(24)?,
        team: row.get(25)?,
        cost_usd: row.get(26)?,
        cost_source: row.get(27)?,
        cache_status: row.get(28)?,
        cache_saved_usd: row.get(29)?,
        request_id,
    })
}
