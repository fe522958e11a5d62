//! A streamed answer on its way to the client: the chunks held back before the first content
//! chunk come first, then the upstream's, each within the idle and total deadlines. The usage
//! chunk the gateway asked for is hidden unless the client asked too. The stream records itself:
//! usage as it passes, `ok` when the upstream finished, `incomplete` when it failed — and a
//! stream dropped early (client gone) is logged as disconnected by its recorder. A stream that
//! stops before its end writes why on its serving attempt, and what it delivered is counted so a
//! stream without the provider's usage is still logged and billed for its output. A complete
//! stream is handed to the cache.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::StreamExt;
use switchyard_providers::{Chunk, ChunkStream, ErrorKind, ProviderError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::delivered::Delivered;
use crate::cache::accumulate::StreamAccumulator;
use crate::lookup::Fill;
use crate::record::Recorder;
use crate::store::AttemptError;

/// What the codec writes next.
pub enum StreamEvent {
    /// One canonical chunk (an OpenAI `chat.completion.chunk`).
    Chunk(Chunk),
    /// The upstream finished properly.
    Done,
    /// The stream was cut: the codec ends it with an explicit error event.
    Failed(ProviderError),
}

pub struct AnswerStream {
    /// Chunks already received (held until the first content chunk), sent first.
    prefix: VecDeque<Chunk>,
    rest: ChunkStream,
    /// Longest wait between two chunks.
    idle: Option<Duration>,
    deadline: Instant,
    /// `None` once the stream has ended.
    recorder: Option<Recorder>,
    show_usage: bool,
    force_stop: CancellationToken,
    tap: Option<StreamTap>,
    delivered: Delivered,
    keep_alive: Duration,
}

pub(super) struct StreamParts {
    pub prefix: Vec<Chunk>,
    pub rest: ChunkStream,
    pub idle: Option<Duration>,
    pub deadline: Instant,
    pub show_usage: bool,
    pub force_stop: CancellationToken,
    pub tap: Option<StreamTap>,
    pub delivered: Delivered,
    pub keep_alive: Duration,
}

/// Why a stream stopped early: what its serving attempt is logged with, and the error the
/// client's stream ends with.
struct Cut {
    reason: AttemptError,
    error: ProviderError,
}

impl Cut {
    fn by_gateway(reason: AttemptError, kind: ErrorKind, message: &str) -> Self {
        Cut { reason, error: ProviderError::new(kind, message) }
    }
}

impl AnswerStream {
    pub(super) fn new(parts: StreamParts, recorder: Recorder) -> Self {
        let StreamParts { prefix, rest, idle, deadline, show_usage, force_stop, tap, delivered, keep_alive } = parts;
        let recorder = Some(recorder);
        Self { prefix: prefix.into(), rest, idle, deadline, recorder, show_usage, force_stop, tap, delivered, keep_alive }
    }

    /// Silence after which the transport sends a keep-alive (the serving target's `keep_alive`).
    pub fn keep_alive(&self) -> Duration {
        self.keep_alive
    }

    /// The next event for the client; `None` after `Done` or `Failed`.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        self.recorder.as_ref()?;
        loop {
            match self.upstream().await {
                Ok(Some(chunk)) => {
                    let rec = self.recorder.as_mut()?;
                    if let Some(u) = chunk.usage {
                        rec.usage(u);
                    }
                    if let Some(tap) = self.tap.as_mut() {
                        tap.acc.push(&chunk.data);
                    }
                    if chunk.usage_only && !self.show_usage {
                        continue;
                    }
                    rec.response_chunk(&chunk.data);
                    rec.trace_chunk(&chunk.data);
                    self.delivered.push(&chunk.data);
                    return Some(StreamEvent::Chunk(chunk));
                }
                Ok(None) => {
                    let mut rec = self.recorder.take()?;
                    rec.delivered_output(|| self.delivered.output_tokens());
                    if let Some(tap) = self.tap.take() {
                        tap.end(rec.cost_usd().unwrap_or(0.0)).await;
                    }
                    rec.ok(200);
                    return Some(StreamEvent::Done);
                }
                Err(Cut { reason, error }) => {
                    let mut rec = self.recorder.take()?;
                    rec.delivered_output(|| self.delivered.output_tokens());
                    rec.serving_attempt_cut(reason);
                    rec.incomplete(&error);
                    return Some(StreamEvent::Failed(error));
                }
            }
        }
    }

    async fn upstream(&mut self) -> Result<Option<Chunk>, Cut> {
        if let Some(c) = self.prefix.pop_front() {
            return Ok(Some(c));
        }
        let idle_deadline = self.idle.map(|d| Instant::now() + d).filter(|d| *d < self.deadline);
        tokio::select! {
            next = tokio::time::timeout_at(idle_deadline.unwrap_or(self.deadline), self.rest.next()) => match next {
                Ok(next) => next.transpose().map_err(|error| Cut { reason: AttemptError::Failed(error.kind), error }),
                Err(_) if idle_deadline.is_some() => {
                    Err(Cut::by_gateway(AttemptError::IdleTimeout, ErrorKind::Timeout, "the stream stalled longer than its idle timeout"))
                }
                Err(_) => Err(Cut::by_gateway(AttemptError::Deadline, ErrorKind::Timeout, "the stream ran past its total deadline")),
            },
            () = self.force_stop.cancelled() => {
                Err(Cut::by_gateway(AttemptError::ShuttingDown, ErrorKind::Interrupted, "the gateway is shutting down"))
            }
        }
    }
}

impl Drop for AnswerStream {
    /// Dropped before its end: the client went away (or its connection was cut). The recorder
    /// then logs it as disconnected, with what was delivered until then.
    fn drop(&mut self) {
        if let Some(rec) = self.recorder.as_mut() {
            rec.delivered_output(|| self.delivered.output_tokens());
            rec.serving_attempt_cut(AttemptError::ClientDisconnected);
        }
    }
}

/// Collects a streamed miss as it passes; a stream that ends cleanly is stored.
pub(super) struct StreamTap {
    acc: StreamAccumulator,
    fill: Fill,
    provider: String,
    model: String,
}

impl StreamTap {
    pub(super) fn new(fill: Fill, provider: &str, model: &str) -> Self {
        Self { acc: StreamAccumulator::new(), fill, provider: provider.to_string(), model: model.to_string() }
    }

    /// The upstream finished; `cost_usd` is what the stream cost.
    async fn end(self, cost_usd: f64) {
        if let Some(entry) = self.acc.finish(&self.provider, &self.model, cost_usd) {
            self.fill.complete(entry).await;
        }
    }
}
