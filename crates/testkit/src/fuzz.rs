//! Shared pieces of the fuzz tests (docs/FUZZING.md): the case budget, generators of hostile JSON
//! text, mutations of recorded traffic, the committed seed corpus, and a deadline per case so that
//! a hang fails the test instead of stalling the suite.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;
use serde_json::Value;

/// Cases per fuzz property: 256 in the normal suite (a bounded CI run), more with
/// `SWITCHYARD_FUZZ_CASES=20000` for a real hunt.
pub fn cases() -> u32 {
    std::env::var("SWITCHYARD_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// The proptest configuration of every fuzz property; failures are kept under the crate's
/// `proptest-regressions/` and replayed first on every later run.
pub fn config() -> Config {
    config_scaled(1)
}

/// Like [`config`], with `1/divisor` of the cases, for properties that cost a network round trip.
pub fn config_scaled(divisor: u32) -> Config {
    Config { cases: (cases() / divisor.max(1)).max(16), max_shrink_iters: 2048, ..Config::default() }
}

/// How long one case may take before it counts as a hang (generous: debug build, shared cores).
pub const CASE_DEADLINE: Duration = Duration::from_secs(10);

/// Runs `f` on its own thread and fails (naming it a hang) when it does not return within
/// `CASE_DEADLINE`; a panic inside `f` is re-raised here, so proptest sees and shrinks it.
pub fn within_deadline<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let out = f();
        let _ = tx.send(());
        out
    });
    match rx.recv_timeout(CASE_DEADLINE) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hang: the case did not finish within {CASE_DEADLINE:?}"),
    }
}

/// The committed seed corpus of `target`: every file in `fuzz/corpus/<target>/` at the workspace root.
pub fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    read_dir_sorted(&dir)
}

/// Recorded fixtures (`crates/testkit/fixtures/<provider>/…`) whose names end in `suffix`, for
/// `provider` (or every provider when `None`); `.request.json` files only when asked for by suffix.
pub fn fixtures(provider: Option<&str>, suffix: &str) -> Vec<(String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let providers: Vec<String> = match provider {
        Some(p) => vec![p.to_string()],
        None => read_dir_sorted(&root).into_iter().map(|(name, _)| name).collect(),
    };
    let mut out = Vec::new();
    for p in providers {
        let dir = root.join(&p);
        if !dir.is_dir() {
            continue;
        }
        for (name, bytes) in read_dir_sorted(&dir) {
            let wanted = name.ends_with(suffix) && (suffix.ends_with(".request.json") || !name.ends_with(".request.json"));
            if wanted {
                out.push((format!("{p}/{name}"), bytes));
            }
        }
    }
    out
}

/// Seeds for request parsers: the `body` of every recorded `.request.json` (any provider's
/// format) and `fuzz/corpus/chat-request/`. Read once per test binary.
pub fn request_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds: Vec<Vec<u8>> = fixtures(None, ".request.json")
            .into_iter()
            .filter_map(|(_, b)| serde_json::from_slice::<Value>(&b).ok())
            .filter_map(|v| serde_json::to_vec(v.get("body")?).ok())
            .collect();
        seeds.extend(corpus("chat-request").into_iter().map(|(_, b)| b));
        assert!(seeds.len() > 20, "the request seeds were not found");
        seeds
    })
}

/// Seeds for SSE decoders: every recorded `.sse` body, every `.chunks.jsonl` framed as SSE, and
/// `fuzz/corpus/sse/`. Read once per test binary.
pub fn sse_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds: Vec<Vec<u8>> = fixtures(None, ".sse").into_iter().map(|(_, b)| b).collect();
        seeds.extend(fixtures(None, ".chunks.jsonl").into_iter().map(|(_, b)| crate::chunks_to_sse(&b).to_vec()));
        seeds.extend(corpus("sse").into_iter().map(|(_, b)| b));
        assert!(seeds.len() > 15, "the SSE seeds were not found");
        seeds
    })
}

/// Files of `dir` (names and contents, sorted by name); directories are listed with empty contents.
fn read_dir_sorted(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let bytes = if e.path().is_file() { std::fs::read(e.path()).unwrap_or_default() } else { Vec::new() };
            (name, bytes)
        })
        .collect();
    out.sort();
    out
}

/// Pieces of hostile JSON text that a `serde_json::Value` cannot even hold: numbers past `f64`,
/// lone surrogates, integers past `u64`, odd escapes and characters.
const NASTY_SCALARS: &[&str] = &[
    "1e400",
    "-1e400",
    "1e-400",
    "123456789012345678901234567890",
    "-0.0",
    "0e0",
    "1.0",
    "-9223372036854775809",
    "18446744073709551616",
    "\"\\ud800\"",
    "\"\\udc00x\"",
    "\"\\ud83d\\ude00\"",
    "\"\\u0000\"",
    "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
    "\"\u{feff}\u{202e}\u{10ffff}é\u{301}\"",
    "\"\"",
    "null",
    "true",
    "false",
];

/// Keys the gateway and the providers read, so that generated objects reach real code paths.
const KEYS: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "type",
    "text",
    "choices",
    "delta",
    "message",
    "finish_reason",
    "usage",
    "index",
    "id",
    "name",
    "arguments",
    "tool_calls",
    "function",
    "candidates",
    "parts",
    "error",
    "stream",
    "tools",
    "image_url",
    "url",
    "input",
    "output",
    "stop_reason",
    "prompt_tokens",
    "completion_tokens",
    "input_tokens",
    "output_tokens",
    "usageMetadata",
    "functionCall",
    "contentBlockIndex",
    "stopReason",
];

fn json_string() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| Value::String(s).to_string())
}

fn json_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(NASTY_SCALARS).prop_map(str::to_string),
        2 => json_string(),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map(|n| n.to_string()).unwrap_or_else(|| "0".into())),
    ]
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![4 => proptest::sample::select(KEYS).prop_map(|k| Value::String(k.to_string()).to_string()), 1 => json_string()]
}

/// Syntactically valid JSON text of any shape: nested arrays and objects (duplicate keys
/// included), nasty scalars, and now and then nesting around serde_json's depth limit of 128.
pub fn json_text() -> impl Strategy<Value = String> {
    let tree = json_scalar().prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(|items| format!("[{}]", items.join(","))),
            proptest::collection::vec((json_key(), inner), 0..8).prop_map(|fields| {
                let fields: Vec<String> = fields.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    });
    prop_oneof![9 => tree, 1 => deep_json()]
}

/// Nesting from 100 to 200 levels, around the depth limit.
pub fn deep_json() -> impl Strategy<Value = String> {
    (100usize..200, any::<bool>(), json_scalar()).prop_map(|(depth, objects, leaf)| {
        if objects {
            format!("{}{leaf}{}", "{\"a\":".repeat(depth), "}".repeat(depth))
        } else {
            format!("{}{leaf}{}", "[".repeat(depth), "]".repeat(depth))
        }
    })
}

/// A JSON object text (the shape every body is supposed to have) of generated fields.
pub fn json_object_text() -> impl Strategy<Value = String> {
    proptest::collection::vec((json_key(), json_text()), 0..8).prop_map(|fields| {
        let fields: Vec<String> = fields.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
        format!("{{{}}}", fields.join(","))
    })
}

/// Bytes that often look like what a parser expects.
const INSERTS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\n",
    b"\r",
    b"\r\n",
    b"\n\n",
    b"data: ",
    b"event: ",
    b"data: [DONE]\n\n",
    b"\\u",
    b"\xff",
    b"\x00",
    b"\xe2\x82",
    b"1e400",
    b"\"\\ud800\"",
    b"null",
    b"-",
    b"0",
    b"{}",
    b"[]",
];

/// One edit of a byte string.
#[derive(Debug, Clone)]
pub enum Mutation {
    FlipByte(Index, u8),
    Truncate(Index),
    Insert(Index, &'static [u8]),
    InsertRandom(Index, Vec<u8>),
    Delete(Index, usize),
    DuplicateLine(Index),
    RemoveLine(Index),
    SwapLines(Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Mutation::FlipByte(i, x)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), proptest::sample::select(INSERTS)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::InsertRandom(i, b)),
        1 => (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        2 => any::<Index>().prop_map(Mutation::DuplicateLine),
        2 => any::<Index>().prop_map(Mutation::RemoveLine),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

/// Up to four edits.
pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..5)
}

/// `seed` with the edits applied, in order.
pub fn mutate(seed: &[u8], edits: &[Mutation]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for edit in edits {
        apply(&mut out, edit);
    }
    out
}

fn apply(out: &mut Vec<u8>, edit: &Mutation) {
    let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len + 1) };
    match edit {
        Mutation::FlipByte(i, x) if !out.is_empty() => {
            let i = i.index(out.len());
            out[i] ^= x;
        }
        Mutation::FlipByte(..) => {}
        Mutation::Truncate(i) => out.truncate(at(i, out.len())),
        Mutation::Insert(i, bytes) => {
            let i = at(i, out.len());
            out.splice(i..i, bytes.iter().copied());
        }
        Mutation::InsertRandom(i, bytes) => {
            let i = at(i, out.len());
            out.splice(i..i, bytes.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let i = at(i, out.len());
            let end = (i + n).min(out.len());
            out.drain(i..end);
        }
        Mutation::DuplicateLine(i) | Mutation::RemoveLine(i) => {
            let mut lines = split_lines(out);
            if lines.is_empty() {
                return;
            }
            let i = i.index(lines.len());
            if matches!(edit, Mutation::DuplicateLine(_)) {
                lines.insert(i, lines[i].clone());
            } else {
                lines.remove(i);
            }
            *out = lines.concat();
        }
        Mutation::SwapLines(a, b) => {
            let mut lines = split_lines(out);
            if lines.is_empty() {
                return;
            }
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
            *out = lines.concat();
        }
    }
}

/// Lines with their terminators, so that joining them gives the input back.
fn split_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

/// Edits of a JSON document's structure: a node replaced by a value of another type, removed
/// or duplicated. Nodes are numbered in pre-order.
#[derive(Debug, Clone)]
pub enum JsonEdit {
    Replace(Index, usize),
    Remove(Index),
    Duplicate(Index),
}

pub fn json_edits() -> impl Strategy<Value = Vec<JsonEdit>> {
    let edit = prop_oneof![
        3 => (any::<Index>(), 0..REPLACEMENTS).prop_map(|(i, r)| JsonEdit::Replace(i, r)),
        1 => any::<Index>().prop_map(JsonEdit::Remove),
        1 => any::<Index>().prop_map(JsonEdit::Duplicate),
    ];
    proptest::collection::vec(edit, 1..4)
}

const REPLACEMENTS: usize = 11;

fn replacement(n: usize) -> Value {
    match n {
        0 => Value::Null,
        1 => Value::from(0),
        2 => Value::from(-1),
        3 => Value::from(f64::MAX),
        4 => Value::from(""),
        5 => Value::from("x"),
        6 => Value::Array(Vec::new()),
        7 => Value::Object(serde_json::Map::new()),
        8 => Value::Bool(true),
        9 => Value::from(u64::MAX),
        _ => Value::from("\u{0}\u{ffff}".repeat(100)),
    }
}

/// `seed` (JSON) with the structural edits applied; `None` when it is not JSON.
pub fn edit_json(seed: &[u8], edits: &[JsonEdit]) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(seed).ok()?;
    for edit in edits {
        let count = count_nodes(&value);
        match edit {
            JsonEdit::Replace(i, r) => {
                let mut n = i.index(count);
                if let Some(node) = nth_node(&mut value, &mut n) {
                    *node = replacement(*r);
                }
            }
            JsonEdit::Remove(i) | JsonEdit::Duplicate(i) => {
                // Child nodes only (the root has no parent to edit).
                if count > 1 {
                    let mut n = i.index(count - 1);
                    edit_child(&mut value, &mut n, matches!(edit, JsonEdit::Duplicate(_)));
                }
            }
        }
    }
    serde_json::to_vec(&value).ok()
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

fn nth_node<'a>(v: &'a mut Value, n: &mut usize) -> Option<&'a mut Value> {
    if *n == 0 {
        return Some(v);
    }
    *n -= 1;
    match v {
        Value::Array(items) => items.iter_mut().find_map(|c| nth_node(c, n)),
        Value::Object(map) => map.values_mut().find_map(|c| nth_node(c, n)),
        _ => None,
    }
}

/// Removes or duplicates the `n`th child node (pre-order, root excluded); true once done.
fn edit_child(v: &mut Value, n: &mut usize, duplicate: bool) -> bool {
    match v {
        Value::Array(items) => {
            for i in 0..items.len() {
                if *n == 0 {
                    if duplicate {
                        let copy = items[i].clone();
                        items.insert(i, copy);
                    } else {
                        items.remove(i);
                    }
                    return true;
                }
                *n -= 1;
                if edit_child(&mut items[i], n, duplicate) {
                    return true;
                }
            }
            false
        }
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if *n == 0 {
                    if duplicate {
                        // Keys are unique: duplicate the value under a second name.
                        let copy = map[&key].clone();
                        map.insert(format!("{key}_"), copy);
                    } else {
                        map.remove(&key);
                    }
                    return true;
                }
                *n -= 1;
                if let Some(child) = map.get_mut(&key) {
                    if edit_child(child, n, duplicate) {
                        return true;
                    }
                }
            }
            false
        }
        _ => false,
    }
}

/// Cut points for splitting a body into network reads.
pub fn cuts() -> impl Strategy<Value = Vec<Index>> {
    proptest::collection::vec(any::<Index>(), 0..24)
}

/// `bytes` cut at the given points (empty pieces included: an empty read must change nothing).
pub fn split_at<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut pieces = Vec::with_capacity(points.len() + 1);
    let mut last = 0;
    for p in points {
        pieces.push(&bytes[last..p]);
        last = p;
    }
    pieces.push(&bytes[last..]);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest! {
        #[test]
        fn mutations_never_go_out_of_bounds(seed in proptest::collection::vec(any::<u8>(), 0..40), edits in mutations()) {
            // Positions are taken modulo the current length: no edit may index out of bounds.
            let _ = mutate(&seed, &edits);
        }

        #[test]
        fn split_pieces_join_to_the_input(bytes in proptest::collection::vec(any::<u8>(), 0..40), cuts in cuts()) {
            prop_assert_eq!(split_at(&bytes, &cuts).concat(), bytes);
        }

        #[test]
        fn generated_json_is_json_to_a_raw_parse(text in json_text()) {
            // Raw values keep what a typed parse refuses (1e400, lone surrogates): the request
            // parser sees exactly this.
            let deep = text.starts_with("[[[[") || text.starts_with("{\"a\":{\"a\":");
            let raw: Result<Box<serde_json::value::RawValue>, _> = serde_json::from_str(&text);
            prop_assert!(raw.is_ok() || deep, "{text}");
        }
    }

    #[test]
    fn lines_round_trip() {
        assert_eq!(split_lines(b"a\nbb\n\nccc").concat(), b"a\nbb\n\nccc".to_vec());
        assert!(split_lines(b"").is_empty());
    }

    #[test]
    fn the_fixtures_and_corpus_are_found() {
        assert!(fixtures(Some("openai"), ".sse").len() >= 3);
        assert!(fixtures(None, ".request.json").len() > 20);
        assert!(fixtures(Some("anthropic"), ".json").iter().all(|(n, _)| !n.ends_with(".request.json")));
    }
}
