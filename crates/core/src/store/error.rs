//! The one error every storage trait returns. It names no driver type: each backend in
//! `switchyard-store` maps its driver's errors into these variants, keeping the message.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A database inside this process (SQLite) failed.
    #[error("database: {0}")]
    Database(String),
    /// A database server (PostgreSQL) failed or did not answer, naming it as
    /// `postgres://user@host:port/db` (never the password). Mostly an unreachable server: worth a
    /// retry.
    #[error("database: {0}")]
    Server(String),
    /// A duplicate of something that must be unique (a key's id or prefix).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A shared store did not answer in time: it may be slow rather than gone (a busy Redis is
    /// not a dead one), so callers that must not guess wait or refuse instead of acting alone.
    #[error("timed out: {0}")]
    TimedOut(String),
    #[error("spool file: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}
