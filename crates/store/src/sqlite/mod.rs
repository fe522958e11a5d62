//! SQLite, the default database: the request log and the governance store in one WAL file under
//! the data directory, sharing one schema and its migrations.

mod governance;
mod log;
pub(crate) mod schema;

pub use governance::SqliteGovernance;
pub use log::SqliteLog;
