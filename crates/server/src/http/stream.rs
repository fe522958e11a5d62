//! The SSE body sent to a streaming OpenAI client: each canonical chunk as a `data:` event, and
//! the end as `[DONE]` only when the upstream finished — otherwise an explicit error event. The
//! stream itself (deadlines, usage, recording, the cache tap) is the pipeline's `AnswerStream`;
//! dropping the body (client gone) drops it, which logs the request as disconnected.
//!
//! A silent connection gets an SSE comment (`: keep-alive`) after every `keep_alive` without a
//! byte: while a held stream still waits for its answer (the first token, a failover) and during
//! long gaps of a started one. SSE clients ignore comment lines; proxies and load balancers that
//! cut idle connections see traffic. Comments are written here only, so they never reach the
//! recorded body or the cache.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use http::header;
use switchyard_core::cache::replay::to_sse;
use switchyard_core::pipeline::{Answer, AnswerBody, AnswerStream, Rejection, StreamEvent};
use switchyard_providers::{ErrorKind, ProviderError};
use tokio_util::sync::CancellationToken;

use super::error::{stream_error_event, ApiError};

const DONE: &[u8] = b"data: [DONE]\n\n";
const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// The pipeline run of a request whose response was committed before it answered.
pub type PendingAnswer = Pin<Box<dyn Future<Output = Result<Answer, Rejection>> + Send>>;

fn frame(data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 8);
    out.put_slice(b"data: ");
    out.put_slice(data);
    out.put_slice(b"\n\n");
    out.freeze()
}

/// A stream that started within its hold: its chunks, kept alive through long gaps.
pub fn sse_response(stream: Box<AnswerStream>) -> Response {
    let keep_alive = stream.keep_alive();
    sse_body(Writer { pending: Some(next_event(stream)), queued: Vec::new(), keep_alive })
}

/// A stream whose first token did not come within its hold: the 200 and the SSE headers go out
/// now, keep-alives while the pipeline still works (retries and failover included), then the
/// answer — or its failure as an error event, recorded once with the status the client got.
pub fn held_sse_response(pending: PendingAnswer, keep_alive: Duration, force_stop: CancellationToken) -> Response {
    let answer = Box::pin(async move {
        tokio::select! {
            answer = pending => Next::Answer(Box::new(answer)),
            // The grace period ran out while waiting upstream: the dropped pipeline logs the
            // request as its recorder drops, as for a request not yet committed.
            () = force_stop.cancelled() => Next::ShuttingDown,
        }
    });
    sse_body(Writer { pending: Some(answer), queued: Vec::new(), keep_alive })
}

fn sse_body(writer: Writer) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(futures_util::stream::unfold(writer, Writer::write)),
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
    /// Events to write before waiting again (a cached answer's replay), last first.
    queued: Vec<Bytes>,
    keep_alive: Duration,
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
            if let Some(bytes) = self.queued.pop() {
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
            let bytes = match next {
                Next::Event(_, None) => return None,
                Next::Event(stream, Some(StreamEvent::Chunk(chunk))) => {
                    self.pending = Some(next_event(stream));
                    frame(&chunk.data)
                }
                Next::Event(_, Some(StreamEvent::Done)) => Bytes::from_static(DONE),
                Next::Event(_, Some(StreamEvent::Failed(e))) => stream_error_event(&e),
                Next::ShuttingDown => ApiError::ShuttingDown.stream_event(),
                Next::Answer(answer) => match *answer {
                    Ok(Answer { body: AnswerBody::Stream(stream), .. }) => {
                        self.pending = Some(next_event(stream));
                        continue;
                    }
                    Ok(Answer { body: AnswerBody::Cached { entry, include_usage, .. }, .. }) => {
                        self.queued = to_sse(&entry, include_usage);
                        self.queued.reverse();
                        continue;
                    }
                    Ok(Answer { body: AnswerBody::Complete(_), .. }) => {
                        // A streaming request is never answered whole; should a codec change make
                        // it so, the client gets a clear failure rather than a body it cannot parse.
                        let e = ProviderError::new(ErrorKind::Malformed, "a streaming request was answered without a stream");
                        stream_error_event(&e)
                    }
                    Err(rejection) => {
                        // The 200 went out with the headers: that is the status the log keeps.
                        let (error, _) = rejection.record(ApiError::from, |e| (200, e.log_type(), e.body().error.message));
                        error.stream_event()
                    }
                },
            };
            return Some((Ok(bytes), self));
        }
    }
}
