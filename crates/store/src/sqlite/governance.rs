//! `GovernanceStore` in SQLite: its own connection to the WAL database file the log writer uses,
//! each call on a blocking thread. Writes take the write lock up front (`BEGIN IMMEDIATE`) and
//! wait up to `BUSY_TIMEOUT` for the log writer's transaction to finish.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use switchyard_core::store::{
    Changes, GovernanceStore, KeyRecord, LogFilter, LogPage, LogSearch, Policy, Scope, SpendQuery, SpendRow, StoreError,
};

use crate::sql::governance_rows::{
    self as rows, ALL_KEYS, ALL_POLICIES, KEYS_SINCE, KEY_BY_ID, KEY_BY_PREFIX, POLICIES_SINCE, POLICY_BY_NAME,
};
use crate::sql::{spend, sqlite_error, sqlite_rows, Db, Dialect, SqlValue};
use crate::sqlite::schema as sqlite_schema;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct SqliteGovernance {
    conn: Arc<Mutex<Connection>>,
    /// A read-only connection of its own for log searches, so that a long search (a text scan)
    /// never holds up key and policy reads (WAL readers do not wait for each other).
    searches: Arc<Mutex<Connection>>,
}

impl SqliteGovernance {
    /// Opens (creating and migrating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = sqlite_schema::open(path, BUSY_TIMEOUT)?;
        let searches = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).db()?;
        searches.busy_timeout(BUSY_TIMEOUT).db()?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)), searches: Arc::new(Mutex::new(searches)) })
    }

    pub(crate) async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves the connection itself intact.
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            op(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Other(format!("SQLite governance task failed: {e}")))?
    }
}

fn select<T>(
    conn: &Connection,
    sql: &str,
    params: &[SqlValue],
    map: impl Fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    sqlite_rows(&mut stmt, params, map)
}

fn keys(conn: &Connection, condition: &str, params: &[SqlValue]) -> Result<Vec<KeyRecord>, StoreError> {
    select(conn, &rows::select_keys_sql(condition), params, |r| rows::key_from_row(r))
}

fn policies(conn: &Connection, condition: &str, params: &[SqlValue]) -> Result<Vec<Policy>, StoreError> {
    select(conn, &rows::select_policies_sql(condition), params, |r| rows::policy_from_row(r))
}

fn write_tx(conn: &mut Connection) -> Result<(rusqlite::Transaction<'_>, i64), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).db()?;
    let seq = tx.query_row(rows::NEXT_SEQ, [], |r| r.get(0)).db()?;
    Ok((tx, seq))
}

#[async_trait::async_trait]
impl GovernanceStore for SqliteGovernance {
    async fn create_key(&self, mut key: KeyRecord) -> Result<KeyRecord, StoreError> {
        self.run(move |conn| {
            let (tx, seq) = write_tx(conn)?;
            key.seq = seq;
            match tx.execute(&rows::insert_key_sql(), rusqlite::params_from_iter(rows::key_params(&key)?)) {
                Err(rusqlite::Error::SqliteFailure(e, Some(msg))) if e.code == ErrorCode::ConstraintViolation => {
                    Err(rows::key_conflict(&key, &msg))
                }
                other => other.map_err(sqlite_error),
            }?;
            tx.commit().db()?;
            Ok(key)
        })
        .await
    }

    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let id = SqlValue::text(id);
        self.run(move |conn| Ok(keys(conn, KEY_BY_ID, &[id])?.pop())).await
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.run(|conn| keys(conn, ALL_KEYS, &[])).await
    }

    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<KeyRecord>, StoreError> {
        let prefix = SqlValue::text(prefix);
        self.run(move |conn| Ok(keys(conn, KEY_BY_PREFIX, &[prefix])?.pop())).await
    }

    async fn revoke_key(&self, id: &str, at_ms: i64) -> Result<Option<KeyRecord>, StoreError> {
        let id = SqlValue::text(id);
        self.run(move |conn| {
            let (tx, seq) = write_tx(conn)?;
            tx.execute(rows::REVOKE_KEY, rusqlite::params_from_iter([id.clone(), SqlValue::Int(Some(at_ms)), SqlValue::Int(Some(seq))]))
                .db()?;
            let key = keys(&tx, KEY_BY_ID, &[id])?.pop();
            tx.commit().db()?;
            Ok(key)
        })
        .await
    }

    async fn put_policy(&self, mut policy: Policy) -> Result<Policy, StoreError> {
        self.run(move |conn| {
            let (tx, seq) = write_tx(conn)?;
            policy.seq = seq;
            tx.execute(&rows::upsert_policy_sql(), rusqlite::params_from_iter(rows::policy_params(&policy)?)).db()?;
            tx.commit().db()?;
            Ok(policy)
        })
        .await
    }

    async fn get_policy(&self, scope: Scope, name: &str) -> Result<Option<Policy>, StoreError> {
        let params = [SqlValue::text(scope.as_str()), SqlValue::text(name)];
        self.run(move |conn| Ok(policies(conn, POLICY_BY_NAME, &params)?.pop())).await
    }

    async fn list_policies(&self) -> Result<Vec<Policy>, StoreError> {
        self.run(|conn| policies(conn, ALL_POLICIES, &[])).await
    }

    async fn changes_since(&self, since: i64) -> Result<Changes, StoreError> {
        self.run(move |conn| {
            // One read transaction: both queries see the same snapshot.
            let tx = conn.transaction().db()?;
            let since_param = [SqlValue::Int(Some(since))];
            let keys = keys(&tx, KEYS_SINCE, &since_param)?;
            let policies = policies(&tx, POLICIES_SINCE, &since_param)?;
            tx.commit().db()?;
            let seq = rows::max_seq(since, &keys, &policies);
            Ok(Changes { keys, policies, seq })
        })
        .await
    }

    async fn spend(&self, query: &SpendQuery) -> Result<Vec<SpendRow>, StoreError> {
        let (sql, params) = spend::spend_sql(Dialect::Sqlite, query);
        let group_by = query.group_by.clone();
        self.run(move |conn| select(conn, &sql, &params, |r| spend::spend_from_row(r, &group_by))).await
    }
}

/// Searches run on their own read-only connection (the log writer's is its own thread's).
#[async_trait::async_trait]
impl LogSearch for SqliteGovernance {
    async fn search_logs(&self, filter: &LogFilter) -> Result<LogPage, StoreError> {
        let (filter, searches) = (filter.clone(), self.searches.clone());
        tokio::task::spawn_blocking(move || {
            let conn = searches.lock().unwrap_or_else(|p| p.into_inner());
            crate::sqlite::log::search(&conn, &filter)
        })
        .await
        .map_err(|e| StoreError::Other(format!("SQLite log search task failed: {e}")))?
    }
}
