//! PostgreSQL, the database N instances share: the request log (blocking client, on the writer's
//! thread), the governance store (also serving stored responses, `ResponseStore`) and the semantic
//! cache's pgvector index (`tokio-postgres`).

mod governance;
mod log;
mod responses;
pub(crate) mod schema;
pub(crate) mod target;
mod vectors;

pub use governance::PostgresGovernance;
pub use log::PostgresLog;
pub use vectors::PgVectorIndex;
