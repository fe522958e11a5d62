//! How an inbound API writes the pipeline's canonical stream: each canonical chunk (an OpenAI
//! `chat.completion.chunk`) becomes the API's own SSE events, the upstream's proper end its
//! closing event(s), and a failure after the 200 its error event. One writer per response;
//! `stream.rs` drives it (keep-alives, held streams, cached replays) for every API alike.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ApiError;

pub trait WireStream: Send + 'static {
    /// One canonical chunk (its JSON document) → zero or more SSE frames.
    fn chunk(&mut self, data: &[u8], out: &mut Vec<Bytes>);
    /// The upstream finished properly.
    fn done(&mut self, out: &mut Vec<Bytes>);
    /// The stream failed after its 200 went out: the API's error event, so that the client sees
    /// a failure rather than a clean-looking end.
    fn failed(&mut self, error: &ApiError, out: &mut Vec<Bytes>);
}

/// `data: <json>\n\n`.
pub fn data_frame(data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 8);
    out.put_slice(b"data: ");
    out.put_slice(data);
    out.put_slice(b"\n\n");
    out.freeze()
}

/// `event: <name>\ndata: <json>\n\n` (Anthropic's and the Responses API's framing).
pub fn named_frame(event: &str, data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(event.len() + data.len() + 16);
    out.put_slice(b"event: ");
    out.put_slice(event.as_bytes());
    out.put_slice(b"\ndata: ");
    out.put_slice(data);
    out.put_slice(b"\n\n");
    out.freeze()
}

/// Chat Completions: the canonical chunks as they are, `[DONE]` at the end.
pub struct OpenAiSse;

impl WireStream for OpenAiSse {
    fn chunk(&mut self, data: &[u8], out: &mut Vec<Bytes>) {
        out.push(data_frame(data));
    }
    fn done(&mut self, out: &mut Vec<Bytes>) {
        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    }
    fn failed(&mut self, error: &ApiError, out: &mut Vec<Bytes>) {
        out.push(error.stream_event());
    }
}
