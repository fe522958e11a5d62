//! The SSE body sent to a streaming OpenAI client: each canonical chunk as a `data:` event, and
//! the end as `[DONE]` only when the upstream finished — otherwise an explicit error event. The
//! stream itself (deadlines, usage, recording, the cache tap) is the pipeline's `AnswerStream`;
//! dropping the body (client gone) drops it, which logs the request as disconnected.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use http::header;
use switchyard_core::pipeline::{AnswerStream, StreamEvent};

use super::error::stream_error_event;

const DONE: &[u8] = b"data: [DONE]\n\n";

fn frame(data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 8);
    out.put_slice(b"data: ");
    out.put_slice(data);
    out.put_slice(b"\n\n");
    out.freeze()
}

pub fn sse_response(stream: Box<AnswerStream>) -> Response {
    let body = futures_util::stream::unfold(stream, |mut s| async move {
        let bytes = match s.next().await? {
            StreamEvent::Chunk(chunk) => frame(&chunk.data),
            StreamEvent::Done => Bytes::from_static(DONE),
            StreamEvent::Failed(e) => stream_error_event(&e),
        };
        Some((Ok::<_, Infallible>(bytes), s))
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
