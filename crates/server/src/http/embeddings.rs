//! `POST /v1/embeddings`: the OpenAI embeddings codec. The request goes through the same pipeline
//! as chat — keys, gateway fields, fallbacks (config, body and header), breakers, backoff, the
//! retry budget, limits and budgets — and the upstream's JSON is the answer (neither cached nor
//! streamed: always a complete body, written as it is).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::HeaderMap;
use switchyard_core::Decode;

use super::endpoint::{serve, Codec};
use super::App;

pub async fn embeddings(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    serve(app, headers, body, OpenAiEmbeddings).await
}

pub struct OpenAiEmbeddings;

impl Codec for OpenAiEmbeddings {
    const DECODE: Decode = switchyard_core::decode_embeddings;
    const ENDPOINT: switchyard_core::metrics::traffic::Endpoint = switchyard_core::metrics::traffic::Endpoint::Embeddings;
}
