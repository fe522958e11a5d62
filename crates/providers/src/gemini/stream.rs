//! Decoding of `streamGenerateContent?alt=sse`. Every event is a whole GenerateContentResponse
//! holding the next parts. Function calls arrive whole, or (Vertex AI's streamed arguments) in
//! pieces over several events that make one tool call. Gemini sends no `[DONE]`, and older
//! serializers put `finishReason: STOP` on every event, so only the end of the body ends the
//! answer: the last reason seen is sent then, once, with the usage; a body that ends before any
//! reason was cut off.
//! One Gemini event can become several OpenAI chunks (text, then two tool calls): `Decoded::Chunks`.

use switchyard_protocol::sse::SseEvent;
#[cfg(test)]
use switchyard_protocol::sse::SseParser;
use switchyard_protocol::Usage;

use super::convert::{call_id, finish_reason, new_id, prompt_blocked, stream_error, tool_call, usage};
use super::partial_args::ArgumentsWriter;
use super::wire::{FunctionCall, GenerateContentResponse};
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
    /// The call whose arguments are still arriving.
    streamed: Option<StreamedCall>,
}

/// A function call streamed in pieces (`willContinue`): one OpenAI tool call.
struct StreamedCall {
    key: u64,
    name: String,
    arguments: ArgumentsWriter,
}

impl StreamedCall {
    /// The arguments text one piece of the call adds: members of whole `args`, then `partialArgs`.
    fn add(&mut self, piece: &FunctionCall, provider: &str) -> Result<String, ProviderError> {
        let refused = |path: String| {
            let message = format!("provider `{provider}` streamed the arguments of `{}` out of order (at `{path}`)", self.name);
            ProviderError::new(ErrorKind::Malformed, message)
        };
        let mut text = match piece.args.as_object() {
            Some(args) => self.arguments.write_members(args).map_err(refused)?,
            None => String::new(),
        };
        text += &self.arguments.write(piece.partial_args.as_deref().unwrap_or_default()).map_err(refused)?;
        Ok(text)
    }
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
            streamed: None,
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
                (Some(call), _) => self.function_call(call, &mut out)?,
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

    /// One `functionCall` part: a whole call, or a piece of a streamed one. A streamed call opens
    /// with its name and `willContinue`; its later pieces (name left out or repeated) add to the
    /// same tool call until one says no more follow (Vertex closes with an empty `functionCall`).
    fn function_call(&mut self, call: FunctionCall, out: &mut Vec<Chunk>) -> Result<(), ProviderError> {
        let more = call.will_continue == Some(true);
        let pieces = call.partial_args.as_ref().is_some_and(|p| !p.is_empty());
        match &mut self.streamed {
            Some(open) if call.name.is_empty() || call.name == open.name => {
                let text = open.add(&call, &self.provider)?;
                out.extend(self.writer.tool_arguments(open.key, &text).filter(|_| !text.is_empty()));
            }
            _ => {
                self.end_call(out);
                if call.name.is_empty() && call.args.is_null() && !pieces {
                    return Ok(()); // the closing piece of a call already closed
                }
                let n = self.tool_calls;
                self.tool_calls += 1;
                if !more && !pieces {
                    let call = tool_call(call, n);
                    out.push(self.writer.tool_start(n as u64, &call.id, &call.function.name, &call.function.arguments));
                    return Ok(());
                }
                let mut open = StreamedCall { key: n as u64, name: call.name.clone(), arguments: ArgumentsWriter::default() };
                let text = open.add(&call, &self.provider)?;
                out.push(self.writer.tool_start(open.key, &call_id(call.id, n), &open.name, &text));
                self.streamed = Some(open);
            }
        }
        if !more {
            self.end_call(out);
        }
        Ok(())
    }

    /// Closes the arguments of a streamed call still open.
    fn end_call(&mut self, out: &mut Vec<Chunk>) {
        if let Some(mut open) = self.streamed.take() {
            out.extend(self.writer.tool_arguments(open.key, &open.arguments.finish()));
        }
    }

    /// The body ended: the finish and usage chunks after a `finishReason`, a cut before one.
    pub fn end(&mut self) -> Result<Vec<Chunk>, ProviderError> {
        let reason = self.finish.ok_or_else(|| cut_off(&self.provider))?;
        let mut out = Vec::new();
        self.end_call(&mut out);
        out.push(self.writer.finish(reason));
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
    use serde_json::{json, Value};
    use switchyard_testkit::Accumulated;

    use super::*;

    /// A stream event with one `functionCall` part, as Vertex AI sends the pieces of a call.
    fn call(function_call: Value) -> Value {
        json!({"candidates": [{"content": {"role": "model", "parts": [{"functionCall": function_call}]}}], "modelVersion": "gemini-3-pro-preview", "responseId": "r-1"})
    }

    fn last_event() -> Value {
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 30, "totalTokenCount": 70}, "modelVersion": "gemini-3-pro-preview", "responseId": "r-1"})
    }

    /// What a client reads from the stream the events make (with `end`), or the first error.
    fn decode_events(events: &[Value]) -> Result<Accumulated, ProviderError> {
        let mut decoder = GeminiDecoder::new("vtx", "gemini-3-pro-preview", 7);
        let mut out = Accumulated::default();
        for event in events {
            let data = serde_json::to_vec(event).unwrap().into();
            decoder.decode_event(&SseEvent { event: None, data })?.iter().for_each(|c| out.add(&c.data));
        }
        decoder.end()?.iter().for_each(|c| out.add(&c.data));
        Ok(out)
    }

    fn calls(out: &Accumulated) -> Vec<(&str, &str, Value)> {
        out.calls.iter().map(|(id, name, arguments)| (id.as_str(), name.as_str(), serde_json::from_str(arguments).unwrap())).collect()
    }

    #[test]
    fn streamed_arguments_with_nested_paths_make_one_tool_call() {
        let out = decode_events(&[
            call(json!({"name": "plan_trip", "willContinue": true})),
            call(json!({"partialArgs": [{"jsonPath": "$.destination.city", "stringValue": "Bos", "willContinue": true}], "willContinue": true})),
            // Later pieces may repeat the name.
            call(json!({"name": "plan_trip", "partialArgs": [{"jsonPath": "$.destination.city", "stringValue": "ton"},
                {"jsonPath": "$.destination.nights", "numberValue": 3}], "willContinue": true})),
            call(json!({"partialArgs": [{"jsonPath": "$.stops[0]", "stringValue": "NYC"}, {"jsonPath": "$.stops[1]", "stringValue": "DC"},
                {"jsonPath": "$.refundable", "boolValue": true}, {"jsonPath": "$.notes", "nullValue": null}], "willContinue": true})),
            call(json!({})),
            call(json!({"name": "get_weather", "args": {"city": "Boston"}})),
            last_event(),
        ])
        .unwrap();
        assert!(out.index_errors.is_empty(), "{:?}", out.index_errors);
        assert_eq!(
            out.calls[0].2, r#"{"destination":{"city":"Boston","nights":3},"stops":["NYC","DC"],"refundable":true,"notes":null}"#,
            "the pieces join into one JSON text"
        );
        assert_eq!(calls(&out)[1], ("call_1", "get_weather", json!({"city": "Boston"})));
        assert_eq!((out.calls.len(), out.calls[0].0.as_str(), out.calls[0].1.as_str()), (2, "call_0", "plan_trip"));
        assert_eq!(out.finish.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn a_streamed_call_left_open_is_closed_by_the_next_call_or_the_end() {
        let open = |name: &str, value: &str| {
            [
                call(json!({"name": name, "willContinue": true})),
                call(json!({"partialArgs": [{"jsonPath": "$.q", "stringValue": value, "willContinue": true}], "willContinue": true})),
            ]
        };
        let [a, b] = open("search", "ca");
        let [c, d] = open("lookup", "do");
        let out = decode_events(&[a, b, c, d, last_event()]).unwrap();
        assert_eq!(calls(&out), [("call_0", "search", json!({"q": "ca"})), ("call_1", "lookup", json!({"q": "do"}))]);
    }

    #[test]
    fn streamed_arguments_that_go_back_are_an_error() {
        let piece = |path: &str| call(json!({"partialArgs": [{"jsonPath": path, "numberValue": 1}], "willContinue": true}));
        let err =
            decode_events(&[call(json!({"name": "f", "willContinue": true})), piece("$.a.x"), piece("$.b"), piece("$.a.y")]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Malformed);
        assert!(err.message.contains("`f`") && err.message.contains("$.a.y"), "{}", err.message);
    }

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
