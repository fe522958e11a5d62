//! OpenAI Chat Completions wire format: the request as raw top-level fields, typed views where the
//! gateway needs to look inside, usage and error bodies.

mod embeddings;
mod error;
mod message;
mod request;
mod usage;

pub use embeddings::EmbeddingsRequest;
pub use error::{ErrorBody, ErrorDetail, UpstreamError};
pub use message::{
    CalledFunction, ContentPart, FilePart, ImageUrl, Message, MessageContent, NamedFunction, Tool, ToolCall, ToolChoice, ToolFunction,
};
pub use request::{ChatRequest, RequestFormatError};
pub use usage::{peek_usage, ChunkPeek, OpenAiUsage};
