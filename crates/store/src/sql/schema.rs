//! Schema text both backends create the same way: the spend indexes on the request log and the
//! governance tables (keys, policies, and the one-row change sequence they share).

use super::Dialect;

/// Spend is always asked over a time range, mostly for one key, team or feature.
pub(crate) const SPEND_INDEXES: &str = r#"
CREATE INDEX IF NOT EXISTS request_log_key ON request_log (key_id, started_at_ms);
CREATE INDEX IF NOT EXISTS request_log_team ON request_log (team, started_at_ms);
CREATE INDEX IF NOT EXISTS request_log_feature ON request_log (feature, started_at_ms);
"#;

/// Log search (`GET /admin/logs`): the keyset order (start time, then request id byte by byte)
/// and the filters not covered by the request log's first indexes or the spend indexes.
pub(crate) fn search_indexes(dialect: Dialect) -> String {
    format!(
        r#"
CREATE INDEX IF NOT EXISTS request_log_started_id ON request_log (started_at_ms, {});
CREATE INDEX IF NOT EXISTS request_log_served ON request_log (model, started_at_ms);
CREATE INDEX IF NOT EXISTS request_log_provider ON request_log (provider, started_at_ms);
CREATE INDEX IF NOT EXISTS request_log_status ON request_log (status, started_at_ms);
CREATE INDEX IF NOT EXISTS request_log_cache ON request_log (cache_status, started_at_ms);
"#,
        dialect.byte_order("request_id")
    )
}

/// The response cache's outcome per request and the spend a hit saved. (PostgreSQL's `REAL` is
/// 4 bytes, so the dollar column is spelled per dialect.)
pub(crate) fn cache_columns(dialect: Dialect) -> String {
    let real = match dialect {
        Dialect::Sqlite => "REAL",
        Dialect::Postgres => "DOUBLE PRECISION",
    };
    format!("ALTER TABLE request_log ADD COLUMN cache_status TEXT;\nALTER TABLE request_log ADD COLUMN cache_saved_usd {real};\n")
}

/// JSON values (models, limits, budget, metadata) are stored as text in both backends.
pub(crate) fn governance_tables(dialect: Dialect) -> String {
    let blob = dialect.blob_type();
    format!(
        r#"
CREATE TABLE governance_seq (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO governance_seq (id, seq) VALUES (1, 0);
CREATE TABLE keys (
    id TEXT PRIMARY KEY,
    prefix TEXT NOT NULL UNIQUE,
    hash {blob} NOT NULL,
    name TEXT NOT NULL,
    team TEXT,
    customer TEXT,
    models TEXT NOT NULL DEFAULT '[]',
    expires_at_ms BIGINT,
    limits TEXT NOT NULL DEFAULT '{{}}',
    budget TEXT,
    metadata TEXT NOT NULL DEFAULT '{{}}',
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT,
    seq BIGINT NOT NULL
);
CREATE INDEX keys_seq ON keys (seq);
CREATE TABLE policies (
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    budget TEXT,
    limits TEXT NOT NULL DEFAULT '{{}}',
    updated_at_ms BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (scope, name)
);
CREATE INDEX policies_seq ON policies (seq);
"#
    )
}
