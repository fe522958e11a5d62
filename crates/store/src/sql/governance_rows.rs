//! `KeyRecord` and `Policy` ↔ rows, and the statements of the governance store, for both backends.
//! Statements use `?N` placeholders (see `Dialect::sql`).
//!
//! Keys and policies share one change sequence, kept in the one-row table `governance_seq`.
//! Every write takes the next value inside its transaction; in PostgreSQL that row lock also
//! makes writers commit in sequence order, so a reader that saw seq N can never later find a
//! commit with a smaller seq (which a `max(seq) + 1` scheme would allow).

use switchyard_core::store::{KeyRecord, Policy, Scope, StoreError};

use super::{SqlRow, SqlValue};

pub(crate) const NEXT_SEQ: &str = "UPDATE governance_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq";

const KEY_COLUMNS: &str =
    "id, prefix, hash, name, team, customer, models, expires_at_ms, limits, budget, metadata, created_at_ms, revoked_at_ms, seq";

pub(crate) fn insert_key_sql() -> String {
    format!("INSERT INTO keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)")
}

pub(crate) fn select_keys_sql(condition: &str) -> String {
    format!("SELECT {KEY_COLUMNS} FROM keys {condition}")
}

pub(crate) const KEY_BY_ID: &str = "WHERE id = ?1";
pub(crate) const KEY_BY_PREFIX: &str = "WHERE prefix = ?1";
pub(crate) const ALL_KEYS: &str = "ORDER BY created_at_ms, id";
pub(crate) const KEYS_SINCE: &str = "WHERE seq > ?1 ORDER BY seq";

/// Parameters: id, revoked_at_ms, seq. Only an unrevoked key changes: the first time stays.
pub(crate) const REVOKE_KEY: &str = "UPDATE keys SET revoked_at_ms = ?2, seq = ?3 WHERE id = ?1 AND revoked_at_ms IS NULL";

pub(crate) fn key_params(k: &KeyRecord) -> Result<Vec<SqlValue>, StoreError> {
    Ok(vec![
        SqlValue::text(&k.id),
        SqlValue::text(&k.prefix),
        SqlValue::Bytes(k.hash.clone()),
        SqlValue::text(&k.name),
        SqlValue::opt_text(&k.team),
        SqlValue::opt_text(&k.customer),
        SqlValue::json(&k.models, "key models")?,
        SqlValue::Int(k.expires_at_ms),
        SqlValue::json(&k.limits, "key limits")?,
        match &k.budget {
            Some(b) => SqlValue::json(b, "key budget")?,
            None => SqlValue::Text(None),
        },
        SqlValue::json(&k.metadata, "key metadata")?,
        SqlValue::Int(Some(k.created_at_ms)),
        SqlValue::Int(k.revoked_at_ms),
        SqlValue::Int(Some(k.seq)),
    ])
}

pub(crate) fn key_from_row(row: &impl SqlRow) -> Result<KeyRecord, StoreError> {
    let id: String = row.get(0)?;
    let context = |what: &str| format!("{what} of key {id}");
    Ok(KeyRecord {
        prefix: row.get(1)?,
        hash: row.get(2)?,
        name: row.get(3)?,
        team: row.get(4)?,
        customer: row.get(5)?,
        models: row.json(6, &context("models"))?,
        expires_at_ms: row.get(7)?,
        limits: row.json(8, &context("limits"))?,
        budget: row.opt_json(9, &context("budget"))?,
        metadata: row.json(10, &context("metadata"))?,
        created_at_ms: row.get(11)?,
        revoked_at_ms: row.get(12)?,
        seq: row.get(13)?,
        id,
    })
}

/// What a unique violation on `keys` means, from the constraint or message naming the column.
pub(crate) fn key_conflict(key: &KeyRecord, detail: &str) -> StoreError {
    if detail.contains("prefix") {
        StoreError::Conflict(format!("a key with prefix `{}` already exists", key.prefix))
    } else {
        StoreError::Conflict(format!("a key with id `{}` already exists", key.id))
    }
}

const POLICY_COLUMNS: &str = "scope, name, budget, limits, updated_at_ms, seq";

pub(crate) fn upsert_policy_sql() -> String {
    format!(
        "INSERT INTO policies ({POLICY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (scope, name) DO UPDATE SET \
         budget = excluded.budget, limits = excluded.limits, updated_at_ms = excluded.updated_at_ms, seq = excluded.seq"
    )
}

pub(crate) fn select_policies_sql(condition: &str) -> String {
    format!("SELECT {POLICY_COLUMNS} FROM policies {condition}")
}

pub(crate) const POLICY_BY_NAME: &str = "WHERE scope = ?1 AND name = ?2";
pub(crate) const ALL_POLICIES: &str = "ORDER BY scope, name";
pub(crate) const POLICIES_SINCE: &str = "WHERE seq > ?1 ORDER BY seq";

pub(crate) fn policy_params(p: &Policy) -> Result<Vec<SqlValue>, StoreError> {
    Ok(vec![
        SqlValue::text(p.scope.as_str()),
        SqlValue::text(&p.name),
        match &p.budget {
            Some(b) => SqlValue::json(b, "policy budget")?,
            None => SqlValue::Text(None),
        },
        SqlValue::json(&p.limits, "policy limits")?,
        SqlValue::Int(Some(p.updated_at_ms)),
        SqlValue::Int(Some(p.seq)),
    ])
}

pub(crate) fn policy_from_row(row: &impl SqlRow) -> Result<Policy, StoreError> {
    let scope: String = row.get(0)?;
    let name: String = row.get(1)?;
    let context = |what: &str| format!("{what} of policy {scope}/{name}");
    Ok(Policy {
        scope: Scope::parse(&scope).ok_or_else(|| StoreError::Other(format!("stored policy {scope}/{name} has an unknown scope")))?,
        budget: row.opt_json(2, &context("budget"))?,
        limits: row.json(3, &context("limits"))?,
        updated_at_ms: row.get(4)?,
        seq: row.get(5)?,
        name,
    })
}

/// The sequence a `Changes` answer reports: the highest seen, or `since` when nothing changed.
pub(crate) fn max_seq(since: i64, keys: &[KeyRecord], policies: &[Policy]) -> i64 {
    keys.iter().map(|k| k.seq).chain(policies.iter().map(|p| p.seq)).fold(since, i64::max)
}
