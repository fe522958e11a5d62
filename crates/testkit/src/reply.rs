//! What the fake upstream answers: scripted replies, including faults, and SSE event splitting.

use std::time::Duration;

use bytes::Bytes;

use crate::openai::chunks_to_sse;

/// How an SSE body is cut into writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// One write per event (`\n\n`- or `\r\n\r\n`-terminated).
    Events,
    /// One write per `n` bytes, so events and UTF-8 sequences get cut at arbitrary points.
    EveryNBytes(usize),
    /// The whole body in one write.
    Whole,
}

/// One scripted answer of [`crate::FakeUpstream`].
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response with this status, body and headers (give `content-type` yourself;
    /// the constructors do).
    Json { status: u16, body: Bytes, headers: Vec<(String, String)> },
    /// A 200 `text/event-stream` response whose body is written piece by piece.
    Sse { body: Bytes, split: Split, delay_between_pieces: Duration },
    /// Like `Sse`, from a `.chunks.jsonl` body: each line becomes `data: <line>\n\n`, then
    /// `data: [DONE]\n\n`.
    SseFromChunks { chunks: Bytes, split: Split, delay_between_pieces: Duration },
    /// Accept the request and never send the response head (until the fake is dropped).
    StallBeforeHeaders,
    /// Send the 200 SSE head and the first `events` events of `body`, then keep the
    /// connection open without sending anything more.
    StallAfterEvents { body: Bytes, events: usize },
    /// Send the 200 SSE head and the first `events` events of `body`, then end the body with
    /// an error so the client sees an aborted body, never a clean end.
    DropAfterEvents { body: Bytes, events: usize },
    /// Wait, then answer with the inner reply.
    Delay(Duration, Box<Reply>),
}

impl Reply {
    /// `200` with `content-type: application/json`.
    pub fn json(body: impl Into<Bytes>) -> Self {
        Self::json_status(200, body)
    }

    /// `status` with `content-type: application/json`.
    pub fn json_status(status: u16, body: impl Into<Bytes>) -> Self {
        Reply::Json { status, body: body.into(), headers: vec![("content-type".to_owned(), "application/json".to_owned())] }
    }

    /// An OpenAI-shaped error body `{"error":{"message","type","param","code"}}` with `status`.
    pub fn openai_error(status: u16, message: &str, kind: &str, code: &str) -> Self {
        let body = serde_json::json!({
            "error": { "message": message, "type": kind, "param": null, "code": code }
        });
        Self::json_status(status, body.to_string())
    }

    /// Adds a response header (only meaningful on `Json`; ignored elsewhere).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Reply::Json { headers, .. } = &mut self {
            headers.push((name.to_ascii_lowercase(), value.to_owned()));
        }
        self
    }

    /// An SSE body sent one event per write, without delay.
    pub fn sse(body: impl Into<Bytes>) -> Self {
        Reply::Sse { body: body.into(), split: Split::Events, delay_between_pieces: Duration::ZERO }
    }

    /// An SSE body built from `.chunks.jsonl` content, one event per write.
    pub fn sse_from_chunks(chunks: impl Into<Bytes>) -> Self {
        Reply::SseFromChunks { chunks: chunks.into(), split: Split::Events, delay_between_pieces: Duration::ZERO }
    }

    /// Changes how an `Sse` / `SseFromChunks` body is cut (ignored for other replies).
    pub fn split(mut self, how: Split) -> Self {
        if let Reply::Sse { split, .. } | Reply::SseFromChunks { split, .. } = &mut self {
            *split = how;
        }
        self
    }

    /// Pauses between the writes of an `Sse` / `SseFromChunks` body (ignored elsewhere).
    pub fn pace(mut self, delay: Duration) -> Self {
        if let Reply::Sse { delay_between_pieces, .. } | Reply::SseFromChunks { delay_between_pieces, .. } = &mut self {
            *delay_between_pieces = delay;
        }
        self
    }

    /// See [`Reply::StallAfterEvents`].
    pub fn stall_after_events(events: usize, body: impl Into<Bytes>) -> Self {
        Reply::StallAfterEvents { body: body.into(), events }
    }

    /// See [`Reply::DropAfterEvents`].
    pub fn drop_after_events(events: usize, body: impl Into<Bytes>) -> Self {
        Reply::DropAfterEvents { body: body.into(), events }
    }

    /// Answers with `self` after `delay`.
    pub fn delayed(self, delay: Duration) -> Self {
        Reply::Delay(delay, Box::new(self))
    }

    /// Turns `SseFromChunks` into the equivalent `Sse`; other replies are returned unchanged.
    pub(crate) fn normalized(self) -> Self {
        match self {
            Reply::SseFromChunks { chunks, split, delay_between_pieces } => {
                Reply::Sse { body: chunks_to_sse(&chunks), split, delay_between_pieces }
            }
            other => other,
        }
    }
}

/// Cuts `body` into the pieces written one by one. Empty pieces are never produced.
pub fn split_body(body: &Bytes, split: Split) -> Vec<Bytes> {
    match split {
        Split::Whole if body.is_empty() => Vec::new(),
        Split::Whole => vec![body.clone()],
        Split::EveryNBytes(n) => {
            let n = n.max(1);
            (0..body.len()).step_by(n).map(|start| body.slice(start..(start + n).min(body.len()))).collect()
        }
        Split::Events => split_events(body),
    }
}

/// Cuts `body` after every `\n\n` or `\r\n\r\n`; a trailing unterminated part is the last piece.
pub fn split_events(body: &Bytes) -> Vec<Bytes> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < body.len() {
        let end = if body[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if body[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        };
        match end {
            Some(end) => {
                pieces.push(body.slice(start..end));
                start = end;
                i = end;
            }
            None => i += 1,
        }
    }
    if start < body.len() {
        pieces.push(body.slice(start..));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_on_both_terminators() {
        let body = Bytes::from_static(b"data: a\n\ndata: b\r\n\r\ndata: c");
        let pieces = split_events(&body);
        assert_eq!(pieces, vec![&b"data: a\n\n"[..], &b"data: b\r\n\r\n"[..], &b"data: c"[..]]);
    }

    #[test]
    fn every_n_bytes_covers_the_body() {
        let body = Bytes::from_static(b"abcdefg");
        let pieces = split_body(&body, Split::EveryNBytes(3));
        assert_eq!(pieces, vec![&b"abc"[..], &b"def"[..], &b"g"[..]]);
        assert_eq!(split_body(&body, Split::Whole).concat(), body.to_vec());
    }
}
