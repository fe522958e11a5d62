//! The PostgreSQL schema: embedded migrations recorded in `schema_migrations`, applied in one
//! transaction under an advisory lock so that N instances starting at once migrate exactly once.
//! Same logical schema as SQLite: BIGINT Unix-ms times, DOUBLE PRECISION costs, JSON as text.

use switchyard_core::store::StoreError;

use crate::sql::{schema, Db, Dialect};

const REQUEST_LOG: &str = r#"
CREATE TABLE request_log (
    request_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    customer_identifier TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    feature TEXT,
    requested_model TEXT NOT NULL,
    provider TEXT,
    model TEXT,
    status BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    error_type TEXT,
    error_message TEXT,
    latency_ms DOUBLE PRECISION NOT NULL,
    ttft_ms DOUBLE PRECISION,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cached_tokens BIGINT NOT NULL,
    reasoning_tokens BIGINT NOT NULL,
    stream BOOLEAN NOT NULL,
    attempts BIGINT NOT NULL,
    request_body TEXT,
    response_body TEXT,
    attempt_log TEXT NOT NULL DEFAULT '[]',
    key_id TEXT,
    team TEXT,
    cost_usd DOUBLE PRECISION,
    cost_source TEXT
);
CREATE INDEX request_log_started ON request_log (started_at_ms);
CREATE INDEX request_log_customer ON request_log (customer_identifier, started_at_ms);
CREATE INDEX request_log_model ON request_log (requested_model, started_at_ms);
"#;

/// Metadata filters (`metadata.<key>=<value>`) are containment tests on the jsonb form of the
/// metadata text. The index serves rare pairs; ANALYZE keeps statistics on its expression, which
/// is what tells the planner how common a pair is (without them it guessed one row and sorted
/// every match: 270 ms p95 on a million records, 0.7 ms with them). ANALYZE makes them at once
/// rather than at the next autovacuum.
const METADATA_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS request_log_metadata ON request_log USING gin ((metadata::jsonb) jsonb_path_ops); ANALYZE request_log;";

/// Never edit a shipped migration; add one.
pub(crate) fn migrations() -> Vec<String> {
    vec![
        format!("{REQUEST_LOG}{}", schema::SPEND_INDEXES),
        schema::governance_tables(Dialect::Postgres),
        schema::cache_columns(Dialect::Postgres),
        crate::sql::response_rows::TABLE.into(),
        schema::search_indexes(Dialect::Postgres),
        METADATA_INDEX.into(),
    ]
}

/// The lock is per schema, so that instances (or tests) using different schemas do not wait on
/// each other.
const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('switchyard.schema_migrations.' || COALESCE(current_schema(), '')))";

const CREATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())";

/// Applies the migrations this database lacks. Safe to call from any number of processes at once.
pub(crate) fn migrate(client: &mut postgres::Client) -> Result<(), StoreError> {
    let migrations = migrations();
    let mut tx = client.transaction().db()?;
    tx.batch_execute(LOCK).db()?;
    tx.batch_execute(CREATE_TABLE).db()?;
    let applied: i64 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).db()?.get(0);
    for (i, sql) in migrations.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= applied {
            continue;
        }
        tx.batch_execute(sql)
            .map_err(|e| StoreError::Server(format!("migration {version} failed: {}", crate::postgres::target::pg_error(e))))?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&version]).db()?;
    }
    tx.commit().db()?;
    Ok(())
}
