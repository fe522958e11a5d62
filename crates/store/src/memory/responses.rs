//! `ResponseStore` in this process's memory: for tests and single-process embedding (the
//! server always has a database). Unbounded: responses live until deleted or the process ends.

use std::collections::HashMap;
use std::sync::Mutex;

use switchyard_core::store::{ResponseStore, StoreError, StoredResponse};

#[derive(Default)]
pub struct MemoryResponses {
    /// By (tenant, id).
    responses: Mutex<HashMap<(String, String), StoredResponse>>,
}

impl MemoryResponses {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), StoredResponse>> {
        self.responses.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl ResponseStore for MemoryResponses {
    async fn put_response(&self, response: StoredResponse) -> Result<(), StoreError> {
        self.map().insert((response.tenant.clone(), response.id.clone()), response);
        Ok(())
    }

    async fn get_response(&self, tenant: &str, id: &str) -> Result<Option<StoredResponse>, StoreError> {
        Ok(self.map().get(&(tenant.to_string(), id.to_string())).cloned())
    }

    async fn delete_response(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        Ok(self.map().remove(&(tenant.to_string(), id.to_string())).is_some())
    }
}
