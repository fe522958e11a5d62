//! The client's request as it came, when it came in an upstream's own API (Anthropic Messages,
//! OpenAI Responses): a target speaking that API is sent this body — every field and block as the
//! client wrote it, in order, byte for byte — with only what the gateway owns set by it (`model`,
//! `stream`, the token cap; for Responses also `store` and the conversation, see
//! `responses::native`). Everything else (routing, limits, cache keys, the log) works on the
//! canonical translation.

use crate::object::RawObject;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeApi {
    AnthropicMessages,
    /// `POST /v1/responses`, with the conversation of `previous_response_id` already expanded
    /// into `input`.
    OpenAiResponses,
}

#[derive(Debug, Clone)]
pub struct Native {
    pub api: NativeApi,
    /// The request without the gateway's own fields.
    pub body: RawObject,
    /// The client's `anthropic-beta` header (Messages only).
    pub beta: Option<String>,
}
