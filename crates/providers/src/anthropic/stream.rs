//! Anthropic's named SSE events → OpenAI chunks: text and thinking deltas, tool-use blocks as
//! tool calls (id and name first, then argument fragments), the stop reason, then usage.

use switchyard_protocol::sse::SseEvent;

use super::convert::finish_reason;
use super::wire::{AnthropicUsage, Block, Delta, StreamEvent};
use crate::sse_stream::{cut_off, Decoded, EventDecoder};
use crate::translate::ChunkWriter;
use crate::{Chunk, ErrorKind, ProviderError};

pub struct AnthropicDecoder {
    provider: String,
    writer: ChunkWriter,
    usage: AnthropicUsage,
    stopped: bool,
}

impl AnthropicDecoder {
    pub fn new(provider: &str, model: &str, created: u64) -> Self {
        Self {
            provider: provider.to_string(),
            writer: ChunkWriter::new("", model, created),
            usage: AnthropicUsage::default(),
            stopped: false,
        }
    }

    /// Whether `message_stop` arrived: the answer is complete.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }
}

pub fn error_kind(kind: &str) -> ErrorKind {
    match kind {
        "overloaded_error" => ErrorKind::Overloaded,
        "rate_limit_error" => ErrorKind::RateLimited,
        "invalid_request_error" => ErrorKind::BadRequest,
        "authentication_error" | "permission_error" => ErrorKind::Auth,
        "not_found_error" => ErrorKind::NotFound,
        "timeout_error" => ErrorKind::Timeout,
        _ => ErrorKind::Server,
    }
}

impl EventDecoder for AnthropicDecoder {
    fn decode(&mut self, event: SseEvent) -> Result<Decoded, ProviderError> {
        if self.stopped {
            return Ok(Decoded::Skip);
        }
        let parsed: StreamEvent = serde_json::from_slice(&event.data).map_err(|e| {
            ProviderError::new(
                ErrorKind::Malformed,
                format!("provider `{}` sent a stream event the gateway cannot read: {e}", self.provider),
            )
        })?;
        let w = &mut self.writer;
        let chunk = match parsed {
            StreamEvent::MessageStart { message } => {
                w.set_identity(&message.id, &message.model);
                self.usage.merge(message.usage);
                w.start()
            }
            StreamEvent::ContentBlockStart { index, content_block } => match content_block {
                Block::ToolUse { id, name, .. } => w.tool_start(index, &id, &name, ""),
                Block::Text { text } if !text.is_empty() => w.text(&text),
                Block::RedactedThinking { data } => w.reasoning_redacted(&data),
                _ => return Ok(Decoded::Skip),
            },
            StreamEvent::ContentBlockDelta { index, delta } => match delta {
                Delta::Text { text } => w.text(&text),
                Delta::Thinking { thinking } => w.reasoning(&thinking),
                Delta::Signature { signature } => w.reasoning_signature(&signature),
                Delta::InputJson { partial_json } if !partial_json.is_empty() => match w.tool_arguments(index, &partial_json) {
                    Some(c) => c,
                    None => return Ok(Decoded::Skip),
                },
                _ => return Ok(Decoded::Skip),
            },
            StreamEvent::MessageDelta { delta, usage } => {
                if let Some(u) = usage {
                    self.usage.merge(u);
                }
                match delta.stop_reason {
                    Some(reason) => w.finish(finish_reason(Some(&reason))),
                    None => return Ok(Decoded::Skip),
                }
            }
            StreamEvent::MessageStop {} => {
                self.stopped = true;
                w.usage(self.usage.canonical())
            }
            StreamEvent::Error { error } => {
                let message = crate::credential::redact_key_shapes(&error.message);
                return Err(ProviderError::new(error_kind(&error.kind), format!("provider `{}`: {message}", self.provider)));
            }
            StreamEvent::ContentBlockStop {} | StreamEvent::Ping {} | StreamEvent::Unknown => return Ok(Decoded::Skip),
        };
        Ok(Decoded::Chunk(chunk))
    }

    fn on_eof(&mut self) -> Result<Vec<Chunk>, ProviderError> {
        if self.stopped {
            Ok(Vec::new())
        } else {
            Err(cut_off(&self.provider))
        }
    }
}
