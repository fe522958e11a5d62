//! The stored responses' table and statements, the same text for SQLite and PostgreSQL. JSON
//! values are stored as text, as everywhere else.

use switchyard_core::store::{StoreError, StoredResponse};

use super::{SqlRow, SqlValue};

pub(crate) const TABLE: &str = r#"
CREATE TABLE responses (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    model TEXT NOT NULL,
    conversation TEXT NOT NULL,
    response TEXT NOT NULL,
    input_items TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
"#;

pub(crate) const UPSERT: &str = "INSERT INTO responses (tenant, id, created_at_ms, model, conversation, response, input_items) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (tenant, id) DO UPDATE SET created_at_ms = excluded.created_at_ms, \
     model = excluded.model, conversation = excluded.conversation, response = excluded.response, input_items = excluded.input_items";

pub(crate) const SELECT: &str =
    "SELECT tenant, id, created_at_ms, model, conversation, response, input_items FROM responses WHERE tenant = ?1 AND id = ?2";

pub(crate) const DELETE: &str = "DELETE FROM responses WHERE tenant = ?1 AND id = ?2";

pub(crate) fn params(r: &StoredResponse) -> Result<Vec<SqlValue>, StoreError> {
    Ok(vec![
        SqlValue::text(&r.tenant),
        SqlValue::text(&r.id),
        SqlValue::Int(Some(r.created_at_ms)),
        SqlValue::text(&r.model),
        SqlValue::json(&r.conversation, "a stored conversation")?,
        SqlValue::json(&r.response, "a stored response")?,
        SqlValue::json(&r.input_items, "stored input items")?,
    ])
}

pub(crate) fn key(tenant: &str, id: &str) -> [SqlValue; 2] {
    [SqlValue::text(tenant), SqlValue::text(id)]
}

pub(crate) fn from_row(row: &impl SqlRow) -> Result<StoredResponse, StoreError> {
    Ok(StoredResponse {
        tenant: row.get(0)?,
        id: row.get(1)?,
        created_at_ms: row.get(2)?,
        model: row.get(3)?,
        conversation: row.json(4, "conversation")?,
        response: row.json(5, "response")?,
        input_items: row.json(6, "input_items")?,
    })
}
