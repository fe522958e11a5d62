//! The request log: one record per request, written off the request path by a batching writer,
//! with an append-only spool so that a database outage loses nothing.

mod memory;
mod postgres;
mod spool;
mod sqlite;
mod writer;

pub use memory::MemoryLog;
pub use postgres::PostgresLog;
pub use spool::Spool;
pub use sqlite::SqliteLog;
pub use writer::{LogWriter, LogWriterConfig};
