//! Provider adapters behind one `Provider` trait. Each provider is one module; `registry.rs` is the
//! only place that lists them. Nothing outside a provider's module knows its wire format.

pub mod anthropic;
pub mod bedrock;
mod credential;
mod error;
pub mod gemini;
mod http;
/// The trace context an attempt sends upstream (see `http::propagate`).
pub use http::{Outbound, OUTBOUND};
pub mod mock;
pub mod openai;
pub mod registry;
mod sse_stream;
pub mod translate;
pub mod vertex;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use switchyard_protocol::openai::ChatRequest;
use switchyard_protocol::Usage;

pub use credential::Secret;
pub use error::{ErrorKind, ProviderError};
pub use registry::{ProviderConfig, RegistryError};

/// What a provider answered: a whole OpenAI `chat.completion` body, or a stream of
/// `chat.completion.chunk` payloads.
pub enum ChatResponse {
    Complete { body: Bytes, usage: Option<Usage> },
    Stream(ChunkStream),
}

/// Chunks in OpenAI's shape. The stream ends with `None` only after the upstream finished
/// properly; a cut-off upstream ends it with an `Err` of kind `Interrupted`.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Chunk, ProviderError>> + Send>>;

#[derive(Debug, Clone)]
pub struct Chunk {
    /// One `chat.completion.chunk` JSON document.
    pub data: Bytes,
    pub usage: Option<Usage>,
    /// `choices` is empty and usage is set: the trailing chunk `include_usage` asks for.
    pub usage_only: bool,
    /// Carries something of the answer (text, reasoning, a tool call, a refusal, a finish),
    /// unlike a bare role or filter-results chunk. The gateway holds a stream back until the
    /// first such chunk, so that an upstream failing before it can still be replaced invisibly.
    pub content: bool,
}

/// What a provider answered to an embeddings request.
#[derive(Debug, Clone)]
pub struct EmbeddingsResponse {
    /// OpenAI's shape: `{"object":"list","data":[{"object":"embedding","index","embedding"}],"model","usage"}`.
    pub body: Bytes,
    pub usage: Usage,
}

/// Seconds since the Unix epoch, for the `created` field of answers and for token lifetimes.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// How a provider's tokens are counted before a call, for limits and budgets to reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokenizer {
    /// OpenAI's BPE tables (o200k or cl100k by model).
    OpenAi,
    /// No public tokenizer: characters / 4.
    Approximate,
}

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The config `type` of this provider (`openai`, `mock`, …).
    fn kind(&self) -> &'static str;

    /// How this provider's tokens are counted before a call.
    fn tokenizer(&self) -> Tokenizer {
        Tokenizer::Approximate
    }

    /// Calls cost nothing, whatever a catalog says (the built-in mock).
    fn free(&self) -> bool {
        false
    }

    /// Models this provider is known to serve, for `GET /v1/models`.
    fn models(&self) -> Vec<String>;

    /// Sends one chat request for `model` (the provider's own model name).
    async fn chat(&self, request: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError>;

    /// Sends one OpenAI embeddings request. `body` is the client's request with the gateway's
    /// fields removed and `model` already set to `model` (the provider's own model name, passed
    /// apart for adapters whose URL names it). Providers without an embeddings API keep this
    /// default, a client error that names them.
    async fn embeddings(&self, body: &serde_json::Value, model: &str) -> Result<EmbeddingsResponse, ProviderError> {
        let _ = body;
        let message = format!(
            "provider type `{}` does not offer embeddings (model `{model}`); use an OpenAI-compatible provider or the mock",
            self.kind()
        );
        Err(ProviderError { param: Some("model".into()), ..ProviderError::new(ErrorKind::BadRequest, message) })
    }
}
