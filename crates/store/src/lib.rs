//! Storage, one trait per concern with its implementations. For now: the request log (`LogSink`)
//! on SQLite and in memory, and the writer that keeps it off the request path.

pub mod log;
pub mod time;

pub use log::{AttemptDetail, LogHandle, LogQuery, LogRecord, LogSink, LogWriter, LogWriterConfig, MemoryLog, SqliteLog};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("spool file: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}
