//! The inbound APIs a client can call the gateway in: each writes every scenario's request in its
//! own form, decodes it as the gateway does, and reads the canonical answer back through its own
//! encoder into an `Outcome`. A new inbound API is one more module and one more entry here.

use serde_json::Value;
use switchyard_protocol::openai::ChatRequest;
use switchyard_protocol::NativeApi;

use crate::outcome::{Answer, Outcome};

pub mod chat;
pub mod messages;
pub mod responses;

/// One scenario's request in an inbound API's form.
pub struct Request {
    pub body: Value,
    pub served_by: ServedBy,
}

/// Which targets can serve a request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ServedBy {
    /// Every target: the canonical translation says all of it.
    Any,
    /// Only a target speaking the inbound API itself: the request uses what has no canonical
    /// equivalent. Other targets' cells are n/a.
    Native,
    /// Only this provider (say Anthropic's `output_config`, which Claude on Vertex AI lacks).
    Provider(&'static str),
}

impl Request {
    pub fn translated(body: Value) -> Option<Self> {
        Some(Request { body, served_by: ServedBy::Any })
    }

    pub fn served_by(served_by: ServedBy, body: Value) -> Option<Self> {
        Some(Request { body, served_by })
    }
}

pub struct Inbound {
    /// Heading of its table in docs/CONFORMANCE.md.
    pub title: &'static str,
    /// How its answers are read, for the legend.
    pub reads: &'static str,
    /// The API a target may speak itself (and then gets the request as sent).
    pub native: Option<NativeApi>,
    /// The scenario's request; `None`: the API has no equivalent (n/a).
    pub request: fn(&str) -> Option<Request>,
    /// The request as the gateway decodes it for this API.
    pub decode: fn(&[u8]) -> ChatRequest,
    /// The canonical answer, through this API's encoder, as the client sees it; given the
    /// request as sent, for what the answer repeats of it.
    pub read: fn(&[u8], &Answer) -> Outcome,
}

pub fn inbounds() -> Vec<Inbound> {
    vec![chat::inbound(), messages::inbound(), responses::inbound()]
}
