//! `POST /v1/chat/completions`: the OpenAI Chat Completions codec. The canonical request and
//! answer are OpenAI's own, so decoding is parsing and encoding writes the body, the cached
//! answer or the SSE stream as they are (the `Codec` defaults).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::HeaderMap;
use switchyard_core::Decode;

use super::endpoint::{serve, Codec};
use super::App;

pub async fn chat_completions(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    serve(app, headers, body, OpenAiChat).await
}

pub struct OpenAiChat;

impl Codec for OpenAiChat {
    const DECODE: Decode = switchyard_core::decode_chat;
    const ENDPOINT: switchyard_core::metrics::traffic::Endpoint = switchyard_core::metrics::traffic::Endpoint::ChatCompletions;
}
