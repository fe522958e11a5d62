//! What the SQLite and PostgreSQL stores share: one text per statement, one mapping between rows
//! and records, one filter builder, so that the two backends cannot drift apart. Each backend only
//! decides how a statement is executed (sync rusqlite, sync `postgres`, async `tokio-postgres`) and
//! keeps its own schema migrations (`sqlite::schema`, `postgres::schema`).

pub(crate) mod filter;
pub(crate) mod governance_rows;
pub(crate) mod log_rows;
pub(crate) mod response_rows;
pub(crate) mod schema;
pub(crate) mod spend;

use std::error::Error;

use bytes::BytesMut;
use postgres_types::{IsNull, ToSql, Type};
use serde::de::DeserializeOwned;
use serde::Serialize;
use switchyard_core::store::StoreError;

/// Driver errors into core's `StoreError`, which names no driver: `?` cannot convert them (neither
/// type is this crate's), so driver calls end in `.db()?`.
pub(crate) trait Db<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for Result<T, rusqlite::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(sqlite_error)
    }
}

impl<T> Db<T> for Result<T, tokio_postgres::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(crate::postgres::target::pg_error)
    }
}

pub(crate) fn sqlite_error(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Statements are written once with SQLite's numbered `?N` placeholders; PostgreSQL spells
    /// them `$N`. (No statement contains a literal `?`.)
    pub fn sql(self, text: &str) -> String {
        match self {
            Dialect::Sqlite => text.to_string(),
            Dialect::Postgres => text.replace('?', "$"),
        }
    }

    pub fn param(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// The UTC calendar day (`YYYY-MM-DD`) of a Unix-milliseconds column.
    pub fn utc_day(self, ms_column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("strftime('%Y-%m-%d', {ms_column} / 1000, 'unixepoch')"),
            Dialect::Postgres => format!("to_char(to_timestamp({ms_column} / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
        }
    }

    /// A text column compared and sorted byte by byte, as SQLite does and as Rust does, whatever
    /// the PostgreSQL database's collation (keyset paging compares ids across backends alike).
    pub fn byte_order(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_string(),
            Dialect::Postgres => format!("{column} COLLATE \"C\""),
        }
    }

    /// The UTC hour (`YYYY-MM-DDTHH:00Z`) of a Unix-milliseconds column.
    pub fn utc_hour(self, ms_column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("strftime('%Y-%m-%dT%H:00Z', {ms_column} / 1000, 'unixepoch')"),
            Dialect::Postgres => format!("to_char(to_timestamp({ms_column} / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24\":00Z\"')"),
        }
    }

    pub fn blob_type(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BLOB",
            Dialect::Postgres => "BYTEA",
        }
    }
}

/// A statement parameter both drivers can bind. Integers are always 64-bit (`BIGINT` columns in
/// PostgreSQL), which is what lets one mapping serve both.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SqlValue {
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl SqlValue {
    pub fn text(v: &str) -> Self {
        SqlValue::Text(Some(v.to_string()))
    }

    pub fn opt_text(v: &Option<String>) -> Self {
        SqlValue::Text(v.clone())
    }

    /// Counters are `u64` in records and `BIGINT` in tables; nothing real comes near `i64::MAX`.
    pub fn count(v: u64) -> Self {
        SqlValue::Int(Some(i64::try_from(v).unwrap_or(i64::MAX)))
    }

    pub fn json<T: Serialize>(v: &T, what: &str) -> Result<Self, StoreError> {
        serde_json::to_string(v)
            .map(|s| SqlValue::Text(Some(s)))
            .map_err(|e| StoreError::Other(format!("cannot encode {what} as JSON: {e}")))
    }
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            SqlValue::Text(v) => rusqlite::ToSql::to_sql(v),
            SqlValue::Int(v) => rusqlite::ToSql::to_sql(v),
            SqlValue::Real(v) => rusqlite::ToSql::to_sql(v),
            SqlValue::Bool(v) => rusqlite::ToSql::to_sql(v),
            SqlValue::Bytes(v) => rusqlite::ToSql::to_sql(v),
        }
    }
}

impl ToSql for SqlValue {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        // Each variant checks the column type itself, so a mismatch is an error, not bad bytes.
        match self {
            SqlValue::Text(v) => v.to_sql_checked(ty, out),
            SqlValue::Int(v) => v.to_sql_checked(ty, out),
            SqlValue::Real(v) => v.to_sql_checked(ty, out),
            SqlValue::Bool(v) => v.to_sql_checked(ty, out),
            SqlValue::Bytes(v) => v.to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres_types::to_sql_checked!();
}

/// Parameters as `tokio-postgres` and `postgres` take them.
pub(crate) fn pg_params(values: &[SqlValue]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// A result row of either driver, read by column index.
pub(crate) trait SqlRow {
    fn get<T>(&self, i: usize) -> Result<T, StoreError>
    where
        T: rusqlite::types::FromSql + for<'a> postgres_types::FromSql<'a>;

    fn count(&self, i: usize) -> Result<u64, StoreError> {
        Ok(self.get::<i64>(i)?.max(0) as u64)
    }

    /// A JSON text column; `what` names it in the error when it does not decode.
    fn json<T: DeserializeOwned>(&self, i: usize, what: &str) -> Result<T, StoreError> {
        let text: String = self.get(i)?;
        serde_json::from_str(&text).map_err(|e| StoreError::Other(format!("stored {what} is not valid JSON ({e}): {text}")))
    }

    fn opt_json<T: DeserializeOwned>(&self, i: usize, what: &str) -> Result<Option<T>, StoreError> {
        match self.get::<Option<String>>(i)? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| StoreError::Other(format!("stored {what} is not valid JSON ({e}): {text}"))),
        }
    }
}

impl SqlRow for rusqlite::Row<'_> {
    fn get<T>(&self, i: usize) -> Result<T, StoreError>
    where
        T: rusqlite::types::FromSql + for<'a> postgres_types::FromSql<'a>,
    {
        rusqlite::Row::get(self, i).db()
    }
}

impl SqlRow for tokio_postgres::Row {
    fn get<T>(&self, i: usize) -> Result<T, StoreError>
    where
        T: rusqlite::types::FromSql + for<'a> postgres_types::FromSql<'a>,
    {
        self.try_get(i).db()
    }
}

/// Runs every row of a rusqlite statement through `map`.
pub(crate) fn sqlite_rows<T>(
    stmt: &mut rusqlite::Statement<'_>,
    params: &[SqlValue],
    map: impl Fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).db()?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().db()? {
        out.push(map(row)?);
    }
    Ok(out)
}
