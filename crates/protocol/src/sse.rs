//! The one incremental Server-Sent Events parser (WHATWG event-stream rules): bytes may arrive
//! split anywhere, lines end in LF, CRLF or CR, `data:` lines of one event are joined by LF.

use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when the stream names its events (Anthropic does, OpenAI does not).
    pub event: Option<String>,
    pub data: Bytes,
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of an unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended in CR, so a leading LF in the next one belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: Vec<u8>,
    has_data: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes and appends every event they complete to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<SseEvent>) {
        if input.is_empty() {
            return; // an empty read must not forget a pending CR
        }
        if self.after_cr {
            self.after_cr = false;
            if input.first() == Some(&b'\n') {
                input = &input[1..];
            }
        }
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', input) {
            let (head, rest) = input.split_at(pos);
            if self.line.is_empty() {
                self.process_line(head, out);
            } else {
                self.line.extend_from_slice(head);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, out);
            }
            input = &rest[1..];
            if rest[0] == b'\r' {
                match input.first() {
                    Some(b'\n') => input = &input[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(input);
    }

    /// Ends the stream: an event whose blank line never came is still delivered (real servers
    /// sometimes close right after the last `data:` line).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
        }
        self.dispatch(out);
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            return self.dispatch(out);
        }
        if line[0] == b':' {
            return; // comment / keep-alive
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {} // id, retry and unknown fields do not matter to the gateway
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent { event: self.event.take(), data: Bytes::from(std::mem::take(&mut self.data)) });
            self.has_data = false;
        } else {
            self.event = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out);
        }
        p.finish(&mut out);
        out
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent { event: event.map(Into::into), data: Bytes::copy_from_slice(data.as_bytes()) }
    }

    const MIXED: &[u8] = b": keep-alive\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: one\ndata: two\n\ndata:nospace\r\rid: 5\nretry: 10\ndata: [DONE]\n\n";

    #[test]
    fn parses_mixed_line_endings_comments_and_multiline_data() {
        assert_eq!(
            parse_all(&[MIXED]),
            vec![ev(Some("message_start"), "{\"a\":1}"), ev(None, "one\ntwo"), ev(None, "nospace"), ev(None, "[DONE]")]
        );
    }

    #[test]
    fn an_empty_read_after_a_cr_keeps_the_crlf_together() {
        assert_eq!(parse_all(&[b"event: e\r", b"", b"\ndata: x\n\n"]), vec![ev(Some("e"), "x")]);
    }

    #[test]
    fn delivers_a_final_event_without_blank_line() {
        assert_eq!(parse_all(&[b"data: last"]), vec![ev(None, "last")]);
    }

    #[test]
    fn recorded_streams_decode_identically_at_every_split_point() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../testkit/fixtures");
        for rel in ["openai/text-stream.sse", "openai/tool-call-parallel-stream.sse", "azure/text-stream.sse"] {
            let path = format!("{root}/{rel}");
            let Ok(body) = std::fs::read(&path) else { panic!("missing fixture {path}") };
            let whole = parse_all(&[&body]);
            assert!(whole.len() > 3, "{rel}");
            for split in 0..=body.len() {
                let (a, b) = body.split_at(split);
                assert_eq!(parse_all(&[a, b]), whole, "{rel} split at {split}");
            }
        }
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_events(cuts in proptest::collection::vec(0..MIXED.len(), 0..12)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut last = 0;
            for c in cuts { pieces.push(&MIXED[last..c]); last = c; }
            pieces.push(&MIXED[last..]);
            prop_assert_eq!(parse_all(&pieces), parse_all(&[MIXED]));
        }
    }
}
