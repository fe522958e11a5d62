//! The request log in SQLite (WAL mode): embedded migrations, idempotent batch inserts, queries.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags};

use super::{LogQuery, LogRecord, LogSink};
use crate::StoreError;

const MIGRATIONS: &[&str] = &[r#"
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
"#, r#"
ALTER TABLE request_log ADD COLUMN attempt_log TEXT NOT NULL DEFAULT '[]';
"#];

const COLUMNS: &str = "request_id, started_at, started_at_ms, customer_identifier, metadata, feature, requested_model, \
    provider, model, status, outcome, error_type, error_message, latency_ms, ttft_ms, input_tokens, output_tokens, \
    cached_tokens, reasoning_tokens, stream, attempts, request_body, response_body, attempt_log";

pub struct SqliteLog {
    conn: Connection,
    path: PathBuf,
}

impl SqliteLog {
    /// Opens (creating if needed) and migrates. `busy_timeout` bounds how long a write waits on
    /// a locked database before it counts as a failure (and the batch goes to the spool).
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(busy_timeout)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            conn.execute_batch(sql)?;
            conn.pragma_update(None, "user_version", i + 1)?;
        }
        Ok(Self { conn, path: path.to_path_buf() })
    }

    /// Opens an existing database for reading (the `logs` command).
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(Self { conn, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn query(&self, q: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM request_log \
             WHERE (?1 IS NULL OR requested_model = ?1 OR model = ?1 OR (provider || '/' || model) = ?1) \
             AND (?2 IS NULL OR customer_identifier = ?2) \
             ORDER BY started_at_ms DESC, request_id DESC LIMIT ?3"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![q.model, q.customer, q.limit as i64], |row| {
            let metadata: String = row.get(4)?;
            Ok(LogRecord {
                request_id: row.get(0)?,
                started_at: row.get(1)?,
                started_at_ms: row.get(2)?,
                customer_identifier: row.get(3)?,
                metadata: serde_json::from_str(&metadata).unwrap_or_default(),
                feature: row.get(5)?,
                requested_model: row.get(6)?,
                provider: row.get(7)?,
                model: row.get(8)?,
                status: row.get(9)?,
                outcome: row.get(10)?,
                error_type: row.get(11)?,
                error_message: row.get(12)?,
                latency_ms: row.get(13)?,
                ttft_ms: row.get(14)?,
                input_tokens: row.get::<_, i64>(15)? as u64,
                output_tokens: row.get::<_, i64>(16)? as u64,
                cached_tokens: row.get::<_, i64>(17)? as u64,
                reasoning_tokens: row.get::<_, i64>(18)? as u64,
                stream: row.get(19)?,
                attempts: row.get(20)?,
                request_body: row.get(21)?,
                response_body: row.get(22)?,
                attempt_log: serde_json::from_str(&row.get::<_, String>(23)?).unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn count(&self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM request_log", [], |r| r.get::<_, i64>(0))? as u64)
    }
}

impl LogSink for SqliteLog {
    fn insert(&mut self, records: &[LogRecord]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(&format!(
                "INSERT OR IGNORE INTO request_log ({COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
            ))?;
            for r in records {
                let metadata = serde_json::to_string(&r.metadata).map_err(|e| StoreError::Other(e.to_string()))?;
                let attempt_log = serde_json::to_string(&r.attempt_log).map_err(|e| StoreError::Other(e.to_string()))?;
                stmt.execute(params![
                    r.request_id, r.started_at, r.started_at_ms, r.customer_identifier, metadata, r.feature,
                    r.requested_model, r.provider, r.model, r.status, r.outcome, r.error_type, r.error_message,
                    r.latency_ms, r.ttft_ms, r.input_tokens as i64, r.output_tokens as i64, r.cached_tokens as i64,
                    r.reasoning_tokens as i64, r.stream, r.attempts, r.request_body, r.response_body, attempt_log,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, ms: i64, model: &str, customer: Option<&str>) -> LogRecord {
        LogRecord {
            request_id: id.into(),
            started_at: crate::time::rfc3339(ms),
            started_at_ms: ms,
            requested_model: model.into(),
            customer_identifier: customer.map(Into::into),
            metadata: [("team".to_string(), "search".to_string())].into(),
            status: 200,
            outcome: "ok".into(),
            input_tokens: 7,
            ..LogRecord::default()
        }
    }

    #[test]
    fn inserts_are_idempotent_and_queries_filter() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = SqliteLog::open(&dir.path().join("db.sqlite"), Duration::from_millis(100)).unwrap();
        log.insert(&[record("a", 1, "mock/echo", Some("c1")), record("b", 2, "up/x", Some("c2"))]).unwrap();
        log.insert(&[record("a", 1, "mock/echo", Some("c1")), record("c", 3, "mock/echo", None)]).unwrap();
        assert_eq!(log.count().unwrap(), 3);
        let all = log.query(&LogQuery { limit: 10, ..Default::default() }).unwrap();
        assert_eq!(all.iter().map(|r| r.request_id.as_str()).collect::<Vec<_>>(), ["c", "b", "a"]);
        assert_eq!(all[2], record("a", 1, "mock/echo", Some("c1")));
        let q = LogQuery { limit: 10, model: Some("mock/echo".into()), customer: Some("c1".into()) };
        assert_eq!(log.query(&q).unwrap().len(), 1);
        // Reopening runs no migration twice.
        drop(log);
        let log = SqliteLog::open(&dir.path().join("db.sqlite"), Duration::from_millis(100)).unwrap();
        assert_eq!(log.count().unwrap(), 3);
    }
}
