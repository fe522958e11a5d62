//! The SSE body sent to a streaming client: each canonical chunk written by the inbound API's
//! `WireStream` (OpenAI: as a `data:` event, `[DONE]` at the end), and the end written only when
//! the upstream finished — otherwise the API's explicit error event. The
//! stream itself (deadlines, usage, recording, the cache tap) is the pipeline's `AnswerStream`;
//! dropping the body (client gone) drops it, which logs the request as disconnected.
//!
//! A silent connection gets an SSE comment (`: keep-alive`) after every `keep_alive` without a
//! byte: while a held stream still waits for its answer (the first token, a failover) and during
//! long gaps of a started one. SSE clients ignore comment lines; proxies and load balancers that
//! cut idle connections see traffic. Comments are written here only, so they never reach the
//! recorded body or the cache.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header;
use switchyard_core::cache::entry::Entry;
use switchyard_core::cache::replay::to_chunks;
use switchyard_core::pipeline::{Answer, AnswerBody, AnswerStream, Rejection, StreamEvent};
use switchyard_providers::{ErrorKind, ProviderError};
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::wire::WireStream;

const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// The pipeline run of a request whose response was committed before it answered.
pub type PendingAnswer = Pin<Box<dyn Future<Output = Result<Answer, Rejection>> + Send>>;

/// A stream that started within its hold: its chunks, kept alive through long gaps.
pub fn sse_response(stream: Box<AnswerStream>, wire: Box<dyn WireStream>) -> Response {
    let keep_alive = stream.keep_alive();
    sse_body(Writer { pending: Some(next_event(stream)), queued: VecDeque::new(), keep_alive, wire })
}

/// A cached answer replayed to a streaming client, in the API's shape.
pub fn replay_response(entry: &Entry, include_usage: bool, mut wire: Box<dyn WireStream>) -> Response {
    let mut out = Vec::new();
    for chunk in to_chunks(entry, include_usage) {
        wire.chunk(&chunk, &mut out);
    }
    wire.done(&mut out);
    sse_headers(Body::from_stream(futures_util::stream::iter(out.into_iter().map(Ok::<Bytes, Infallible>))))
}

/// A stream whose first token did not come within its hold: the 200 and the SSE headers go out
/// now, keep-alives while the pipeline still works (retries and failover included), then the
/// answer — or its failure as an error event, recorded once with the status the client got.
pub fn held_sse_response(
    pending: PendingAnswer,
    keep_alive: Duration,
    force_stop: CancellationToken,
    wire: Box<dyn WireStream>,
) -> Response {
    let answer = Box::pin(async move {
        tokio::select! {
            answer = pending => Next::Answer(Box::new(answer)),
            // The grace period ran out while waiting upstream: the dropped pipeline logs the
            // request as its recorder drops, as for a request not yet committed.
            () = force_stop.cancelled() => Next::ShuttingDown,
        }
    });
    sse_body(Writer { pending: Some(answer), queued: VecDeque::new(), keep_alive, wire })
}

fn sse_body(writer: Writer) -> Response {
    sse_headers(Body::from_stream(futures_util::stream::unfold(writer, Writer::write)))
}

fn sse_headers(body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        body,
    )
        .into_response()
}

/// What the body is waiting for.
enum Next {
    Answer(Box<Result<Answer, Rejection>>),
    ShuttingDown,
    /// The stream's next event (`None` after its end), and the stream.
    Event(Box<AnswerStream>, Option<StreamEvent>),
}

struct Writer {
    /// Kept across keep-alives rather than cancelled: a wait is never restarted or cut short.
    pending: Option<Pin<Box<dyn Future<Output = Next> + Send>>>,
    /// Frames to write before waiting again.
    queued: VecDeque<Bytes>,
    keep_alive: Duration,
    wire: Box<dyn WireStream>,
}

fn next_event(mut stream: Box<AnswerStream>) -> Pin<Box<dyn Future<Output = Next> + Send>> {
    Box::pin(async move {
        let event = stream.next().await;
        Next::Event(stream, event)
    })
}

impl Writer {
    async fn write(mut self) -> Option<(Result<Bytes, Infallible>, Writer)> {
        loop {
            if let Some(bytes) = self.queued.pop_front() {
                return Some((Ok(bytes), self));
            }
            let mut pending = self.pending.take()?;
            let next = tokio::select! {
                next = &mut pending => next,
                () = tokio::time::sleep(self.keep_alive) => {
                    self.pending = Some(pending);
                    return Some((Ok(Bytes::from_static(KEEP_ALIVE)), self));
                }
            };
            let mut out = Vec::new();
            match next {
                Next::Event(_, None) => {}
                Next::Event(stream, Some(StreamEvent::Chunk(chunk))) => {
                    self.pending = Some(next_event(stream));
                    self.wire.chunk(&chunk.data, &mut out);
                }
                Next::Event(_, Some(StreamEvent::Done)) => self.wire.done(&mut out),
                Next::Event(_, Some(StreamEvent::Failed(e))) => self.wire.failed(&ApiError::Provider(e), &mut out),
                Next::ShuttingDown => self.wire.failed(&ApiError::ShuttingDown, &mut out),
                Next::Answer(answer) => match *answer {
                    Ok(Answer { body: AnswerBody::Stream(stream), .. }) => self.pending = Some(next_event(stream)),
                    Ok(Answer { body: AnswerBody::Cached { entry, include_usage, .. }, .. }) => {
                        for chunk in to_chunks(&entry, include_usage) {
                            self.wire.chunk(&chunk, &mut out);
                        }
                        self.wire.done(&mut out);
                    }
                    Ok(Answer { body: AnswerBody::Complete(_), .. }) => {
                        // A streaming request is never answered whole; should a codec change make
                        // it so, the client gets a clear failure rather than a body it cannot parse.
                        let e = ProviderError::new(ErrorKind::Malformed, "a streaming request was answered without a stream");
                        self.wire.failed(&ApiError::Provider(e), &mut out);
                    }
                    Err(rejection) => {
                        // The 200 went out with the headers: that is the status the log keeps.
                        let (error, _) = rejection.record(ApiError::from, |e| (200, e.log_type(), e.body().error.message));
                        self.wire.failed(&error, &mut out);
                    }
                },
            }
            if out.is_empty() && self.pending.is_none() {
                return None;
            }
            self.queued.extend(out);
        }
    }
}
