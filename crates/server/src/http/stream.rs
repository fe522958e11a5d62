//! The SSE body sent to a streaming client: chunks are forwarded as they arrive, the usage chunk
//! the gateway asked for is hidden unless the client asked too, and the stream ends with
//! `[DONE]` only when the upstream finished — otherwise with an explicit error event. Dropping
//! the body (client gone) drops the upstream stream and logs the request as disconnected.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use http::header;
use switchyard_core::Recorder;
use switchyard_providers::{Chunk, ChunkStream, ErrorKind, ProviderError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::cached::StreamTap;
use super::error::stream_error_event;

const DONE: &[u8] = b"data: [DONE]\n\n";

struct State {
    /// Chunks already received (held until the first content chunk), sent first.
    prefix: std::collections::VecDeque<Chunk>,
    /// Longest wait between two chunks.
    idle: Option<std::time::Duration>,
    rest: ChunkStream,
    deadline: Instant,
    recorder: Option<Recorder>,
    show_usage: bool,
    force_stop: CancellationToken,
    /// Collects the stream for the cache (a miss that may be stored).
    tap: Option<StreamTap>,
}

enum Step {
    Chunk(Chunk),
    End,
    Failed(ProviderError),
}

impl State {
    async fn next(&mut self) -> Step {
        if let Some(c) = self.prefix.pop_front() {
            return Step::Chunk(c);
        }
        let idle_deadline = self.idle.map(|d| Instant::now() + d).filter(|d| *d < self.deadline);
        tokio::select! {
            next = tokio::time::timeout_at(idle_deadline.unwrap_or(self.deadline), self.rest.next()) => match next {
                Ok(Some(Ok(c))) => Step::Chunk(c),
                Ok(Some(Err(e))) => Step::Failed(e),
                Ok(None) => Step::End,
                Err(_) if idle_deadline.is_some() => Step::Failed(ProviderError::new(ErrorKind::Timeout, "the stream stalled longer than its idle timeout")),
                Err(_) => Step::Failed(ProviderError::new(ErrorKind::Timeout, "the stream ran past its total deadline")),
            },
            () = self.force_stop.cancelled() => Step::Failed(ProviderError::new(ErrorKind::Interrupted, "the gateway is shutting down")),
        }
    }
}

fn frame(data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 8);
    out.put_slice(b"data: ");
    out.put_slice(data);
    out.put_slice(b"\n\n");
    out.freeze()
}

#[allow(clippy::too_many_arguments)]
pub fn sse_response(
    prefix: Vec<Chunk>,
    rest: ChunkStream,
    deadline: Instant,
    idle: Option<std::time::Duration>,
    recorder: Recorder,
    show_usage: bool,
    force_stop: CancellationToken,
    tap: Option<StreamTap>,
) -> Response {
    let state = State { prefix: prefix.into(), idle, rest, deadline, recorder: Some(recorder), show_usage, force_stop, tap };
    let body = futures_util::stream::unfold(state, |mut s| async move {
        s.recorder.as_ref()?; // ended: the stream is over
        loop {
            match s.next().await {
                Step::Chunk(chunk) => {
                    let rec = s.recorder.as_mut()?;
                    if let Some(u) = chunk.usage {
                        rec.usage(u);
                    }
                    if let Some(tap) = s.tap.as_mut() {
                        tap.chunk(&chunk.data);
                    }
                    if chunk.usage_only && !s.show_usage {
                        continue;
                    }
                    let out = frame(&chunk.data);
                    rec.response_body(&out);
                    return Some((Ok::<_, Infallible>(out), s));
                }
                Step::End => {
                    let rec = s.recorder.take()?;
                    if let Some(tap) = s.tap.take() {
                        tap.end(rec.cost_usd().unwrap_or(0.0)).await;
                    }
                    rec.ok(200);
                    return Some((Ok(Bytes::from_static(DONE)), s));
                }
                Step::Failed(e) => {
                    let event = stream_error_event(&e);
                    s.recorder.take()?.incomplete(&e);
                    return Some((Ok(event), s));
                }
            }
        }
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}
