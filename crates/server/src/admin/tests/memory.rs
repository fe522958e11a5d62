//! A `GovernanceStore` in memory for admin tests: keys and policies as the contract describes,
//! spend answered from canned rows with the last query kept for inspection.

use std::collections::BTreeMap;
use std::sync::Mutex;

use switchyard_core::store::{Changes, GovernanceStore, KeyRecord, Policy, Scope, SpendQuery, SpendRow, StoreError};

#[derive(Default)]
pub struct MemoryGovernance {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    seq: i64,
    keys: Vec<KeyRecord>,
    policies: BTreeMap<(Scope, String), Policy>,
    spend_rows: Vec<SpendRow>,
    spend_queries: Vec<SpendQuery>,
}

impl MemoryGovernance {
    pub fn with_spend(rows: Vec<SpendRow>) -> Self {
        let store = Self::default();
        store.inner.lock().unwrap().spend_rows = rows;
        store
    }

    pub fn spend_queries(&self) -> Vec<SpendQuery> {
        self.inner.lock().unwrap().spend_queries.clone()
    }

    pub fn stored_keys(&self) -> Vec<KeyRecord> {
        self.inner.lock().unwrap().keys.clone()
    }
}

#[async_trait::async_trait]
impl GovernanceStore for MemoryGovernance {
    async fn create_key(&self, mut key: KeyRecord) -> Result<KeyRecord, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        if inner.keys.iter().any(|k| k.id == key.id || k.prefix == key.prefix) {
            return Err(StoreError::Conflict(format!("a key with prefix `{}` already exists", key.prefix)));
        }
        inner.seq += 1;
        key.seq = inner.seq;
        inner.keys.push(key.clone());
        Ok(key)
    }

    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.inner.lock().unwrap().keys.iter().find(|k| k.id == id).cloned())
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        Ok(self.inner.lock().unwrap().keys.clone())
    }

    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.inner.lock().unwrap().keys.iter().find(|k| k.prefix == prefix).cloned())
    }

    async fn revoke_key(&self, id: &str, at_ms: i64) -> Result<Option<KeyRecord>, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        inner.seq += 1;
        let seq = inner.seq;
        Ok(inner.keys.iter_mut().find(|k| k.id == id).map(|k| {
            k.revoked_at_ms.get_or_insert(at_ms);
            k.seq = seq;
            k.clone()
        }))
    }

    async fn put_policy(&self, mut policy: Policy) -> Result<Policy, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        inner.seq += 1;
        policy.seq = inner.seq;
        inner.policies.insert((policy.scope, policy.name.clone()), policy.clone());
        Ok(policy)
    }

    async fn get_policy(&self, scope: Scope, name: &str) -> Result<Option<Policy>, StoreError> {
        Ok(self.inner.lock().unwrap().policies.get(&(scope, name.to_string())).cloned())
    }

    async fn list_policies(&self) -> Result<Vec<Policy>, StoreError> {
        Ok(self.inner.lock().unwrap().policies.values().cloned().collect())
    }

    async fn changes_since(&self, since: i64) -> Result<Changes, StoreError> {
        let inner = self.inner.lock().unwrap();
        let keys: Vec<KeyRecord> = inner.keys.iter().filter(|k| k.seq > since).cloned().collect();
        let policies: Vec<Policy> = inner.policies.values().filter(|p| p.seq > since).cloned().collect();
        let seq = keys.iter().map(|k| k.seq).chain(policies.iter().map(|p| p.seq)).max().unwrap_or(since);
        Ok(Changes { keys, policies, seq })
    }

    async fn spend(&self, query: &SpendQuery) -> Result<Vec<SpendRow>, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        inner.spend_queries.push(query.clone());
        Ok(inner.spend_rows.clone())
    }
}

/// A store whose every call fails, for the error path.
pub struct BrokenGovernance;

#[async_trait::async_trait]
impl GovernanceStore for BrokenGovernance {
    async fn create_key(&self, _: KeyRecord) -> Result<KeyRecord, StoreError> {
        Err(broken())
    }
    async fn get_key(&self, _: &str) -> Result<Option<KeyRecord>, StoreError> {
        Err(broken())
    }
    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        Err(broken())
    }
    async fn key_by_prefix(&self, _: &str) -> Result<Option<KeyRecord>, StoreError> {
        Err(broken())
    }
    async fn revoke_key(&self, _: &str, _: i64) -> Result<Option<KeyRecord>, StoreError> {
        Err(broken())
    }
    async fn put_policy(&self, _: Policy) -> Result<Policy, StoreError> {
        Err(broken())
    }
    async fn get_policy(&self, _: Scope, _: &str) -> Result<Option<Policy>, StoreError> {
        Err(broken())
    }
    async fn list_policies(&self) -> Result<Vec<Policy>, StoreError> {
        Err(broken())
    }
    async fn changes_since(&self, _: i64) -> Result<Changes, StoreError> {
        Err(broken())
    }
    async fn spend(&self, _: &SpendQuery) -> Result<Vec<SpendRow>, StoreError> {
        Err(broken())
    }
}

fn broken() -> StoreError {
    StoreError::Other("disk on fire at /var/lib/secret-path".into())
}
