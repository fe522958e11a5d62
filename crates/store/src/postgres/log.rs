//! The request log in PostgreSQL, for the writer's own thread (blocking `postgres` client).
//! Inserts are multi-row and idempotent by request id, one transaction per batch. A broken
//! connection fails that batch (the writer spools it) and is replaced on the next insert.

use switchyard_core::store::{LogFilter, LogPage, LogQuery, LogRecord, LogSink, StoreError};

use crate::postgres::schema as pg_schema;
use crate::postgres::target::{off_runtime, PgTarget};
use crate::sql::{log_rows, pg_params, Db, Dialect};

pub struct PostgresLog {
    target: PgTarget,
    /// `None` after a failure: the next call connects afresh.
    client: Option<postgres::Client>,
}

impl PostgresLog {
    /// Connects to a `postgres://` URL and applies pending migrations. Callable from async code
    /// too (the blocking work then runs on a scoped thread).
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let target = PgTarget::parse(url)?;
        let mut log = Self { client: Some(target.connect_sync()?), target };
        log.with_client(pg_schema::migrate)?;
        Ok(log)
    }

    /// Newest first, filtered as `LogQuery` says (the `logs` command).
    pub fn query(&mut self, q: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
        let (sql, params) = log_rows::query_sql(Dialect::Postgres, q);
        self.with_client(|client| client.query(&sql, &pg_params(&params)).db()?.iter().map(log_rows::from_row).collect())
    }

    /// A page of a log search (the `logs` command).
    pub fn search(&mut self, filter: &LogFilter) -> Result<LogPage, StoreError> {
        let (sql, params) = log_rows::search_sql(Dialect::Postgres, filter);
        let rows = self.with_client(|client| client.query(&sql, &pg_params(&params)).db()?.iter().map(log_rows::from_row).collect())?;
        Ok(LogPage::from_overfetch(rows, filter.limit))
    }

    pub fn count(&mut self) -> Result<u64, StoreError> {
        self.with_client(|client| Ok(client.query_one("SELECT COUNT(*) FROM request_log", &[]).db()?.get::<_, i64>(0).max(0) as u64))
    }

    /// Runs `op` on a live client, connecting first if the last one failed; after a failure the
    /// client is dropped so that an outage never leaves a dead connection in place.
    fn with_client<T: Send>(&mut self, op: impl FnOnce(&mut postgres::Client) -> Result<T, StoreError> + Send) -> Result<T, StoreError> {
        if self.client.as_ref().is_some_and(postgres::Client::is_closed) {
            self.close();
        }
        let client = match &mut self.client {
            Some(c) => c,
            empty => empty.insert(self.target.connect_sync()?),
        };
        let result = off_runtime(|| op(client));
        if result.is_err() {
            self.close();
        }
        result.map_err(|e| self.target.name_in(e))
    }

    /// Closing the blocking client blocks too (it says goodbye to the server).
    fn close(&mut self) {
        if let Some(client) = self.client.take() {
            off_runtime(move || drop(client));
        }
    }
}

impl Drop for PostgresLog {
    fn drop(&mut self) {
        self.close();
    }
}

impl LogSink for PostgresLog {
    fn insert(&mut self, records: &[LogRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        self.with_client(|client| {
            let mut tx = client.transaction().db()?;
            for chunk in records.chunks(log_rows::MAX_ROWS_PER_INSERT) {
                let params = log_rows::batch_params(chunk)?;
                tx.execute(&log_rows::insert_sql(Dialect::Postgres, chunk.len()), &pg_params(&params)).db()?;
            }
            tx.commit().db()
        })
    }
}
