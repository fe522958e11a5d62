//! The SQLite schema: migrations numbered by `PRAGMA user_version`, applied in one write
//! transaction so that the log writer and the governance store, opening the same WAL file in any
//! order, migrate it exactly once.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use switchyard_core::store::StoreError;

use crate::sql::{Db, Dialect};

/// Migration 1 and 2 are the request log as first shipped; never edit a shipped migration, add one.
const REQUEST_LOG: &str = r#"
CREATE TABLE IF NOT EXISTS request_log (
    request_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    customer_identifier TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    feature TEXT,
    requested_model TEXT NOT NULL,
    provider TEXT,
    model TEXT,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    error_type TEXT,
    error_message TEXT,
    latency_ms REAL NOT NULL,
    ttft_ms REAL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    request_body TEXT,
    response_body TEXT
);
CREATE INDEX IF NOT EXISTS request_log_started ON request_log (started_at_ms);
CREATE INDEX IF NOT EXISTS request_log_customer ON request_log (customer_identifier, started_at_ms);
CREATE INDEX IF NOT EXISTS request_log_model ON request_log (requested_model, started_at_ms);
"#;

const ATTEMPT_LOG: &str = "ALTER TABLE request_log ADD COLUMN attempt_log TEXT NOT NULL DEFAULT '[]';";

const SPEND_COLUMNS: &str = r#"
ALTER TABLE request_log ADD COLUMN key_id TEXT;
ALTER TABLE request_log ADD COLUMN team TEXT;
ALTER TABLE request_log ADD COLUMN cost_usd REAL;
ALTER TABLE request_log ADD COLUMN cost_source TEXT;
"#;

/// In order: request log, attempt log, spend columns, governance tables, cache columns, stored
/// responses, log search indexes.
fn migrations() -> Vec<String> {
    vec![
        REQUEST_LOG.into(),
        ATTEMPT_LOG.into(),
        format!("{SPEND_COLUMNS}{}", crate::sql::schema::SPEND_INDEXES),
        crate::sql::schema::governance_tables(Dialect::Sqlite),
        crate::sql::schema::cache_columns(Dialect::Sqlite),
        crate::sql::response_rows::TABLE.into(),
        crate::sql::schema::search_indexes(Dialect::Sqlite),
    ]
}

/// Opens (creating the file and its directory if needed) in WAL mode and migrates.
/// `busy_timeout` bounds how long a statement waits for another connection's write lock.
pub(crate) fn open(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent() {
        crate::private_fs::create_dir(dir)?;
    }
    let mut conn = Connection::open(path).db()?;
    // Prompts and answers may be in it: 0600, and so the -wal and -shm files, which SQLite creates
    // with the database file's mode (an existing -wal or -shm is tightened too).
    for file in [path.to_path_buf(), suffixed(path, "-wal"), suffixed(path, "-shm")] {
        crate::private_fs::make_private(&file)?;
    }
    conn.busy_timeout(busy_timeout).db()?;
    conn.pragma_update(None, "journal_mode", "WAL").db()?;
    conn.pragma_update(None, "synchronous", "NORMAL").db()?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn suffixed(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let migrations = migrations();
    let current: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0)).db()?;
    if current >= migrations.len() {
        return Ok(());
    }
    // IMMEDIATE takes the write lock first, so a second opener waits here and then re-reads the
    // version instead of applying the same migration again.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).db()?;
    let version: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0)).db()?;
    for (i, sql) in migrations.iter().enumerate().skip(version) {
        tx.execute_batch(sql).map_err(|e| StoreError::Other(format!("SQLite migration {} failed: {e}", i + 1)))?;
        tx.pragma_update(None, "user_version", i + 1).db()?;
    }
    tx.commit().db()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_of_the_first_release_gains_the_new_columns_and_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(REQUEST_LOG).unwrap();
            conn.execute_batch(ATTEMPT_LOG).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
        }
        let conn = open(&path, Duration::from_secs(1)).unwrap();
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, migrations().len());
        conn.execute("INSERT INTO policies (scope, name, limits, updated_at_ms, seq) VALUES ('team', 't', '{}', 1, 1)", []).unwrap();
        conn.prepare("SELECT key_id, team, cost_usd, cost_source, cache_status, cache_saved_usd FROM request_log").unwrap();
    }
}
