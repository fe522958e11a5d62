//! The request log in SQLite (WAL mode): idempotent batch inserts and queries. The schema and its
//! migrations are in `sqlite::schema`, shared with the governance store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use switchyard_core::store::{LogFilter, LogPage, LogQuery, LogRecord, LogSink, StoreError};

use crate::sql::{log_rows, sqlite_rows, Db, Dialect};
use crate::sqlite::schema as sqlite_schema;

pub struct SqliteLog {
    conn: Connection,
    path: PathBuf,
}

impl SqliteLog {
    /// Opens (creating if needed) and migrates. `busy_timeout` bounds how long a write waits on
    /// a locked database before it counts as a failure (and the batch goes to the spool).
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        let conn = sqlite_schema::open(path, busy_timeout)?;
        Ok(Self { conn, path: path.to_path_buf() })
    }

    /// Opens an existing database for reading (the `logs` command).
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).db()?;
        conn.busy_timeout(Duration::from_secs(5)).db()?;
        Ok(Self { conn, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn query(&self, q: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
        let (sql, params) = log_rows::query_sql(Dialect::Sqlite, q);
        let mut stmt = self.conn.prepare(&sql).db()?;
        sqlite_rows(&mut stmt, &params, |row| log_rows::from_row(row))
    }

    /// A page of a log search (the `logs` command; the server searches through the governance
    /// store's connection).
    pub fn search(&self, filter: &LogFilter) -> Result<LogPage, StoreError> {
        search(&self.conn, filter)
    }

    pub fn count(&self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM request_log", [], |r| r.get::<_, i64>(0)).db()? as u64)
    }
}

pub(crate) fn search(conn: &Connection, filter: &LogFilter) -> Result<LogPage, StoreError> {
    let (sql, params) = log_rows::search_sql(Dialect::Sqlite, filter);
    let mut stmt = conn.prepare_cached(&sql).db()?;
    Ok(LogPage::from_overfetch(sqlite_rows(&mut stmt, &params, |row| log_rows::from_row(row))?, filter.limit))
}

impl LogSink for SqliteLog {
    /// One prepared single-row insert per record inside one transaction: in SQLite that is as
    /// fast as a multi-row insert and keeps the statement cached.
    fn insert(&mut self, records: &[LogRecord]) -> Result<(), StoreError> {
        let tx = self.conn.transaction().db()?;
        {
            let mut stmt = tx.prepare_cached(&log_rows::insert_sql(Dialect::Sqlite, 1)).db()?;
            for r in records {
                stmt.execute(rusqlite::params_from_iter(log_rows::params(r)?)).db()?;
            }
        }
        tx.commit().db()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, ms: i64, model: &str, customer: Option<&str>) -> LogRecord {
        LogRecord {
            request_id: id.into(),
            started_at: switchyard_core::time::rfc3339(ms),
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

#[cfg(test)]
mod search_plan_tests {
    use super::*;
    use switchyard_core::store::LogCursor;

    /// The plan SQLite picks for a search, one line per step.
    fn plan(log: &SqliteLog, filter: &LogFilter) -> String {
        let (sql, params) = log_rows::search_sql(Dialect::Sqlite, filter);
        let mut stmt = log.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn pages_read_the_keyset_index_in_order_and_filters_use_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let log = SqliteLog::open(&dir.path().join("db.sqlite"), Duration::from_millis(100)).unwrap();
        let after = Some(LogCursor { started_at_ms: 5, request_id: "r".into() });
        let page = plan(&log, &LogFilter { limit: 50, after, ..LogFilter::default() });
        assert!(page.contains("request_log_started_id") && !page.contains("TEMP B-TREE"), "{page}");
        let served = plan(&log, &LogFilter { limit: 50, provider: Some("openai".into()), ..LogFilter::default() });
        assert!(served.contains("request_log_provider") || served.contains("request_log_started_id"), "{served}");
    }
}
