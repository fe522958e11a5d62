//! `ResponseStore` in PostgreSQL, on the governance store's client (one call at a time, each
//! bounded by its timeout, the client replaced when its connection died).

use switchyard_core::store::{ResponseStore, StoreError, StoredResponse};

use crate::postgres::PostgresGovernance;
use crate::sql::response_rows as rows;
use crate::sql::{pg_params, Db, Dialect};

#[async_trait::async_trait]
impl ResponseStore for PostgresGovernance {
    async fn put_response(&self, response: StoredResponse) -> Result<(), StoreError> {
        let params = rows::params(&response)?;
        self.run(Box::new(move |client| {
            Box::pin(async move {
                client.execute(&Dialect::Postgres.sql(rows::UPSERT), &pg_params(&params)).await.db()?;
                Ok(())
            })
        }))
        .await
    }

    async fn get_response(&self, tenant: &str, id: &str) -> Result<Option<StoredResponse>, StoreError> {
        let key = rows::key(tenant, id);
        self.run(Box::new(move |client| {
            Box::pin(async move {
                let found = client.query(&Dialect::Postgres.sql(rows::SELECT), &pg_params(&key)).await.db()?;
                found.iter().map(rows::from_row).next().transpose()
            })
        }))
        .await
    }

    async fn delete_response(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let key = rows::key(tenant, id);
        self.run(Box::new(move |client| {
            Box::pin(async move { Ok(client.execute(&Dialect::Postgres.sql(rows::DELETE), &pg_params(&key)).await.db()? > 0) })
        }))
        .await
    }
}
