//! `POST /v1/messages` (also `/anthropic/v1/messages`): the Anthropic Messages codec. The
//! request is translated into the canonical one (`switchyard_protocol::anthropic`) and runs the
//! same pipeline as chat — keys, limits, budgets, cache, fallbacks, the log, cost; the canonical
//! answer, stream and errors are written back in Anthropic's shapes. `POST
//! /v1/messages/count_tokens` estimates a request's input tokens at its first target.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use switchyard_core::Decode;
use switchyard_protocol::anthropic::{from_completion, Events};

use super::endpoint::{inbound, serve, Codec};
use super::error::ApiError;
use super::wire::{named_frame, WireStream};
use super::App;

pub async fn messages(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    serve(app, headers, body, AnthropicMessages).await
}

pub struct AnthropicMessages;

impl Codec for AnthropicMessages {
    const DECODE: Decode = switchyard_core::decode_messages;
    const ENDPOINT: switchyard_core::metrics::traffic::Endpoint = switchyard_core::metrics::traffic::Endpoint::Messages;

    fn complete(&self, body: Bytes) -> Bytes {
        Bytes::from(from_completion(&body))
    }
    fn stream(&self) -> Box<dyn WireStream> {
        Box::new(AnthropicSse(Events::new()))
    }
    fn error(&self, error: ApiError) -> Response {
        error.into_anthropic_response()
    }
}

/// Anthropic's named SSE events; a failure after the 200 is its `error` event.
struct AnthropicSse(Events);

impl AnthropicSse {
    fn frames(events: Vec<switchyard_protocol::anthropic::Event>, out: &mut Vec<Bytes>) {
        for (name, data) in events {
            out.push(named_frame(name, &serde_json::to_vec(&data).expect("a JSON value serialises")));
        }
    }
}

impl WireStream for AnthropicSse {
    fn chunk(&mut self, data: &[u8], out: &mut Vec<Bytes>) {
        let mut events = Vec::new();
        self.0.chunk(data, &mut events);
        Self::frames(events, out);
    }
    fn done(&mut self, out: &mut Vec<Bytes>) {
        let mut events = Vec::new();
        self.0.done(&mut events);
        Self::frames(events, out);
    }
    fn failed(&mut self, error: &ApiError, out: &mut Vec<Bytes>) {
        out.push(named_frame("error", &error.anthropic_body()));
    }
}

/// `POST /v1/messages/count_tokens` → `{"input_tokens": N}`: the gateway's own estimate at the
/// request's first target (OpenAI's tokenizer for OpenAI kinds, about four characters a token
/// otherwise), the same one admission reserves with.
pub async fn count_tokens(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let snap = app.snapshot();
    match app.pipeline(&snap).count_tokens(inbound(&snap, &headers, body, switchyard_core::decode_messages)).await {
        Ok(n) => axum::Json(serde_json::json!({"input_tokens": n})).into_response(),
        Err(e) => ApiError::from(e).into_anthropic_response(),
    }
}
