//! Governance data that must last: virtual keys, the budgets and limits set per team, customer or
//! feature (`Policy`), and spend read back from the request log. One trait, `GovernanceStore`,
//! with SQLite and PostgreSQL implementations that pass one contract suite.
//!
//! Gateway instances keep keys and policies in memory and follow changes with `changes_since`,
//! a cheap indexed query on a change sequence, so that the request path never waits on the
//! database and a database outage leaves known keys working.

mod postgres;
mod sqlite;

pub use postgres::PostgresGovernance;
pub use sqlite::SqliteGovernance;
