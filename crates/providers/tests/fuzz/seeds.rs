//! The recorded traffic each target is seeded with, and the stream mutations: bytes for SSE,
//! whole frames for AWS event streams (re-encoded with valid checksums, so that mutated events
//! get past the CRC check and reach the translator).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;
use switchyard_testkit::fuzz::{self, JsonEdit, Mutation};

use crate::harness::{Target, TARGETS};

struct Seeds {
    complete: Vec<Vec<u8>>,
    streams: Vec<Vec<u8>>,
    /// Bedrock only: the recorded streams as decoded frames (`.frames.jsonl`).
    frames: Vec<Vec<(BTreeMap<String, String>, Value)>>,
}

fn all() -> &'static BTreeMap<&'static str, Seeds> {
    static SEEDS: OnceLock<BTreeMap<&'static str, Seeds>> = OnceLock::new();
    SEEDS.get_or_init(|| TARGETS.iter().map(|t| (t.name, load(t))).collect())
}

fn load(t: &Target) -> Seeds {
    let mut seeds = Seeds { complete: Vec::new(), streams: Vec::new(), frames: Vec::new() };
    for dir in t.fixtures {
        seeds.complete.extend(fuzz::fixtures(Some(dir), ".json").into_iter().map(|(_, b)| b));
        if t.event_stream {
            for (_, b64) in fuzz::fixtures(Some(dir), ".eventstream.b64") {
                seeds.streams.push(aws_smithy_types::base64::decode(String::from_utf8_lossy(&b64).trim()).expect("recorded base64"));
            }
            seeds.streams.extend(fuzz::fixtures(Some(dir), ".bin").into_iter().map(|(_, b)| b));
            for (_, lines) in fuzz::fixtures(Some(dir), ".frames.jsonl") {
                seeds.frames.push(String::from_utf8_lossy(&lines).lines().map(frame).collect());
            }
        } else {
            seeds.streams.extend(fuzz::fixtures(Some(dir), ".sse").into_iter().map(|(_, b)| b));
            seeds.streams.extend(
                fuzz::fixtures(Some(dir), ".chunks.jsonl").into_iter().map(|(_, b)| switchyard_testkit::chunks_to_sse(&b).to_vec()),
            );
        }
    }
    assert!(!seeds.complete.is_empty() && !seeds.streams.is_empty(), "no seeds for {}", t.name);
    seeds
}

fn frame(line: &str) -> (BTreeMap<String, String>, Value) {
    let v: Value = serde_json::from_str(line).expect("a recorded frame");
    let headers =
        v["headers"].as_object().expect("frame headers").iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect();
    (headers, v["payload"].clone())
}

pub fn complete(t: &Target) -> &'static [Vec<u8>] {
    &all()[t.name].complete
}

pub fn streams(t: &Target) -> &'static [Vec<u8>] {
    &all()[t.name].streams
}

/// Edits of a recorded event stream at the level of whole events.
#[derive(Debug, Clone)]
pub struct FrameEdits {
    /// Which recorded stream, and whether to take the structured path at all.
    seed: Index,
    structured: bool,
    lines: Vec<Mutation>,
    payload: (Index, Vec<JsonEdit>),
    event_type: Option<(Index, &'static str)>,
}

const EVENT_TYPES: &[&str] =
    &["messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata", "unknownEvent", ""];

pub fn frame_edits() -> impl Strategy<Value = FrameEdits> {
    (
        any::<Index>(),
        any::<bool>(),
        fuzz::mutations(),
        (any::<Index>(), fuzz::json_edits()),
        proptest::option::of((any::<Index>(), proptest::sample::select(EVENT_TYPES))),
    )
        .prop_map(|(seed, structured, lines, payload, event_type)| FrameEdits { seed, structured, lines, payload, event_type })
}

/// A recorded stream of `t`, mutated: bytes for SSE (and sometimes for event streams, to reach
/// the frame decoder's checks), whole events otherwise.
pub fn mutated_stream(t: &Target, seed: &Index, edits: &[Mutation], frames: &FrameEdits) -> Vec<u8> {
    let seeds = &all()[t.name];
    if !t.event_stream || !frames.structured || seeds.frames.is_empty() {
        return fuzz::mutate(seed.get::<Vec<u8>>(&seeds.streams), edits);
    }
    let mut events = frames.seed.get(&seeds.frames).clone();
    // Line edits on the event list: duplicated, dropped, swapped events.
    let as_lines: Vec<u8> = (0..events.len()).flat_map(|i| format!("{i}\n").into_bytes()).collect();
    let kept = fuzz::mutate(&as_lines, &frames.lines.iter().filter(|m| is_line_edit(m)).cloned().collect::<Vec<_>>());
    let order: Vec<usize> = String::from_utf8_lossy(&kept).lines().filter_map(|l| l.parse().ok()).filter(|i| *i < events.len()).collect();
    events = order.into_iter().map(|i| events[i].clone()).collect();
    if !events.is_empty() {
        let (which, edits) = &frames.payload;
        let i = which.index(events.len());
        let payload = serde_json::to_vec(&events[i].1).unwrap_or_default();
        if let Some(edited) = fuzz::edit_json(&payload, edits) {
            events[i].1 = serde_json::from_slice(&edited).unwrap_or(Value::Null);
        }
        if let Some((which, kind)) = &frames.event_type {
            let i = which.index(events.len());
            events[i].0.insert(":event-type".into(), (*kind).to_string());
        }
    }
    let mut out = Vec::new();
    for (headers, payload) in events {
        let headers = headers.into_iter().map(|(k, v)| Header::new(k, HeaderValue::String(v.into()))).collect();
        let message = Message::new_from_parts(headers, serde_json::to_vec(&payload).unwrap_or_default());
        write_message_to(&message, &mut out).expect("a frame encodes");
    }
    out
}

fn is_line_edit(m: &Mutation) -> bool {
    matches!(m, Mutation::DuplicateLine(_) | Mutation::RemoveLine(_) | Mutation::SwapLines(..))
}
