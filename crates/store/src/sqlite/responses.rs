//! `ResponseStore` in SQLite, on the governance store's connection to the database file: stored
//! responses are small rows read and written once per Responses API call.

use switchyard_core::store::{ResponseStore, StoreError, StoredResponse};

use crate::sql::response_rows as rows;
use crate::sql::{sqlite_rows, Db};
use crate::sqlite::SqliteGovernance;

#[async_trait::async_trait]
impl ResponseStore for SqliteGovernance {
    async fn put_response(&self, response: StoredResponse) -> Result<(), StoreError> {
        let params = rows::params(&response)?;
        self.run(move |conn| {
            conn.execute(rows::UPSERT, rusqlite::params_from_iter(params)).db()?;
            Ok(())
        })
        .await
    }

    async fn get_response(&self, tenant: &str, id: &str) -> Result<Option<StoredResponse>, StoreError> {
        let key = rows::key(tenant, id);
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(rows::SELECT).db()?;
            Ok(sqlite_rows(&mut stmt, &key, |r| rows::from_row(r))?.pop())
        })
        .await
    }

    async fn delete_response(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let key = rows::key(tenant, id);
        self.run(move |conn| Ok(conn.execute(rows::DELETE, rusqlite::params_from_iter(key)).db()? > 0)).await
    }
}
