//! Wire types for the gateway's protocols (OpenAI Chat Completions first) and the one SSE parser.
//! Serde only: nothing here does I/O.

pub mod anthropic;
pub mod inbound;
pub mod native;
pub mod object;
pub mod openai;
pub mod responses;
pub mod sse;
pub mod usage;

pub use native::{Native, NativeApi};
pub use object::RawObject;
pub use usage::Usage;
