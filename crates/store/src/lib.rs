//! The storage adapters: switchyard-core's store traits (its ports) implemented per backend. Each
//! backend is one module — `memory` (one process, the default and the tests' fake), `sqlite`
//! (the default database), `postgres` (the shared database, pgvector for the semantic cache) and
//! `redis` (shared counters, cache entries and circuit state) — and `sql` is what the two SQL
//! backends share. `writer` is not an engine: it keeps the request log off the request path with a
//! bounded queue and a spool file, in front of any `LogSink`.

pub mod memory;
pub mod postgres;
pub mod private_fs;
pub mod redis;
mod sql;
pub mod sqlite;
pub mod writer;

pub use memory::{MemoryCache, MemoryCounters, MemoryLog, MemoryResponses};
pub use postgres::{PgVectorIndex, PostgresGovernance, PostgresLog};
pub use redis::{LazyRedis, RedisCache, RedisCircuits, RedisCounters};
pub use sqlite::{SqliteGovernance, SqliteLog};
pub use writer::{LogWriter, LogWriterConfig};
