//! The semantic cache's vector index: which cache entry, in one scope, was asked the question
//! nearest in meaning to this one. The in-process index lives in `switchyard-core`
//! (`SemanticIndex`); `PgVectorIndex` keeps vectors in PostgreSQL with pgvector, shared by every
//! instance.

mod postgres;

pub use postgres::PgVectorIndex;
