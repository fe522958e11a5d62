//! Stored responses of the Responses API: what `GET /v1/responses/{id}` returns and what
//! `previous_response_id` continues, on any provider. Every call is scoped by tenant: another
//! tenant's response is as absent as one that never existed.

use serde_json::Value;

use super::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    /// `resp_…`.
    pub id: String,
    pub tenant: String,
    pub created_at_ms: i64,
    pub model: String,
    /// The canonical messages a next turn continues from: the conversation before this
    /// response, its input, and its answer as an assistant message (instructions excluded).
    pub conversation: Vec<Value>,
    /// The Response object as the client got it.
    pub response: Value,
    /// The input items, as `/input_items` lists them.
    pub input_items: Vec<Value>,
}

#[async_trait::async_trait]
pub trait ResponseStore: Send + Sync + 'static {
    /// Stores a response, replacing one with the same tenant and id.
    async fn put_response(&self, response: StoredResponse) -> Result<(), StoreError>;
    async fn get_response(&self, tenant: &str, id: &str) -> Result<Option<StoredResponse>, StoreError>;
    /// Whether there was such a response.
    async fn delete_response(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;
}
