//! `VectorIndex` in PostgreSQL with the pgvector extension, shared by every instance that uses
//! the same database. One table, `semantic_entries`; a lookup is an exact scan of one scope (its
//! rows found through the `(scope, expires_at_ms)` index), ordered by cosine distance. Vectors are
//! sent as pgvector's text literal (`[0.1,0.2,…]`), so no extra client crate is needed.
//!
//! A few connections are used in turn, each with its statements prepared once, so lookups on
//! the request path neither queue behind one connection nor pay for parsing. Every call is
//! bounded by a timeout; a dead connection is replaced by the next call that draws it.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Statement};

use switchyard_core::store::{StoreError, VectorIndex};

use crate::postgres::target::{pg_error, PgTarget};
use crate::sql::Db;

/// How long one call may take, reconnecting included. A lookup is on the request path: a slow
/// index is no match, not a wait.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Creating the extension and the table at startup.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECTIONS: usize = 4;
/// Expired rows deleted per insert: enough to keep up with inserts, small enough to stay cheap.
const PURGE_BATCH: i64 = 64;

/// Instances starting at once create the extension and the table one after the other (both
/// `IF NOT EXISTS` statements can still collide when run concurrently).
const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('switchyard.semantic_entries'))";

#[derive(Clone)]
pub struct PgVectorIndex {
    inner: Arc<Inner>,
}

struct Inner {
    target: PgTarget,
    sql: Statements,
    slots: Vec<Mutex<Option<Arc<Connection>>>>,
    next: AtomicUsize,
    timeout: Duration,
}

/// The statements' text, with pgvector's type, operator and function qualified by the schema the
/// extension lives in, so that they work whatever the connection's `search_path`.
struct Statements {
    insert: String,
    nearest: String,
    purge: String,
}

struct Connection {
    client: Client,
    insert: Statement,
    nearest: Statement,
    purge: Statement,
}

impl PgVectorIndex {
    /// Connects to a `postgres://` URL, creates the `vector` extension when it is missing (which
    /// needs a user allowed to) and the `semantic_entries` table.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_timeout(url, DEFAULT_TIMEOUT).await
    }

    /// As `connect`, with `limit` bounding every later call.
    pub async fn connect_with_timeout(url: &str, limit: Duration) -> Result<Self, StoreError> {
        let target = PgTarget::parse(url)?;
        let opening = async {
            let sql = Statements::new(&set_up(&target).await?);
            let slots = (0..CONNECTIONS).map(|_| Mutex::new(None)).collect();
            let inner = Inner { target: target.clone(), sql, slots, next: AtomicUsize::new(0), timeout: limit };
            // One connection now, so that a statement pgvector rejects fails at startup.
            inner.connection().await?;
            Ok(Self { inner: Arc::new(inner) })
        };
        match timeout(SETUP_TIMEOUT, opening).await {
            Ok(result) => result.map_err(|e| target.name_in(e)),
            Err(_) => Err(target.timed_out(SETUP_TIMEOUT)),
        }
    }
}

/// Creates what is missing; returns the schema of the extension, quoted for SQL.
async fn set_up(target: &PgTarget) -> Result<String, StoreError> {
    let mut client = target.connect_async().await?;
    let tx = client.transaction().await.db()?;
    tx.batch_execute(LOCK).await.db()?;
    if let Err(e) = tx.batch_execute("CREATE EXTENSION IF NOT EXISTS vector").await {
        let code = e.code().cloned();
        let e = pg_error(e);
        return Err(match code {
            Some(c) if c == SqlState::FEATURE_NOT_SUPPORTED || c == SqlState::UNDEFINED_FILE => {
                StoreError::Server(format!("pgvector is not installed on this PostgreSQL: {e}"))
            }
            Some(c) if c == SqlState::INSUFFICIENT_PRIVILEGE => StoreError::Server(format!(
                "cannot create the pgvector extension (run `CREATE EXTENSION vector` once as a privileged user): {e}"
            )),
            _ => e,
        });
    }
    let schema: String =
        tx.query_one("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'vector'", &[]).await.db()?.get(0);
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS semantic_entries (
            scope TEXT NOT NULL,
            entry_key TEXT NOT NULL,
            embedding {schema}.vector NOT NULL,
            expires_at_ms BIGINT NOT NULL,
            PRIMARY KEY (scope, entry_key)
        );
        CREATE INDEX IF NOT EXISTS semantic_entries_scope ON semantic_entries (scope, expires_at_ms);
        CREATE INDEX IF NOT EXISTS semantic_entries_expiry ON semantic_entries (expires_at_ms);"
    ))
    .await
    .db()?;
    tx.commit().await.db()?;
    Ok(schema)
}

impl Statements {
    fn new(schema: &str) -> Self {
        let vector = format!("$2::text::{schema}.vector");
        let distance = format!("embedding OPERATOR({schema}.<=>) {vector}");
        Self {
            insert: format!(
                "INSERT INTO semantic_entries (scope, entry_key, embedding, expires_at_ms) VALUES ($1::text, $3::text, {vector}, $4::bigint) \
                 ON CONFLICT (scope, entry_key) DO UPDATE SET embedding = EXCLUDED.embedding, expires_at_ms = EXCLUDED.expires_at_ms"
            ),
            // Only vectors of the query's dimensions: pgvector refuses to compare others.
            nearest: format!(
                "SELECT entry_key, 1 - ({distance}) FROM semantic_entries \
                 WHERE scope = $1::text AND expires_at_ms > $3::bigint AND {schema}.vector_dims(embedding) = $4::integer \
                 ORDER BY {distance} LIMIT 1"
            ),
            purge: format!(
                "DELETE FROM semantic_entries WHERE ctid = ANY(ARRAY(SELECT ctid FROM semantic_entries WHERE expires_at_ms <= $1::bigint LIMIT {PURGE_BATCH}))"
            ),
        }
    }
}

impl Connection {
    async fn open(target: &PgTarget, sql: &Statements) -> Result<Self, StoreError> {
        let client = target.connect_async().await?;
        let (insert, nearest, purge) =
            tokio::try_join!(client.prepare(&sql.insert), client.prepare(&sql.nearest), client.prepare(&sql.purge)).db()?;
        Ok(Self { client, insert, nearest, purge })
    }
}

impl Inner {
    /// The next connection in turn, opened when it is missing or dead.
    async fn connection(&self) -> Result<(usize, Arc<Connection>), StoreError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().await;
        match &*slot {
            Some(c) if !c.client.is_closed() => Ok((i, c.clone())),
            _ => {
                let c = Arc::new(Connection::open(&self.target, &self.sql).await?);
                *slot = Some(c.clone());
                Ok((i, c))
            }
        }
    }

    /// Runs `op` on a connection, both bounded by the timeout.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<Connection>) -> Fut,
        Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let deadline = Instant::now() + self.timeout;
        let (i, conn) = match timeout_at(deadline, self.connection()).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => return Err(self.target.name_in(e)),
            Err(_) => return Err(self.target.timed_out(self.timeout)),
        };
        match timeout_at(deadline, op(conn.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.target.name_in(pg_error(e))),
            Err(_) => {
                self.forget(i, &conn);
                Err(self.target.timed_out(self.timeout))
            }
        }
    }

    /// Drops a connection whose call timed out (the server may be gone without the client
    /// knowing yet), unless it was already replaced; never waits for the slot.
    fn forget(&self, i: usize, conn: &Arc<Connection>) {
        if let Ok(mut slot) = self.slots[i].try_lock() {
            if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
                *slot = None;
            }
        }
    }
}

/// pgvector's text form of a vector: `[0.1,0.2,…]` (Rust prints `f32` in full, never as NaN here).
fn literal(vector: &[f32]) -> String {
    let mut text = String::with_capacity(vector.len() * 12 + 2);
    text.push('[');
    for (i, x) in vector.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let _ = write!(text, "{x}");
    }
    text.push(']');
    text
}

#[async_trait::async_trait]
impl VectorIndex for PgVectorIndex {
    async fn insert(&self, scope: &str, vector: Vec<f32>, entry_key: String, expires_at_ms: i64, now_ms: i64) -> Result<bool, StoreError> {
        let Some(unit) = normalised(&vector) else { return Ok(false) };
        let text = literal(&unit);
        self.inner
            .run(|c| async move {
                // Sent together on the connection: one round trip for both.
                let stored = [&scope as &(dyn tokio_postgres::types::ToSql + Sync), &text, &entry_key, &expires_at_ms];
                let purge = [&now_ms as &(dyn tokio_postgres::types::ToSql + Sync)];
                tokio::try_join!(c.client.execute(&c.insert, &stored), c.client.execute(&c.purge, &purge)).map(|_| true)
            })
            .await
    }

    async fn nearest(&self, scope: &str, vector: &[f32], threshold: f32, now_ms: i64) -> Result<Option<(String, f32)>, StoreError> {
        let Some(unit) = normalised(vector) else { return Ok(None) };
        let Ok(dims) = i32::try_from(unit.len()) else { return Ok(None) };
        let text = literal(&unit);
        let row = self.inner.run(|c| async move { c.client.query_opt(&c.nearest, &[&scope, &text, &now_ms, &dims]).await }).await?;
        Ok(row.and_then(|row| {
            let similarity = (row.get::<_, f64>(1) as f32).min(1.0);
            (similarity >= threshold).then(|| (row.get(0), similarity))
        }))
    }
}

/// `vector` scaled to unit length; `None` when it has no direction.
fn normalised(vector: &[f32]) -> Option<Vec<f32>> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm.is_finite() && norm > 0.0).then(|| vector.iter().map(|x| x / norm).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_sent_as_pgvector_text() {
        assert_eq!(literal(&[0.5, -0.25, 1.0, 0.0000001]), "[0.5,-0.25,1,0.0000001]");
        assert_eq!(literal(&[]), "[]");
    }

    #[test]
    fn statements_name_the_extension_schema() {
        let sql = Statements::new("ext");
        assert!(sql.nearest.contains("OPERATOR(ext.<=>) $2::text::ext.vector"), "{}", sql.nearest);
        assert!(sql.nearest.contains("ext.vector_dims(embedding) = $4::integer"), "{}", sql.nearest);
    }
}
