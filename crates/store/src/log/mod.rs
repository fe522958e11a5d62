//! The request log: one record per request, written off the request path by a batching writer,
//! with an append-only spool so that a database outage loses nothing.

mod memory;
mod postgres;
mod record;
mod spool;
mod sqlite;
mod writer;

pub use memory::MemoryLog;
pub use postgres::PostgresLog;
pub use record::{AttemptDetail, LogRecord};
pub use spool::Spool;
pub use sqlite::SqliteLog;
pub use writer::{LogHandle, LogStatus, LogWriter, LogWriterConfig};

use crate::StoreError;

/// A place request records are stored. Inserting a request id that is already there is a no-op,
/// which is what makes spool replay safe to repeat. Called from the writer's own thread.
pub trait LogSink: Send + 'static {
    fn insert(&mut self, records: &[LogRecord]) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub limit: usize,
    /// Matches the requested or the served model.
    pub model: Option<String>,
    pub customer: Option<String>,
}
