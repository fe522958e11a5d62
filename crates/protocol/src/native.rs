//! The client's request as it came, when it came in an upstream's own API (Anthropic Messages):
//! a target speaking that API is sent this body — every field and block as the client wrote it,
//! in order, byte for byte — with only `model`, `stream` and `max_tokens` set by the gateway.
//! Everything else (routing, limits, cache keys, the log) works on the canonical translation.

use crate::object::RawObject;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeApi {
    AnthropicMessages,
}

#[derive(Debug, Clone)]
pub struct Native {
    pub api: NativeApi,
    /// The request without the gateway's own fields.
    pub body: RawObject,
    /// The client's `anthropic-beta` header.
    pub beta: Option<String>,
}
