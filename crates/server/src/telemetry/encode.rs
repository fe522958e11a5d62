//! The OTLP messages the exporter sends, encoded by hand: `ExportTraceServiceRequest` and what it
//! holds (`ResourceSpans`, `ScopeSpans`, `Span`, `Status`, `KeyValue`, `AnyValue`), with the
//! field numbers of opentelemetry-proto's `trace/v1/trace.proto`, `common/v1/common.proto` and
//! `collector/trace/v1/trace_service.proto`. Six messages do not justify a code generator.

use super::spans::{Kind, Span, Value};

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

/// `ExportTraceServiceRequest { resource_spans = 1 }` with one resource and one scope.
pub fn export_request(resource: &[(&str, Value)], scope: (&str, &str), spans: &[Span]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 * spans.len() + 128);
    message(&mut out, 1, |rs| {
        // ResourceSpans.resource = 1: Resource { attributes = 1 }
        message(rs, 1, |r| {
            for (k, v) in resource {
                key_value(r, 1, k, v);
            }
        });
        // ResourceSpans.scope_spans = 2: ScopeSpans { scope = 1, spans = 2 }
        message(rs, 2, |ss| {
            // InstrumentationScope { name = 1, version = 2 }
            message(ss, 1, |s| {
                string(s, 1, scope.0);
                string(s, 2, scope.1);
            });
            for span in spans {
                message(ss, 2, |s| encode_span(s, span));
            }
        });
    });
    out
}

fn encode_span(out: &mut Vec<u8>, span: &Span) {
    bytes(out, 1, &span.trace_id.0);
    bytes(out, 2, &span.span_id.0);
    if let Some(state) = &span.trace_state {
        string(out, 3, state);
    }
    if let Some(parent) = span.parent {
        bytes(out, 4, &parent.0);
    }
    string(out, 5, &span.name);
    let kind = match span.kind {
        Kind::Internal => 1,
        Kind::Server => 2,
        Kind::Client => 3,
    };
    tag(out, 6, VARINT);
    varint(out, kind);
    tag(out, 7, FIXED64);
    out.extend_from_slice(&span.start_unix_ns.to_le_bytes());
    tag(out, 8, FIXED64);
    out.extend_from_slice(&span.end_unix_ns.max(span.start_unix_ns).to_le_bytes());
    for (k, v) in &span.attributes {
        key_value(out, 9, k, v);
    }
    // Status { message = 2, code = 3 }: ERROR = 2; unset when the span did not fail.
    if let Some(message_text) = &span.error {
        message(out, 15, |s| {
            string(s, 2, message_text);
            tag(s, 3, VARINT);
            varint(s, 2);
        });
    }
    // flags = 16 (fixed32): the W3C trace flags, sampled.
    tag(out, 16, 5);
    out.extend_from_slice(&1u32.to_le_bytes());
}

/// `KeyValue { key = 1, value = 2 }`, `AnyValue { string_value = 1, bool_value = 2,
/// int_value = 3, double_value = 4, array_value = 5 }`, `ArrayValue { values = 1 }`.
fn key_value(out: &mut Vec<u8>, field: u32, key: &str, value: &Value) {
    message(out, field, |kv| {
        string(kv, 1, key);
        message(kv, 2, |v| any_value(v, value));
    });
}

fn any_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Str(s) => string(out, 1, s),
        Value::Bool(b) => {
            tag(out, 2, VARINT);
            varint(out, u64::from(*b));
        }
        Value::Int(i) => {
            tag(out, 3, VARINT);
            varint(out, *i as u64);
        }
        Value::Double(d) => {
            tag(out, 4, FIXED64);
            out.extend_from_slice(&d.to_le_bytes());
        }
        Value::StrArray(items) => message(out, 5, |a| {
            for item in items {
                message(a, 1, |v| string(v, 1, item));
            }
        }),
    }
}

/// A length-delimited field holding a message written by `body`: written in place after a
/// one-byte length, which is widened afterwards only for a body of 128 bytes or more (an
/// attribute, the commonest message, never moves and nothing is allocated).
fn message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    tag(out, field, LEN);
    out.push(0);
    let start = out.len();
    body(out);
    let len = out.len() - start;
    if len < 0x80 {
        out[start - 1] = len as u8;
        return;
    }
    let mut prefix = [0u8; 10];
    let mut n = 0;
    let mut v = len as u64;
    while v >= 0x80 {
        prefix[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    prefix[n] = v as u8;
    n += 1;
    out.splice(start - 1..start, prefix[..n].iter().copied());
}

fn string(out: &mut Vec<u8>, field: u32, value: &str) {
    bytes(out, field, value.as_bytes());
}

fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    tag(out, field, LEN);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, u64::from(field) << 3 | u64::from(wire));
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A minimal protobuf reader for the tests: the fields of one message, by number.
#[cfg(test)]
pub mod read {
    #[derive(Debug, Clone, PartialEq)]
    pub enum Field {
        Varint(u64),
        Fixed64(u64),
        Fixed32(u32),
        Bytes(Vec<u8>),
    }

    pub fn fields(mut buf: &[u8]) -> Vec<(u32, Field)> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            let key = varint(&mut buf);
            let (field, wire) = ((key >> 3) as u32, key & 7);
            let value = match wire {
                0 => Field::Varint(varint(&mut buf)),
                1 => {
                    let (v, rest) = buf.split_at(8);
                    buf = rest;
                    Field::Fixed64(u64::from_le_bytes(v.try_into().unwrap()))
                }
                5 => {
                    let (v, rest) = buf.split_at(4);
                    buf = rest;
                    Field::Fixed32(u32::from_le_bytes(v.try_into().unwrap()))
                }
                2 => {
                    let len = varint(&mut buf) as usize;
                    let (v, rest) = buf.split_at(len);
                    buf = rest;
                    Field::Bytes(v.to_vec())
                }
                other => panic!("unexpected wire type {other}"),
            };
            out.push((field, value));
        }
        out
    }

    /// Every length-delimited field `n` of a message.
    pub fn all(buf: &[u8], n: u32) -> Vec<Vec<u8>> {
        fields(buf).into_iter().filter(|(f, _)| *f == n).filter_map(|(_, v)| if let Field::Bytes(b) = v { Some(b) } else { None }).collect()
    }

    pub fn one(buf: &[u8], n: u32) -> Vec<u8> {
        all(buf, n).into_iter().next().unwrap_or_else(|| panic!("no field {n}"))
    }

    pub fn text(buf: &[u8], n: u32) -> String {
        String::from_utf8(one(buf, n)).unwrap()
    }

    fn varint(buf: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = buf[0];
            *buf = &buf[1..];
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::read::{all, fields, one, text, Field};
    use super::*;
    use switchyard_core::telemetry::{SpanId, TraceId};

    fn span(name: &str, attributes: Vec<(&'static str, Value)>, error: Option<&str>) -> Span {
        Span {
            trace_id: TraceId([7; 16]),
            span_id: SpanId([8; 8]),
            parent: Some(SpanId([9; 8])),
            trace_state: Some("v=1".into()),
            name: name.into(),
            kind: Kind::Client,
            start_unix_ns: 1_700_000_000_000_000_000,
            end_unix_ns: 1_700_000_000_250_000_000,
            attributes,
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn an_export_request_reads_back_field_by_field() {
        let long = "x".repeat(300); // a length past one varint byte
        let spans = [
            span(
                "chat gpt-4o",
                vec![
                    ("gen_ai.request.model", Value::Str("gpt-4o".into())),
                    ("gen_ai.usage.input_tokens", Value::Int(300)),
                    ("switchyard.cost_usd", Value::Double(0.125)),
                    ("switchyard.stream", Value::Bool(true)),
                    ("gen_ai.response.finish_reasons", Value::StrArray(vec!["stop".into(), long.clone()])),
                ],
                None,
            ),
            span("admission", vec![], Some("rate_limited")),
        ];
        let bytes = export_request(&[("service.name", Value::Str("switchyard".into()))], ("switchyard", "1.2.3"), &spans);
        let resource_spans = all(&bytes, 1);
        assert_eq!(resource_spans.len(), 1);
        let resource = one(&resource_spans[0], 1);
        let kv = one(&resource, 1);
        assert_eq!((text(&kv, 1), text(&one(&kv, 2), 1)), ("service.name".to_string(), "switchyard".to_string()));
        let scope_spans = one(&resource_spans[0], 2);
        let scope = one(&scope_spans, 1);
        assert_eq!((text(&scope, 1), text(&scope, 2)), ("switchyard".to_string(), "1.2.3".to_string()));
        let decoded = all(&scope_spans, 2);
        assert_eq!(decoded.len(), 2);

        let first = &decoded[0];
        assert_eq!(one(first, 1), vec![7; 16]);
        assert_eq!(one(first, 2), vec![8; 8]);
        assert_eq!(text(first, 3), "v=1");
        assert_eq!(one(first, 4), vec![9; 8]);
        assert_eq!(text(first, 5), "chat gpt-4o");
        let f = fields(first);
        let get = |n: u32| f.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(get(6), Field::Varint(3), "CLIENT");
        assert_eq!(get(7), Field::Fixed64(1_700_000_000_000_000_000));
        assert_eq!(get(8), Field::Fixed64(1_700_000_000_250_000_000));
        assert_eq!(get(16), Field::Fixed32(1));
        let attrs = all(first, 9);
        assert_eq!(attrs.len(), 5);
        let value = |i: usize| fields(&one(&attrs[i], 2)).remove(0).1;
        assert_eq!(text(&attrs[1], 1), "gen_ai.usage.input_tokens");
        assert_eq!(value(1), Field::Varint(300));
        assert_eq!(value(2), Field::Fixed64(0.125f64.to_bits()));
        assert_eq!(value(3), Field::Varint(1));
        let array = one(&one(&attrs[4], 2), 5);
        let items: Vec<String> = all(&array, 1).iter().map(|v| text(v, 1)).collect();
        assert_eq!(items, ["stop".to_string(), long]);
        assert!(all(first, 15).is_empty(), "no status on a span that did not fail");

        let status = one(&decoded[1], 15);
        assert_eq!(text(&status, 2), "rate_limited");
        assert_eq!(fields(&status)[1], (3, Field::Varint(2)), "STATUS_CODE_ERROR");
    }

    #[test]
    fn varints_match_the_protobuf_examples() {
        let enc = |v| {
            let mut out = Vec::new();
            varint(&mut out, v);
            out
        };
        assert_eq!(enc(1), [0x01]);
        assert_eq!(enc(150), [0x96, 0x01]);
        assert_eq!(enc(300), [0xac, 0x02]);
        // A negative int64 is ten bytes, as protobuf writes it.
        assert_eq!(enc(-1i64 as u64).len(), 10);
    }
}
