//! Storage, one trait per concern with its implementations: the request log (`LogSink`) and the
//! writer that keeps it off the request path; keys, policies and spend (`GovernanceStore`); shared
//! counters for limits and budgets (`CounterStore`); response-cache entries (`CacheStore`) and the
//! semantic cache's vectors (`VectorIndex`).

pub mod cache;
pub mod counters;
pub mod governance;
pub mod log;
mod sql;
pub mod time;
pub mod vectors;

pub use cache::{CacheStore, MemoryCache, RedisCache};
pub use counters::{
    Admit, BudgetItem, BudgetSettle, CounterStore, MemoryCounters, RateAdjust, RateItem, RateState, RedisCounters, Settle, SlotItem,
    Verdict,
};
pub use governance::{
    Budget, Changes, GovernanceStore, GroupBy, KeyRecord, Limits, Policy, PostgresGovernance, Scope, SpendQuery, SpendRow,
    SqliteGovernance, Window,
};

pub use vectors::{PgVectorIndex, VectorIndex};

pub use log::{AttemptDetail, LogHandle, LogQuery, LogRecord, LogSink, LogWriter, LogWriterConfig, MemoryLog, PostgresLog, SqliteLog};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A PostgreSQL failure, naming the database as `postgres://user@host:port/db` (never the
    /// password).
    #[error("database: {0}")]
    Postgres(String),
    /// A duplicate of something that must be unique (a key's id or prefix).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("spool file: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}
