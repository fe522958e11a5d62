//! Answers from the cache: a hit as the original JSON or, for a streaming request, replayed as
//! SSE chunks of the same shape; and the tap that collects a streamed miss so that a complete
//! stream can be stored.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use switchyard_core::cache::accumulate::StreamAccumulator;
use switchyard_core::cache::entry::Entry;
use switchyard_core::cache::replay::to_sse;
use switchyard_core::lookup::Fill;

pub fn hit_response(entry: &Entry, stream: bool, include_usage: bool) -> Response {
    let mut response = if stream {
        let events = to_sse(entry, include_usage).into_iter().map(Ok::<Bytes, Infallible>);
        (
            [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")],
            Body::from_stream(futures_util::stream::iter(events)),
        )
            .into_response()
    } else {
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], entry.to_completion_body()).into_response()
    };
    let headers = response.headers_mut();
    for (name, value) in [("x-switchyard-provider", entry.provider.as_str()), ("x-switchyard-model", entry.model.as_str())] {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    }
    headers.insert("x-switchyard-attempts", HeaderValue::from_static("0"));
    headers.insert("x-switchyard-cost-usd", HeaderValue::from_static("0.00000000"));
    response
}

/// Collects a streamed miss as it passes; a stream that ends cleanly is stored.
pub struct StreamTap {
    acc: StreamAccumulator,
    fill: Fill,
    provider: String,
    model: String,
}

impl StreamTap {
    pub fn new(fill: Fill, provider: &str, model: &str) -> Self {
        Self { acc: StreamAccumulator::new(), fill, provider: provider.to_string(), model: model.to_string() }
    }

    pub fn chunk(&mut self, data: &[u8]) {
        self.acc.push(data);
    }

    /// The upstream finished; `cost_usd` is what the stream cost.
    pub async fn end(self, cost_usd: f64) {
        if let Some(entry) = self.acc.finish(&self.provider, &self.model, cost_usd) {
            self.fill.complete(entry).await;
        }
    }
}

/// Embeds prompts for the semantic cache through the gateway's own routing: the configured
/// embeddings model's first target (an OpenAI-compatible `/embeddings`, or the mock's).
pub struct RouterEmbedder<'a> {
    pub router: &'a switchyard_core::Router,
    pub health: &'a switchyard_core::Health,
}

const EMBED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[async_trait::async_trait]
impl switchyard_core::lookup::Embedder for RouterEmbedder<'_> {
    async fn embed(&self, model: &str, text: &str) -> Option<Vec<f32>> {
        let plan = self.router.plan(model, &[], self.health).ok()?;
        let target = &plan.first()?.target;
        let body = serde_json::json!({"model": target.model, "input": text});
        match tokio::time::timeout(EMBED_TIMEOUT, target.provider.embeddings(&body, &target.model)).await {
            Ok(Ok(answer)) => switchyard_core::semantic::first_embedding(&answer.body),
            Ok(Err(e)) => {
                tracing::warn!(model, error = %e.message, "semantic cache: cannot embed the prompt; exact matching only");
                None
            }
            Err(_) => {
                tracing::warn!(model, "semantic cache: the embeddings model did not answer in time; exact matching only");
                None
            }
        }
    }
}
