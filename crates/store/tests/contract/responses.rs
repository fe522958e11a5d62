//! Stored responses (`ResponseStore`): every field round-trips, every call is scoped by tenant,
//! and they last across reopening. The scenarios take a store; each runs on SQLite and
//! PostgreSQL through the suite's `contract!`, and on `MemoryResponses` here.

use std::sync::Arc;

use serde_json::json;
use switchyard_core::store::{ResponseStore, StoredResponse};
use switchyard_store::MemoryResponses;

use crate::backend::Storage;

fn stored(tenant: &str, id: &str) -> StoredResponse {
    StoredResponse {
        id: id.into(),
        tenant: tenant.into(),
        created_at_ms: 1_800_000_000_123,
        model: "mock/echo".into(),
        conversation: vec![
            json!({"role": "user", "content": "héllo"}),
            json!({"role": "assistant", "content": "hi", "reasoning_signature": "s"}),
        ],
        response: json!({"id": id, "object": "response", "output": [{"type": "message", "content": [{"type": "output_text", "text": "hi"}]}]}),
        input_items: vec![json!({"id": "msg_1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "héllo"}]})],
    }
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(pub async fn $name(storage: Storage) {
            scenario::$name(storage.open().await.responses).await
        })*
        mod memory {
            $(#[tokio::test]
            async fn $name() {
                super::scenario::$name(std::sync::Arc::new(super::MemoryResponses::default())).await
            })*
        }
    };
}

scenarios!(round_trip_every_field, scoped_by_tenant, put_replaces_and_delete_removes);

/// Reopening needs the backend's storage, so it runs on SQLite and PostgreSQL only.
pub async fn kept_across_reopening(storage: Storage) {
    storage.open().await.responses.put_response(stored("team:a", "resp_1")).await.unwrap();
    let again = storage.open().await.responses;
    assert_eq!(again.get_response("team:a", "resp_1").await.unwrap(), Some(stored("team:a", "resp_1")));
}

mod scenario {
    use super::*;

    pub async fn round_trip_every_field(s: Arc<dyn ResponseStore>) {
        s.put_response(stored("team:a", "resp_1")).await.unwrap();
        assert_eq!(s.get_response("team:a", "resp_1").await.unwrap(), Some(stored("team:a", "resp_1")));
        assert_eq!(s.get_response("team:a", "resp_2").await.unwrap(), None);
    }

    pub async fn scoped_by_tenant(s: Arc<dyn ResponseStore>) {
        s.put_response(stored("team:a", "resp_1")).await.unwrap();
        assert_eq!(s.get_response("team:b", "resp_1").await.unwrap(), None, "another tenant's response is absent");
        assert!(!s.delete_response("team:b", "resp_1").await.unwrap(), "and cannot be deleted");
        // The same id under two tenants: two responses.
        let mut other = stored("team:b", "resp_1");
        other.model = "other/model".into();
        s.put_response(other.clone()).await.unwrap();
        assert_eq!(s.get_response("team:a", "resp_1").await.unwrap(), Some(stored("team:a", "resp_1")));
        assert_eq!(s.get_response("team:b", "resp_1").await.unwrap(), Some(other));
    }

    pub async fn put_replaces_and_delete_removes(s: Arc<dyn ResponseStore>) {
        s.put_response(stored("default", "resp_1")).await.unwrap();
        let mut changed = stored("default", "resp_1");
        changed.response = json!({"id": "resp_1", "status": "completed"});
        s.put_response(changed.clone()).await.unwrap();
        assert_eq!(s.get_response("default", "resp_1").await.unwrap(), Some(changed));
        assert!(s.delete_response("default", "resp_1").await.unwrap());
        assert_eq!(s.get_response("default", "resp_1").await.unwrap(), None);
        assert!(!s.delete_response("default", "resp_1").await.unwrap(), "deleting twice finds nothing");
    }
}
