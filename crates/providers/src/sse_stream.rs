//! Turns an upstream byte stream into a stream of chunks through the shared SSE parser and a
//! provider-specific event decoder. Shared by every SSE-speaking provider.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use switchyard_protocol::sse::{SseEvent, SseParser};

use crate::{Chunk, ErrorKind, ProviderError};

/// What a provider's decoder makes of one event.
pub enum Decoded {
    Chunk(Chunk),
    /// Several chunks from one event (Gemini: text, tool calls, finish and usage together).
    Chunks(Vec<Chunk>),
    /// Nothing to forward (pings, bookkeeping events).
    Skip,
    /// The upstream said the stream is complete.
    Done,
}

pub trait EventDecoder: Send + 'static {
    fn decode(&mut self, event: SseEvent) -> Result<Decoded, ProviderError>;
    /// Called when the body ended without an explicit end marker: `Ok` accepts the stream as
    /// complete (some servers omit `[DONE]` after a finish reason; Gemini never sends one) with
    /// the chunks the decoder held back for the end, `Err` reports the cut.
    fn on_eof(&mut self) -> Result<Vec<Chunk>, ProviderError>;
}

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, ProviderError>> + Send>>;

pub struct SseChunkStream<D> {
    body: ByteStream,
    parser: SseParser,
    events: VecDeque<SseEvent>,
    /// Chunks decoded from one event and not yet handed out.
    pending: VecDeque<Chunk>,
    scratch: Vec<SseEvent>,
    decoder: D,
    finished: bool,
    /// The body has ended; what is left in `events` came from its unterminated tail.
    at_eof: bool,
}

impl<D: EventDecoder> SseChunkStream<D> {
    pub fn new(body: ByteStream, decoder: D) -> Self {
        Self {
            body,
            parser: SseParser::new(),
            events: VecDeque::new(),
            pending: VecDeque::new(),
            scratch: Vec::new(),
            decoder,
            finished: false,
            at_eof: false,
        }
    }

    fn fail(&mut self, err: ProviderError) -> Poll<Option<Result<Chunk, ProviderError>>> {
        self.finished = true;
        Poll::Ready(Some(Err(err)))
    }
}

impl<D: EventDecoder + Unpin> Stream for SseChunkStream<D> {
    type Item = Result<Chunk, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(c) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(c)));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            if let Some(event) = this.events.pop_front() {
                return match this.decoder.decode(event) {
                    Ok(Decoded::Chunk(c)) => Poll::Ready(Some(Ok(c))),
                    Ok(Decoded::Chunks(chunks)) => {
                        this.pending.extend(chunks);
                        continue;
                    }
                    Ok(Decoded::Skip) => continue,
                    Ok(Decoded::Done) => {
                        this.finished = true;
                        Poll::Ready(None)
                    }
                    // A torn last event is the sign of a cut connection, not of a bad upstream.
                    Err(e) if this.at_eof && e.kind == ErrorKind::Malformed => match this.decoder.on_eof() {
                        Err(cut) => this.fail(cut),
                        Ok(_) => this.fail(e),
                    },
                    Err(e) => this.fail(e),
                };
            }
            match this.body.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(bytes))) => {
                    this.parser.feed(&bytes, &mut this.scratch);
                    this.events.extend(this.scratch.drain(..));
                }
                Poll::Ready(Some(Err(e))) => return this.fail(e),
                Poll::Ready(None) => {
                    this.at_eof = true;
                    this.parser.finish(&mut this.scratch);
                    if this.scratch.is_empty() {
                        this.finished = true;
                        match this.decoder.on_eof() {
                            Ok(last) => this.pending.extend(last),
                            Err(e) => return Poll::Ready(Some(Err(e))),
                        }
                        continue;
                    }
                    this.events.extend(this.scratch.drain(..));
                }
            }
        }
    }
}

/// The error for a stream that ended without its end marker.
pub fn cut_off(provider: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Interrupted, format!("provider `{provider}` ended the stream before it was complete"))
}
