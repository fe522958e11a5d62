//! Decoding of `streamGenerateContent?alt=sse`. Every event is a whole GenerateContentResponse
//! holding the next parts; function calls arrive whole. Gemini sends no `[DONE]`, and older
//! serializers put `finishReason: STOP` on every event, so only the end of the body ends the
//! answer: the last reason seen is sent then, once, with the usage; a body that ends before any
//! reason was cut off.
//! One Gemini event can become several OpenAI chunks (text, then two tool calls): `Decoded::Chunks`.

use switchyard_protocol::sse::SseEvent;
#[cfg(test)]
use switchyard_protocol::sse::SseParser;
use switchyard_protocol::Usage;

use super::convert::{finish_reason, new_id, prompt_blocked, stream_error, tool_call, usage};
use super::wire::GenerateContentResponse;
use crate::sse_stream::{cut_off, Decoded, EventDecoder, SseChunkStream};
use crate::translate::{ChunkWriter, FinishReason};
use crate::{Chunk, ChunkStream, ErrorKind, ProviderError};

pub use crate::sse_stream::ByteStream;

pub struct GeminiDecoder {
    provider: String,
    writer: ChunkWriter,
    started: bool,
    tool_calls: usize,
    /// Only the first signature is passed on, as for whole answers: the client sends one back.
    signature_sent: bool,
    /// The latest `usageMetadata`: Gemini repeats the running totals on every event.
    usage: Option<Usage>,
    /// The latest `finishReason`, sent when the body ends.
    finish: Option<FinishReason>,
}

impl GeminiDecoder {
    pub fn new(provider: &str, model: &str, created: u64) -> Self {
        Self {
            provider: provider.to_string(),
            writer: ChunkWriter::new(new_id(), model, created),
            started: false,
            tool_calls: 0,
            signature_sent: false,
            usage: None,
            finish: None,
        }
    }

    /// The chunks one event becomes (none for an event without news).
    pub fn decode_event(&mut self, event: &SseEvent) -> Result<Vec<Chunk>, ProviderError> {
        let event: GenerateContentResponse = serde_json::from_slice(&event.data).map_err(|e| {
            ProviderError::new(
                ErrorKind::Malformed,
                format!("provider `{}` sent a stream event that is not a Gemini response: {e}", self.provider),
            )
        })?;
        if let Some(status) = &event.error {
            return Err(stream_error(&self.provider, status));
        }
        if let Some(u) = &event.usage_metadata {
            self.usage = Some(usage(u));
        }
        let mut out = Vec::new();
        let Some(candidate) = event.candidates.into_iter().next() else {
            return match event.prompt_feedback {
                Some(feedback) if feedback.block_reason.is_some() => Err(prompt_blocked(&self.provider, &feedback)),
                _ => Ok(out),
            };
        };
        if !self.started {
            self.started = true;
            self.writer.set_identity(event.response_id.as_deref().unwrap_or(""), event.model_version.as_deref().unwrap_or(""));
            out.push(self.writer.start());
        }
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            match (part.function_call, part.text) {
                (Some(call), _) => {
                    let n = self.tool_calls;
                    self.tool_calls += 1;
                    let call = tool_call(call, n);
                    out.push(self.writer.tool_start(n as u64, &call.id, &call.function.name, &call.function.arguments));
                }
                (None, Some(text)) if text.is_empty() => {}
                (None, Some(text)) if part.thought == Some(true) => out.push(self.writer.reasoning(&text)),
                (None, Some(text)) => out.push(self.writer.text(&text)),
                (None, None) => {}
            }
            if let Some(signature) = part.thought_signature.filter(|_| !self.signature_sent) {
                self.signature_sent = true;
                out.push(self.writer.reasoning_signature(&signature));
            }
        }
        if let Some(reason) = candidate.finish_reason {
            self.finish = Some(finish_reason(&reason));
        }
        Ok(out)
    }

    /// The body ended: the finish and usage chunks after a `finishReason`, a cut before one.
    pub fn end(&mut self) -> Result<Vec<Chunk>, ProviderError> {
        let reason = self.finish.ok_or_else(|| cut_off(&self.provider))?;
        let mut out = vec![self.writer.finish(reason)];
        out.extend(self.usage.map(|u| self.writer.usage(u)));
        Ok(out)
    }
}

impl EventDecoder for GeminiDecoder {
    fn decode(&mut self, event: SseEvent) -> Result<Decoded, ProviderError> {
        let chunks = self.decode_event(&event)?;
        Ok(if chunks.is_empty() { Decoded::Skip } else { Decoded::Chunks(chunks) })
    }

    fn on_eof(&mut self) -> Result<Vec<Chunk>, ProviderError> {
        self.end()
    }
}

/// The OpenAI chunks of a Gemini SSE body.
pub fn chunk_stream(body: ByteStream, decoder: GeminiDecoder) -> ChunkStream {
    Box::pin(SseChunkStream::new(body, decoder))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// Decodes `body` delivered as the given pieces, straight through the parser and decoder.
    fn decode_pieces(pieces: &[&[u8]]) -> Vec<Value> {
        let (mut parser, mut decoder, mut out) = (SseParser::new(), GeminiDecoder::new("gem", "gemini-2.5-flash", 7), Vec::new());
        let mut events = Vec::new();
        for piece in pieces {
            parser.feed(piece, &mut events);
        }
        parser.finish(&mut events);
        for event in &events {
            out.extend(decoder.decode_event(event).unwrap());
        }
        out.extend(decoder.end().unwrap());
        out.iter().map(|c| serde_json::from_slice::<Value>(&c.data).unwrap()).collect()
    }

    #[test]
    fn every_split_point_decodes_the_same() {
        for name in ["text-stream", "thinking-stream", "tool-call-parallel-stream"] {
            let body = switchyard_testkit::fixture_bytes(&format!("gemini/{name}.sse"));
            let whole = decode_pieces(&[&body]);
            assert!(whole.len() >= 4, "{name}");
            for at in 0..=body.len() {
                assert_eq!(decode_pieces(&[&body[..at], &body[at..]]), whole, "{name} split at byte {at}");
            }
        }
    }
}
