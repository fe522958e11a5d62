//! `POST /v1/chat/completions`: the OpenAI Chat Completions codec. The canonical request and
//! answer are OpenAI's own, so decoding is parsing and encoding writes the body, the cached
//! answer or the SSE stream as they are.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, StatusCode};
use switchyard_core::pipeline::{Answer, AnswerBody};
use switchyard_core::Decode;

use super::cached::hit_response;
use super::endpoint::{put_all, serve, Codec};
use super::stream::sse_response;
use super::App;

pub async fn chat_completions(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    serve::<OpenAiChat>(app, headers, body).await
}

pub struct OpenAiChat;

impl Codec for OpenAiChat {
    const DECODE: Decode = switchyard_core::decode_chat;

    fn encode(answer: Answer) -> Response {
        let mut response = match answer.body {
            AnswerBody::Complete(body) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
            AnswerBody::Cached { entry, stream, include_usage } => hit_response(&entry, stream, include_usage),
            AnswerBody::Stream(stream) => sse_response(stream),
        };
        put_all(response.headers_mut(), answer.headers);
        response
    }
}
