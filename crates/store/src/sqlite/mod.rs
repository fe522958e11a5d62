//! SQLite, the default database: the request log, the governance store and stored responses
//! (`ResponseStore`, on the governance connection) in one WAL file under
//! the data directory, sharing one schema and its migrations.

mod governance;
pub(crate) mod log;
mod responses;
pub(crate) mod schema;

pub use governance::SqliteGovernance;
pub use log::SqliteLog;
