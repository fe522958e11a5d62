//! W3C Trace Context: the ids of a trace and a span, and the `traceparent` header that carries
//! them (https://www.w3.org/TR/trace-context/). Parsing is strict where the standard says a
//! header is invalid (an unknown layout for version 00, uppercase hex, all-zero ids, version
//! ff): an invalid header is ignored and the request starts a trace of its own.

/// 16 bytes, never all zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// 8 bytes, never all zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    pub fn random() -> Self {
        loop {
            let id = fastrand::u128(..);
            if id != 0 {
                return Self(id.to_be_bytes());
            }
        }
    }

    pub fn to_hex(self) -> String {
        hex(&self.0)
    }
}

impl SpanId {
    pub fn random() -> Self {
        loop {
            let id = fastrand::u64(..);
            if id != 0 {
                return Self(id.to_be_bytes());
            }
        }
    }

    pub fn to_hex(self) -> String {
        hex(&self.0)
    }
}

/// What a `traceparent` header says: the caller's trace, its span (our request span's parent)
/// and whether the caller sampled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: TraceId,
    pub parent_id: SpanId,
    pub sampled: bool,
}

impl TraceParent {
    /// `None` for anything the standard calls invalid. A higher version than 00 is read by its
    /// version-00 prefix, as the standard asks (and must then be followed by `-` or end).
    pub fn parse(header: &str) -> Option<Self> {
        let h = header.trim_matches([' ', '\t']).as_bytes();
        if h.len() < 55 {
            return None;
        }
        let version = lower_hex(&h[0..2])?;
        if version[0] == 0xff {
            return None;
        }
        if version[0] == 0 && h.len() != 55 {
            return None;
        }
        if version[0] != 0 && h.len() > 55 && h[55] != b'-' {
            return None;
        }
        if h[2] != b'-' || h[35] != b'-' || h[52] != b'-' {
            return None;
        }
        let trace: [u8; 16] = lower_hex(&h[3..35])?.try_into().ok()?;
        let parent: [u8; 8] = lower_hex(&h[36..52])?.try_into().ok()?;
        let flags = lower_hex(&h[53..55])?[0];
        if trace == [0; 16] || parent == [0; 8] {
            return None;
        }
        Some(Self { trace_id: TraceId(trace), parent_id: SpanId(parent), sampled: flags & 1 == 1 })
    }

    /// The header for a request sent on behalf of span `span` of trace `trace`.
    pub fn format(trace: TraceId, span: SpanId, sampled: bool) -> String {
        let mut out = String::with_capacity(55);
        out.push_str("00-");
        push_hex(&mut out, &trace.0);
        out.push('-');
        push_hex(&mut out, &span.0);
        out.push_str(if sampled { "-01" } else { "-00" });
        out
    }
}

/// Lowercase hex only: the standard makes uppercase invalid.
fn lower_hex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    text.chunks(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Lowercase hex, by table: every upstream attempt of a traced request formats a `traceparent`,
/// and `write!` per byte cost as much as the rest of its span.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_header_is_read_and_written_back_the_same() {
        let p = TraceParent::parse(VALID).unwrap();
        assert_eq!(p.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(p.parent_id.to_hex(), "00f067aa0ba902b7");
        assert!(p.sampled);
        assert_eq!(TraceParent::format(p.trace_id, p.parent_id, true), VALID);
        let unsampled = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!unsampled.sampled);
        // Only bit 0 is the sampled flag.
        assert!(!TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02").unwrap().sampled);
    }

    #[test]
    fn versions_are_handled_as_the_standard_says() {
        // Version ff is invalid; version 00 must be exactly 55 characters.
        assert_eq!(TraceParent::parse("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), None);
        assert_eq!(TraceParent::parse(&format!("{VALID}-extra")), None);
        // A later version is read by its version-00 prefix, extra fields after a dash.
        assert!(TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next").is_some());
        assert_eq!(TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"), None);
        assert_eq!(TraceParent::parse("0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), None);
    }

    #[test]
    fn zero_ids_uppercase_and_bad_shapes_are_rejected() {
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "",
            "garbage",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn random_ids_are_never_zero_and_differ() {
        let (a, b) = (TraceId::random(), TraceId::random());
        assert_ne!(a, b);
        assert_ne!(a.0, [0; 16]);
        assert_ne!(SpanId::random().0, [0; 8]);
    }
}
