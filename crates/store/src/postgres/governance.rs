//! `GovernanceStore` in PostgreSQL (`tokio-postgres`). One client, used by one call at a time
//! (these calls are rare and never on the request path), replaced whenever its connection died,
//! and every call bounded by a timeout, so that an outage gives errors, not hangs, and ends by
//! itself when the database is back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::{timeout_at, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, GenericClient, IsolationLevel};

use switchyard_core::store::{
    Changes, GovernanceStore, KeyRecord, LogFilter, LogPage, LogSearch, Policy, Scope, SpendQuery, SpendRow, StoreError,
};

use crate::postgres::schema as pg_schema;
use crate::postgres::target::{pg_error, PgTarget};
use crate::sql::governance_rows::{
    self as rows, ALL_KEYS, ALL_POLICIES, KEYS_SINCE, KEY_BY_ID, KEY_BY_PREFIX, POLICIES_SINCE, POLICY_BY_NAME,
};
use crate::sql::{log_rows, pg_params, spend, Db, Dialect, SqlValue};

/// How long one call may take, waiting for the client and reconnecting included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct PostgresGovernance {
    inner: Arc<Inner>,
}

struct Inner {
    target: PgTarget,
    client: Mutex<Option<Client>>,
    timeout: Duration,
}

pub(crate) type Op<T> = Box<dyn for<'c> FnOnce(&'c mut Client) -> Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'c>> + Send>;

impl PostgresGovernance {
    /// Connects to a `postgres://` URL and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_timeout(url, DEFAULT_TIMEOUT).await
    }

    /// As `connect`, with `timeout` bounding every later call.
    pub async fn connect_with_timeout(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let target = PgTarget::parse(url)?;
        let migrating = target.clone();
        tokio::task::spawn_blocking(move || pg_schema::migrate(&mut migrating.connect_sync()?).map_err(|e| migrating.name_in(e)))
            .await
            .map_err(|e| StoreError::Other(format!("PostgreSQL migration task failed: {e}")))??;
        let client = target.connect_async().await?;
        Ok(Self { inner: Arc::new(Inner { target, client: Mutex::new(Some(client)), timeout }) })
    }

    pub(crate) async fn run<T>(&self, op: Op<T>) -> Result<T, StoreError> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.timeout;
        let mut slot = timeout_at(deadline, inner.client.lock()).await.map_err(|_| inner.target.timed_out(inner.timeout))?;
        let result = timeout_at(deadline, async {
            let client = match &mut *slot {
                Some(c) if !c.is_closed() => c,
                empty => empty.insert(inner.target.connect_async().await?),
            };
            op(client).await
        })
        .await;
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                // A driver error may be the first sign of a dead connection (the client notices
                // `is_closed` only later): start afresh. Answers like a conflict keep the client.
                if matches!(e, StoreError::Server(_)) {
                    *slot = None;
                }
                Err(inner.target.name_in(e))
            }
            Err(_) => {
                // The abandoned call may still be running on this connection: start afresh.
                *slot = None;
                Err(inner.target.timed_out(inner.timeout))
            }
        }
    }
}

async fn select<T>(
    client: &impl GenericClient,
    sql: &str,
    params: &[SqlValue],
    map: impl Fn(&tokio_postgres::Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    client.query(&Dialect::Postgres.sql(sql), &pg_params(params)).await.db()?.iter().map(map).collect()
}

async fn keys(client: &impl GenericClient, condition: &str, params: &[SqlValue]) -> Result<Vec<KeyRecord>, StoreError> {
    select(client, &rows::select_keys_sql(condition), params, rows::key_from_row).await
}

async fn policies(client: &impl GenericClient, condition: &str, params: &[SqlValue]) -> Result<Vec<Policy>, StoreError> {
    select(client, &rows::select_policies_sql(condition), params, rows::policy_from_row).await
}

async fn execute(client: &impl GenericClient, sql: &str, params: &[SqlValue]) -> Result<u64, tokio_postgres::Error> {
    client.execute(&Dialect::Postgres.sql(sql), &pg_params(params)).await
}

async fn next_seq(client: &impl GenericClient) -> Result<i64, StoreError> {
    Ok(client.query_one(rows::NEXT_SEQ, &[]).await.db()?.get(0))
}

#[async_trait::async_trait]
impl GovernanceStore for PostgresGovernance {
    async fn create_key(&self, mut key: KeyRecord) -> Result<KeyRecord, StoreError> {
        self.run(Box::new(move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.db()?;
                key.seq = next_seq(&tx).await?;
                if let Err(e) = execute(&tx, &rows::insert_key_sql(), &rows::key_params(&key)?).await {
                    return Err(match e.as_db_error() {
                        Some(db) if *db.code() == SqlState::UNIQUE_VIOLATION => {
                            rows::key_conflict(&key, db.constraint().unwrap_or_default())
                        }
                        _ => pg_error(e),
                    });
                }
                tx.commit().await.db()?;
                Ok(key)
            })
        }))
        .await
    }

    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let id = SqlValue::text(id);
        self.run(Box::new(move |client| Box::pin(async move { Ok(keys(client, KEY_BY_ID, &[id]).await?.pop()) }))).await
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.run(Box::new(|client| Box::pin(async move { keys(client, ALL_KEYS, &[]).await }))).await
    }

    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<KeyRecord>, StoreError> {
        let prefix = SqlValue::text(prefix);
        self.run(Box::new(move |client| Box::pin(async move { Ok(keys(client, KEY_BY_PREFIX, &[prefix]).await?.pop()) }))).await
    }

    async fn revoke_key(&self, id: &str, at_ms: i64) -> Result<Option<KeyRecord>, StoreError> {
        let id = SqlValue::text(id);
        self.run(Box::new(move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.db()?;
                let seq = next_seq(&tx).await?;
                execute(&tx, rows::REVOKE_KEY, &[id.clone(), SqlValue::Int(Some(at_ms)), SqlValue::Int(Some(seq))]).await.db()?;
                let key = keys(&tx, KEY_BY_ID, &[id]).await?.pop();
                tx.commit().await.db()?;
                Ok(key)
            })
        }))
        .await
    }

    async fn put_policy(&self, mut policy: Policy) -> Result<Policy, StoreError> {
        self.run(Box::new(move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.db()?;
                policy.seq = next_seq(&tx).await?;
                execute(&tx, &rows::upsert_policy_sql(), &rows::policy_params(&policy)?).await.db()?;
                tx.commit().await.db()?;
                Ok(policy)
            })
        }))
        .await
    }

    async fn get_policy(&self, scope: Scope, name: &str) -> Result<Option<Policy>, StoreError> {
        let params = [SqlValue::text(scope.as_str()), SqlValue::text(name)];
        self.run(Box::new(move |client| Box::pin(async move { Ok(policies(client, POLICY_BY_NAME, &params).await?.pop()) }))).await
    }

    async fn list_policies(&self) -> Result<Vec<Policy>, StoreError> {
        self.run(Box::new(|client| Box::pin(async move { policies(client, ALL_POLICIES, &[]).await }))).await
    }

    async fn changes_since(&self, since: i64) -> Result<Changes, StoreError> {
        self.run(Box::new(move |client| {
            Box::pin(async move {
                // One snapshot for both queries, so a write between them cannot be half seen.
                let tx = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await.db()?;
                let since_param = [SqlValue::Int(Some(since))];
                let keys = keys(&tx, KEYS_SINCE, &since_param).await?;
                let policies = policies(&tx, POLICIES_SINCE, &since_param).await?;
                tx.commit().await.db()?;
                let seq = rows::max_seq(since, &keys, &policies);
                Ok(Changes { keys, policies, seq })
            })
        }))
        .await
    }

    async fn spend(&self, query: &SpendQuery) -> Result<Vec<SpendRow>, StoreError> {
        let (sql, params) = spend::spend_sql(Dialect::Postgres, query);
        let group_by = query.group_by.clone();
        self.run(Box::new(move |client| {
            Box::pin(async move { select(client, &sql, &params, |r| spend::spend_from_row(r, &group_by)).await })
        }))
        .await
    }
}

#[async_trait::async_trait]
impl LogSearch for PostgresGovernance {
    async fn search_logs(&self, filter: &LogFilter) -> Result<LogPage, StoreError> {
        let (sql, params) = log_rows::search_sql(Dialect::Postgres, filter);
        let rows =
            self.run(Box::new(move |client| Box::pin(async move { select(client, &sql, &params, log_rows::from_row).await }))).await?;
        Ok(LogPage::from_overfetch(rows, filter.limit))
    }
}
