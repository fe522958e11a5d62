//! Bedrock's binary `application/vnd.amazon.eventstream` bodies, cut anywhere by the network,
//! framed by the AWS SDK's own codec (which checks both CRCs): exception and error frames become
//! classified errors here, each event goes to the API's `Events` — ConverseStream's (below) or
//! InvokeModelWithResponseStream's (`invoke`) — which turns it into OpenAI chunks.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use serde::de::DeserializeOwned;

use super::convert;
use super::wire::{BlockDelta, BlockStart, MessageStop, Metadata};
use crate::credential::KeyRing;
use crate::sse_stream::cut_off;
use crate::translate::ChunkWriter;
use crate::{Chunk, ErrorKind, ProviderError};

pub type Item = Result<Chunk, ProviderError>;

/// What one API's events mean.
pub trait Events: Send + Unpin + 'static {
    /// One `:message-type: event` frame: its `:event-type` and payload.
    fn event(&mut self, event_type: Option<&str>, payload: &[u8], out: &mut VecDeque<Item>) -> Result<(), ProviderError>;
    /// The answer is complete: nothing after it is read.
    fn is_complete(&self) -> bool;
    /// The body ended before `is_complete`: the error saying so.
    fn cut(&mut self) -> ProviderError;
}

/// The synchronous core: bytes in, chunks (or one final error) out.
pub struct EventStreamDecoder<E> {
    provider: String,
    keys: Arc<KeyRing>,
    buf: BytesMut,
    frames: MessageFrameDecoder,
    events: E,
    failed: bool,
}

impl<E: Events> EventStreamDecoder<E> {
    pub fn new(provider: &str, keys: Arc<KeyRing>, events: E) -> Self {
        Self { provider: provider.to_string(), keys, buf: BytesMut::new(), frames: MessageFrameDecoder::new(), events, failed: false }
    }

    /// Whether nothing more will come out (complete or failed).
    pub fn is_finished(&self) -> bool {
        self.failed || self.events.is_complete()
    }

    /// Feeds the next piece of the body; complete frames are translated into `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut VecDeque<Item>) {
        if self.is_finished() {
            return;
        }
        self.buf.extend_from_slice(bytes);
        while !self.is_finished() {
            match self.frames.decode_frame(&mut self.buf) {
                Ok(DecodedFrame::Incomplete) => break,
                Ok(DecodedFrame::Complete(message)) => {
                    if let Err(e) = self.on_message(&message, out) {
                        self.fail(e, out);
                    }
                }
                Err(e) => {
                    let e = ProviderError::new(
                        ErrorKind::Malformed,
                        format!("provider `{}` sent an event-stream frame that is not valid: {e}", self.provider),
                    );
                    self.fail(e, out);
                }
            }
        }
    }

    /// The body ended: complete only when the API's events say so.
    pub fn end(&mut self, out: &mut VecDeque<Item>) {
        if !self.is_finished() {
            let e = self.events.cut();
            self.fail(e, out);
        }
    }

    fn fail(&mut self, e: ProviderError, out: &mut VecDeque<Item>) {
        self.failed = true;
        out.push_back(Err(e));
    }

    fn on_message(&mut self, message: &Message, out: &mut VecDeque<Item>) -> Result<(), ProviderError> {
        let header = |name: &str| {
            message
                .headers()
                .iter()
                .find(|h| h.name().as_str() == name)
                .and_then(|h| h.value().as_string().ok())
                .map(|s| s.as_str().to_string())
        };
        match header(":message-type").as_deref() {
            Some("event") => {}
            Some("exception") => {
                let kind = header(":exception-type");
                return Err(convert::error(None, kind.as_deref(), message.payload(), None, |t| self.keys.redact(t)));
            }
            Some("error") => {
                let text = header(":error-message").or_else(|| header(":error-code")).unwrap_or_else(|| "unknown error".into());
                return Err(ProviderError::new(
                    ErrorKind::Server,
                    format!("provider `{}` reported a stream error: {}", self.provider, self.keys.redact(&text)),
                ));
            }
            other => return Err(malformed(&self.provider, &format!("a frame with message type {other:?}"))),
        }
        self.events.event(header(":event-type").as_deref(), message.payload(), out)
    }
}

/// `provider` sent `what`, which the gateway cannot read.
pub fn malformed(provider: &str, what: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Malformed, format!("provider `{provider}` sent {what}"))
}

/// ConverseStream's events: `messageStart`, content blocks, `messageStop`, then `metadata`.
pub struct Converse {
    provider: String,
    writer: ChunkWriter,
    stopped: bool,
    /// `metadata` arrived after `messageStop`: the answer is complete.
    done: bool,
}

impl Converse {
    pub fn new(provider: &str, writer: ChunkWriter) -> Self {
        Self { provider: provider.to_string(), writer, stopped: false, done: false }
    }

    fn parse<T: DeserializeOwned>(&self, payload: &[u8]) -> Result<T, ProviderError> {
        serde_json::from_slice(payload).map_err(|e| malformed(&self.provider, &format!("an event that is not the expected JSON ({e})")))
    }
}

impl Events for Converse {
    fn event(&mut self, event_type: Option<&str>, payload: &[u8], out: &mut VecDeque<Item>) -> Result<(), ProviderError> {
        match event_type {
            Some("messageStart") => out.push_back(Ok(self.writer.start())),
            Some("contentBlockStart") => {
                let start: BlockStart = self.parse(payload)?;
                if let Some(tool) = start.start.and_then(|s| s.tool_use) {
                    out.push_back(Ok(self.writer.tool_start(start.content_block_index, &tool.tool_use_id, &tool.name, "")));
                }
            }
            Some("contentBlockDelta") => {
                let delta: BlockDelta = self.parse(payload)?;
                let Some(d) = delta.delta else { return Ok(()) };
                if let Some(text) = d.text.filter(|t| !t.is_empty()) {
                    out.push_back(Ok(self.writer.text(&text)));
                }
                if let Some(tool) = d.tool_use.filter(|t| !t.input.is_empty()) {
                    // A fragment for a block never started carries no id or name to send; skip it.
                    if let Some(chunk) = self.writer.tool_arguments(delta.content_block_index, &tool.input) {
                        out.push_back(Ok(chunk));
                    }
                }
                if let Some(r) = d.reasoning_content {
                    if let Some(text) = r.text.filter(|t| !t.is_empty()) {
                        out.push_back(Ok(self.writer.reasoning(&text)));
                    }
                    if let Some(signature) = r.signature.filter(|s| !s.is_empty()) {
                        out.push_back(Ok(self.writer.reasoning_signature(&signature)));
                    }
                }
            }
            Some("messageStop") => {
                let stop: MessageStop = self.parse(payload)?;
                out.push_back(Ok(self.writer.finish(convert::finish_reason(stop.stop_reason.as_deref().unwrap_or("end_turn")))));
                self.stopped = true;
            }
            Some("metadata") => {
                if !self.stopped {
                    return Err(cut_off(&self.provider));
                }
                let meta: Metadata = self.parse(payload)?;
                out.push_back(Ok(self.writer.usage(meta.usage.as_ref().map(convert::usage).unwrap_or_default())));
                self.done = true;
            }
            // contentBlockStop, and kinds added later.
            _ => {}
        }
        Ok(())
    }

    fn is_complete(&self) -> bool {
        self.done
    }

    fn cut(&mut self) -> ProviderError {
        cut_off(&self.provider)
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, ProviderError>> + Send>>;

/// The decoder over the upstream body, as a `ChunkStream`.
pub struct EventStreamChunks<E> {
    body: ByteStream,
    decoder: EventStreamDecoder<E>,
    queue: VecDeque<Item>,
    finished: bool,
}

impl<E: Events> EventStreamChunks<E> {
    pub fn new(body: ByteStream, decoder: EventStreamDecoder<E>) -> Self {
        Self { body, decoder, queue: VecDeque::new(), finished: false }
    }
}

impl<E: Events> Stream for EventStreamChunks<E> {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.queue.pop_front() {
                return Poll::Ready(Some(item));
            }
            if this.finished || this.decoder.is_finished() {
                this.finished = true;
                return Poll::Ready(None);
            }
            match this.body.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(bytes))) => this.decoder.push(&bytes, &mut this.queue),
                Poll::Ready(Some(Err(e))) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.decoder.end(&mut this.queue);
                    this.finished = true;
                }
            }
        }
    }
}
