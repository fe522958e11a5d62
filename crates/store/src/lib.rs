//! Storage, one trait per concern with its implementations: the request log (`LogSink`) and the
//! writer that keeps it off the request path; keys, policies and spend (`GovernanceStore`); shared
//! counters for limits and budgets (`CounterStore`); response-cache entries (`CacheStore`) and the
//! semantic cache's vectors (`VectorIndex`).

pub mod cache;
pub mod counters;
pub mod governance;
pub mod log;
mod sql;
pub mod vectors;

pub use cache::{MemoryCache, RedisCache};
pub use counters::{MemoryCounters, RedisCounters};
pub use governance::{PostgresGovernance, SqliteGovernance};
pub use log::{LogWriter, LogWriterConfig, MemoryLog, PostgresLog, SqliteLog};
pub use vectors::PgVectorIndex;
