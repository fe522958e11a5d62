//! Decoding of an OpenAI-compatible SSE stream: chunks are forwarded as received, with a peek at
//! usage, at empty `choices` (the usage-only chunk) and at embedded error events.

use serde::Deserialize;
use switchyard_protocol::openai::OpenAiUsage;
use switchyard_protocol::sse::SseEvent;

use crate::sse_stream::{cut_off, Decoded, EventDecoder};
use crate::{Chunk, ErrorKind, ProviderError};

pub struct OpenAiDecoder {
    provider: String,
    saw_finish: bool,
    /// An event with `choices` or `usage` arrived: the body speaks the chunk protocol.
    saw_chunk: bool,
}

impl OpenAiDecoder {
    pub fn new(provider: &str) -> Self {
        Self { provider: provider.to_string(), saw_finish: false, saw_chunk: false }
    }
}

#[derive(Deserialize)]
struct ChunkPeek {
    #[serde(default)]
    usage: Option<OpenAiUsage>,
    #[serde(default)]
    choices: Option<Vec<ChoicePeek>>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ChoicePeek {
    #[serde(default)]
    finish_reason: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    delta: Option<DeltaPeek>,
}

#[derive(Deserialize)]
struct DeltaPeek {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<serde::de::IgnoredAny>,
}

impl ChoicePeek {
    fn has_content(&self) -> bool {
        let filled = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
        self.finish_reason.is_some()
            || self
                .delta
                .as_ref()
                .is_some_and(|d| filled(&d.content) || filled(&d.reasoning_content) || filled(&d.refusal) || d.tool_calls.is_some())
    }
}

impl EventDecoder for OpenAiDecoder {
    fn decode(&mut self, event: SseEvent) -> Result<Decoded, ProviderError> {
        if event.data.as_ref() == b"[DONE]" {
            // `[DONE]` after nothing the protocol knows is not an empty answer: the events were
            // some other API's (or `{}`), and the client must not get a clean empty stream.
            if !self.saw_chunk {
                return Err(ProviderError::new(
                    ErrorKind::Malformed,
                    format!("provider `{}` ended a stream that held no completion chunk", self.provider),
                ));
            }
            return Ok(Decoded::Done);
        }
        let peek: ChunkPeek = serde_json::from_slice(&event.data).map_err(|e| {
            ProviderError::new(ErrorKind::Malformed, format!("provider `{}` sent a stream event that is not JSON: {e}", self.provider))
        })?;
        if let Some(err) = peek.error {
            let message = err.get("message").and_then(|m| m.as_str()).unwrap_or("upstream reported an error mid-stream");
            let kind = match err.get("type").and_then(|t| t.as_str()) {
                Some("overloaded_error") => ErrorKind::Overloaded,
                Some("rate_limit_error" | "rate_limit_exceeded") => ErrorKind::RateLimited,
                _ => ErrorKind::Server,
            };
            return Err(ProviderError::new(
                kind,
                format!("provider `{}`: {}", self.provider, crate::credential::redact_key_shapes(message)),
            ));
        }
        self.saw_chunk |= peek.choices.is_some() || peek.usage.is_some();
        let choices = peek.choices.unwrap_or_default();
        self.saw_finish |= choices.iter().any(|c| c.finish_reason.is_some());
        let usage = peek.usage.map(Into::into);
        let content = choices.iter().any(ChoicePeek::has_content);
        Ok(Decoded::Chunk(Chunk { usage_only: choices.is_empty() && usage.is_some(), usage, data: event.data, content }))
    }

    fn on_eof(&mut self) -> Result<Vec<Chunk>, ProviderError> {
        if self.saw_finish {
            Ok(Vec::new())
        } else {
            Err(cut_off(&self.provider))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn event(data: &str) -> SseEvent {
        SseEvent { event: None, data: Bytes::copy_from_slice(data.as_bytes()) }
    }

    #[test]
    fn marks_usage_only_chunks_and_done() {
        let mut d = OpenAiDecoder::new("up");
        let Decoded::Chunk(c) = d.decode(event(r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#)).unwrap() else {
            panic!()
        };
        assert!(c.usage_only);
        assert_eq!(c.usage.unwrap().output_tokens, 2);
        // Azure's first chunk: empty choices, no usage — forwarded as an ordinary chunk.
        let Decoded::Chunk(c) = d.decode(event(r#"{"choices":[],"prompt_filter_results":[]}"#)).unwrap() else { panic!() };
        assert!(!c.usage_only);
        assert!(!c.content, "a filter-results chunk carries no content");
        let Decoded::Chunk(role) =
            d.decode(event(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#)).unwrap()
        else {
            panic!()
        };
        assert!(!role.content);
        let Decoded::Chunk(text) = d.decode(event(r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#)).unwrap()
        else {
            panic!()
        };
        assert!(text.content);
        assert!(matches!(d.decode(event("[DONE]")).unwrap(), Decoded::Done));
    }

    #[test]
    fn eof_without_finish_is_a_cut() {
        let mut d = OpenAiDecoder::new("up");
        d.decode(event(r#"{"choices":[{"delta":{"content":"x"},"finish_reason":null}]}"#)).unwrap();
        assert_eq!(d.on_eof().unwrap_err().kind, ErrorKind::Interrupted);
        d.decode(event(r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#)).unwrap();
        assert!(d.on_eof().is_ok());
    }

    #[test]
    fn error_events_become_errors() {
        let mut d = OpenAiDecoder::new("up");
        let err = d.decode(event(r#"{"error":{"message":"Overloaded","type":"overloaded_error"}}"#)).err().unwrap();
        assert_eq!(err.kind, ErrorKind::Overloaded);
        assert_eq!(d.decode(event("{not json")).err().unwrap().kind, ErrorKind::Malformed);
    }
}
