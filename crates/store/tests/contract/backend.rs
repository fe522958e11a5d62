//! The backends under test, each on fresh storage: SQLite in a temp dir, PostgreSQL in a fresh
//! schema of the database at `SWITCHYARD_TEST_POSTGRES_URL` (dropped afterwards).

use std::sync::Arc;

use switchyard_core::store::{GovernanceStore, LogQuery, LogRecord, LogSearch, LogSink, ResponseStore, StoreError};

use switchyard_store::{PostgresGovernance, PostgresLog, SqliteGovernance, SqliteLog};

pub struct Backend {
    pub gov: Arc<dyn GovernanceStore>,
    pub responses: Arc<dyn ResponseStore>,
    pub search: Arc<dyn LogSearch>,
    pub log: Log,
}

pub enum Log {
    Sqlite(SqliteLog),
    Postgres(Box<PostgresLog>),
}

impl Log {
    pub fn insert(&mut self, records: &[LogRecord]) -> Result<(), StoreError> {
        match self {
            Log::Sqlite(l) => l.insert(records),
            Log::Postgres(l) => l.insert(records),
        }
    }

    pub fn query(&mut self, q: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
        match self {
            Log::Sqlite(l) => l.query(q),
            Log::Postgres(l) => l.query(q),
        }
    }
}

/// Where a backend keeps its data; reopening it runs the migrations again.
pub enum Storage {
    Sqlite(tempfile::TempDir),
    Postgres(PgSchema),
}

impl Storage {
    pub async fn open(&self) -> Backend {
        match self {
            Storage::Sqlite(dir) => {
                let path = dir.path().join("switchyard.db");
                // The log writer opens first in the server; either order must work.
                let log = SqliteLog::open(&path, std::time::Duration::from_secs(5)).expect("open SQLite log");
                let gov = Arc::new(SqliteGovernance::open(&path).expect("open SQLite governance"));
                Backend { gov: gov.clone(), responses: gov.clone(), search: gov, log: Log::Sqlite(log) }
            }
            Storage::Postgres(schema) => {
                let gov = Arc::new(PostgresGovernance::connect(&schema.url).await.expect("connect PostgreSQL governance"));
                let log = PostgresLog::connect(&schema.url).expect("connect PostgreSQL log");
                Backend { gov: gov.clone(), responses: gov.clone(), search: gov, log: Log::Postgres(Box::new(log)) }
            }
        }
    }
}

impl Storage {
    pub fn sqlite() -> Self {
        Storage::Sqlite(tempfile::tempdir().expect("temp dir"))
    }

    /// `None` when PostgreSQL is skipped on purpose.
    pub async fn postgres() -> Option<Self> {
        Some(Storage::Postgres(PgSchema::create().await?))
    }
}

pub fn postgres_url() -> Option<String> {
    super::services::required_url(
        "SWITCHYARD_TEST_POSTGRES_URL",
        "SWITCHYARD_SKIP_POSTGRES",
        "the PostgreSQL contract tests",
        "e.g. postgres://postgres@127.0.0.1:5432/test",
    )
}

/// A fresh schema; `url` connects with it as the search path.
pub struct PgSchema {
    pub name: String,
    pub url: String,
    pub admin_url: String,
}

impl PgSchema {
    pub async fn create() -> Option<Self> {
        let admin_url = postgres_url()?;
        let name = format!("sy_test_{:016x}", fastrand::u64(..));
        admin(&admin_url).await.batch_execute(&format!("CREATE SCHEMA {name}")).await.expect("create test schema");
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{sep}options=-c%20search_path%3D{name}&application_name={name}");
        Some(Self { name, url, admin_url })
    }

    /// Ends every connection the store under test holds (they carry the schema's name).
    pub async fn terminate_connections(&self) -> u64 {
        let sql = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1";
        admin(&self.admin_url).await.query_one(sql, &[&self.name]).await.expect("terminate backends").get::<_, i64>(0) as u64
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, sql) = (self.admin_url.clone(), format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        // Drop runs inside the test's runtime, where the blocking client may not run.
        let dropped = std::thread::spawn(move || postgres::Client::connect(&url, postgres::NoTls)?.batch_execute(&sql)).join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}", self.name);
        }
    }
}

/// A plain connection to the test database, for setting up and inspecting.
pub async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect to the test PostgreSQL");
    tokio::spawn(connection);
    client
}
