//! Loads the recorded provider traffic copied into `crates/testkit/fixtures/` (see its NOTICE.md).

use std::path::PathBuf;

use bytes::Bytes;
use serde_json::Value;

use crate::reply::Reply;

/// Absolute path of a fixture, `rel` relative to `fixtures/` (e.g. `"openai/text.json"`).
pub fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel)
}

/// The fixture's bytes, unchanged. Panics (naming the file) when it cannot be read.
pub fn fixture_bytes(rel: &str) -> Bytes {
    let path = fixture_path(rel);
    match std::fs::read(&path) {
        Ok(bytes) => Bytes::from(bytes),
        Err(err) => panic!("cannot read fixture {}: {err}", path.display()),
    }
}

/// The fixture as UTF-8 text.
pub fn fixture_str(rel: &str) -> String {
    match String::from_utf8(fixture_bytes(rel).to_vec()) {
        Ok(text) => text,
        Err(err) => panic!("fixture {rel} is not UTF-8: {err}"),
    }
}

/// The fixture parsed as one JSON document.
pub fn fixture_json(rel: &str) -> Value {
    match serde_json::from_slice(&fixture_bytes(rel)) {
        Ok(value) => value,
        Err(err) => panic!("fixture {rel} is not JSON: {err}"),
    }
}

/// A reply that replays a response fixture the way the provider sent it: `.json` with the
/// recorded HTTP status and response headers from `index.json` (content-type, retry-after,
/// rate-limit and request-id headers where recorded), `.sse` event by event, `.chunks.jsonl`
/// re-framed as `data:` events followed by `data: [DONE]`.
pub fn fixture_reply(rel: &str) -> Reply {
    let body = fixture_bytes(rel);
    if rel.ends_with(".sse") {
        return Reply::sse(body);
    }
    if rel.ends_with(".chunks.jsonl") {
        return Reply::sse_from_chunks(body);
    }
    let entry = index_entry(rel);
    let status =
        entry.as_ref().and_then(|e| e.get("http_status")).and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()).unwrap_or(200);
    let mut headers: Vec<(String, String)> = entry
        .as_ref()
        .and_then(|e| e.get("response_headers"))
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                // Framing headers describe the recorded wire (often gzip), not the bytes we send.
                .filter(|(name, _)| !FRAMING_HEADERS.contains(&name.as_str()))
                .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    if !headers.iter().any(|(name, _)| name == "content-type") {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    Reply::Json { status, body, headers }
}

const FRAMING_HEADERS: [&str; 3] = ["content-length", "content-encoding", "transfer-encoding"];

/// The `index.json` entry describing the response file `rel` (`provider/file`), if any.
fn index_entry(rel: &str) -> Option<Value> {
    let (provider, file) = rel.split_once('/')?;
    let index = fixture_json("index.json");
    index
        .get("fixtures")?
        .as_array()?
        .iter()
        .find(|e| {
            e.get("provider").and_then(Value::as_str) == Some(provider)
                && e.pointer("/files/response").and_then(Value::as_str) == Some(file)
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_entry_has_its_files() {
        let index = fixture_json("index.json");
        let entries = index["fixtures"].as_array().expect("fixtures array");
        assert_eq!(entries.len(), 60, "openai 16 + azure 11 + anthropic 14 + gemini 13 + vertex 6 (of 11: those copied)");
        for entry in entries {
            let provider = entry["provider"].as_str().expect("provider");
            for file in entry["files"].as_object().expect("files").values() {
                let rel = format!("{provider}/{}", file.as_str().expect("file name"));
                assert!(fixture_path(&rel).is_file(), "{rel} is listed but missing");
            }
        }
    }

    #[test]
    fn json_fixture_reply_carries_recorded_status_and_headers() {
        let Reply::Json { status, headers, body } = fixture_reply("openai/error-401-invalid-api-key.json") else {
            panic!("a .json fixture becomes Reply::Json");
        };
        assert_eq!(status, 401);
        assert!(headers.iter().any(|(n, v)| n == "content-type" && v.starts_with("application/json")));
        let parsed: Value = serde_json::from_slice(&body).expect("json body");
        assert_eq!(parsed["error"]["code"], "invalid_api_key");
    }
}
