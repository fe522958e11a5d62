//! The exact-cache key: a SHA-256 over the tenant, the optional customer, the model name the
//! client asked for and a canonical JSON form of every request field that can change the answer.
//!
//! Canonical JSON: object keys sorted (recursively), no whitespace, integral numbers written as
//! integers (`1.0`, `1e0` and `1` are the same), top-level `null` fields dropped (OpenAI treats an
//! explicit `null` as the default). Everything else — string contents, array order, nested
//! `null`s — is kept as sent: two requests that differ there may well get different answers.
//!
//! Every top-level field takes part except [`IGNORED`]: transport and bookkeeping fields that do
//! not change the answer. Unknown fields therefore take part too (a vendor extension may change
//! the output; a needless miss is cheaper than a wrong hit). `model` is passed in separately, and
//! `stream` is ignored so that a streamed and a non-streamed request share one entry.

use serde_json::{Number, Value};
use sha2::{Digest, Sha256};
use switchyard_protocol::openai::ChatRequest;

/// Top-level fields that never take part in the key, and why:
/// - `model`: hashed on its own, as the name the client asked for;
/// - `stream`, `stream_options`: delivery only; a hit is replayed either way;
/// - `user`, `safety_identifier`, `metadata`, `store`: who asked and what OpenAI keeps, not what it
///   answers (customer scoping is explicit, see [`cache_key`]);
/// - `service_tier`: latency and price class, same model and answer;
/// - `prompt_cache_key`, `prompt_cache_retention`: routing hints for OpenAI's own prompt cache.
pub const IGNORED: &[&str] = &[
    "model",
    "stream",
    "stream_options",
    "user",
    "safety_identifier",
    "metadata",
    "store",
    "service_tier",
    "prompt_cache_key",
    "prompt_cache_retention",
];

/// Bumped whenever the canonical form changes, so old entries simply stop matching.
const DOMAIN: &[u8] = b"switchyard/exact-cache/v1";

/// The hex SHA-256 key of `request` for `tenant` (always) and `customer` (when the request is
/// scoped by customer; `None` and `Some("")` are different scopes). `model` is the name the
/// client asked for, after prompt-template expansion of the request.
///
/// `None` when the request has no canonical form: a value the canonical re-parse refuses although
/// the first parse kept it raw (nesting past serde_json's depth limit, a number like `1e400`, a
/// lone surrogate `"\ud800"`). Such a request bypasses the cache: a key that ignored part of the
/// request would hand one prompt another's answer.
pub fn cache_key(request: &ChatRequest, model: &str, tenant: &str, customer: Option<&str>) -> Option<String> {
    // `to_upstream_body` is the one way to see every field, unknown ones included, as sent.
    let body = request.to_upstream_body(model, false);
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else { return None };
    let mut canonical = Vec::with_capacity(body.len());
    canonical.push(b'{');
    let mut first = true;
    // serde_json's Map without `preserve_order` is a BTreeMap: iteration is sorted by key; sort
    // anyway so that a feature flipped elsewhere in the workspace cannot change keys.
    let mut keys: Vec<&String> = fields.keys().filter(|k| !IGNORED.contains(&k.as_str())).collect();
    keys.sort();
    for key in keys {
        let value = &fields[key.as_str()];
        if value.is_null() {
            continue;
        }
        if !std::mem::take(&mut first) {
            canonical.push(b',');
        }
        write_canonical(&Value::String(key.clone()), &mut canonical);
        canonical.push(b':');
        write_canonical(value, &mut canonical);
    }
    canonical.push(b'}');

    let mut hash = Sha256::new();
    hash.update(DOMAIN);
    framed(&mut hash, tenant.as_bytes());
    match customer {
        None => hash.update([0u8]),
        Some(c) => {
            hash.update([1u8]);
            framed(&mut hash, c.as_bytes());
        }
    }
    framed(&mut hash, model.as_bytes());
    framed(&mut hash, &canonical);
    // A request forwarded in its own API (Anthropic Messages) carries what its translation
    // leaves out (server tools, cache_control, the exact thinking budget, betas): it is part of
    // the key, as sent (conservative: equal bodies written differently only miss).
    if let Some(native) = request.native() {
        framed(&mut hash, &native.body.to_bytes());
        framed(&mut hash, native.beta.as_deref().unwrap_or("").as_bytes());
    }
    Some(hex(&hash.finalize()))
}

/// Length-prefixed, so that no choice of tenant, customer or model text can run into the next.
fn framed(hash: &mut Sha256, part: &[u8]) {
    hash.update((part.len() as u64).to_be_bytes());
    hash.update(part);
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Writes `value` in canonical form (see the module docs).
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k).expect("string serialisation");
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        Value::Number(n) => out.extend_from_slice(canonical_number(n).as_bytes()),
        other => serde_json::to_writer(&mut *out, other).expect("scalar serialisation"),
    }
}

/// Integral values print as integers whatever their form (`1.0`, `1e0`, `-0.0`); others use
/// the shortest representation that reads back to the same `f64`.
fn canonical_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    match n.as_f64() {
        // `i64::MAX as f64` is 2^63: below it an integral f64 converts to i64 exactly.
        Some(f) if f.fract() == 0.0 && f.abs() < i64::MAX as f64 => (f as i64).to_string(),
        Some(f) => Number::from_f64(f).map(|n| n.to_string()).unwrap_or_else(|| n.to_string()),
        None => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(body: &str) -> ChatRequest {
        ChatRequest::parse(body.as_bytes()).unwrap()
    }

    fn key(body: &str) -> String {
        cache_key(&req(body), "gpt-4o", "tenant-a", None).unwrap()
    }

    #[test]
    fn a_request_without_a_canonical_form_has_no_key_rather_than_an_empty_one() {
        let deep = format!("{}1{}", "[".repeat(130), "]".repeat(130));
        let unkeyable = [
            format!(r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"one"}}],"vendor":{deep}}}"#),
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"two"}],"vendor":1e400}"#.to_string(),
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"three"}],"vendor":"\ud800"}"#.to_string(),
        ];
        for body in &unkeyable {
            assert_eq!(cache_key(&req(body), "gpt-4o", "tenant-a", None), None, "{body}");
        }
        assert!(cache_key(&req(BASE), "gpt-4o", "tenant-a", None).is_some());
    }

    const BASE: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0,"seed":7}"#;

    #[test]
    fn key_is_hex_sha256() {
        let k = key(BASE);
        assert_eq!(k.len(), 64);
        assert!(k.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{k}");
    }

    #[test]
    fn field_order_whitespace_and_number_forms_do_not_matter() {
        let same = [
            r#"{ "seed" : 7 , "temperature" : 0.0 , "messages" : [ { "content" : "hi" , "role" : "user" } ] , "model" : "gpt-4o" }"#,
            r#"{"model":"gpt-4o","temperature":0e0,"messages":[{"role":"user","content":"hi"}],"seed":7.0}"#,
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":-0.0,"seed":7,"top_p":null}"#,
            // Delivery and bookkeeping fields are not part of the key.
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0,"seed":7,"stream":true,"stream_options":{"include_usage":true}}"#,
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0,"seed":7,"stream":false,"user":"u1","store":true,"service_tier":"flex"}"#,
        ];
        for body in same {
            assert_eq!(key(body), key(BASE), "{body}");
        }
    }

    #[test]
    fn output_relevant_changes_change_the_key() {
        let base = key(BASE);
        let mut variants = vec![
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi!"}],"temperature":0,"seed":7}"#.to_string(),
            r#"{"model":"gpt-4o","messages":[{"role":"system","content":"hi"}],"temperature":0,"seed":7}"#.to_string(),
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"seed":7}"#.to_string(),
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0,"seed":8}"#.to_string(),
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0}"#.to_string(),
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0,"seed":7,"vendor_knob":1}"#.to_string(),
        ];
        let tool = |name: &str| json!([{"type":"function","function":{"name":name,"parameters":{"type":"object"}}}]);
        for extra in [
            json!({"tools": tool("get_weather")}),
            json!({"tool_choice": "required"}),
            json!({"response_format": {"type": "json_object"}}),
            json!({"max_tokens": 5}),
            json!({"stop": ["\n"]}),
            json!({"n": 2}),
            json!({"reasoning_effort": "low"}),
        ] {
            let mut v: Value = serde_json::from_str(BASE).unwrap();
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            variants.push(v.to_string());
        }
        let mut with_tool: Value = serde_json::from_str(BASE).unwrap();
        with_tool["tools"] = tool("get_weather");
        let mut other_tool = with_tool.clone();
        other_tool["tools"] = tool("get_time");
        assert_ne!(key(&with_tool.to_string()), key(&other_tool.to_string()));

        let mut seen = std::collections::HashSet::from([base]);
        for body in &variants {
            assert!(seen.insert(key(body)), "key collides for {body}");
        }
    }

    #[test]
    fn model_tenant_and_customer_scope_the_key() {
        let r = req(BASE);
        let cache_key = |r: &ChatRequest, m: &str, t: &str, c: Option<&str>| cache_key(r, m, t, c).unwrap();
        let a = cache_key(&r, "gpt-4o", "tenant-a", None);
        assert_ne!(a, cache_key(&r, "gpt-4o-mini", "tenant-a", None));
        assert_ne!(a, cache_key(&r, "gpt-4o", "tenant-b", None));
        assert_ne!(a, cache_key(&r, "gpt-4o", "tenant-a", Some("")));
        assert_ne!(cache_key(&r, "gpt-4o", "tenant-a", Some("c1")), cache_key(&r, "gpt-4o", "tenant-a", Some("c2")));
        assert_eq!(cache_key(&r, "gpt-4o", "tenant-a", Some("c1")), cache_key(&r, "gpt-4o", "tenant-a", Some("c1")));
        // Length prefixes: moving text across the tenant/customer boundary is a different key.
        assert_ne!(cache_key(&r, "gpt-4o", "ab", Some("c")), cache_key(&r, "gpt-4o", "a", Some("bc")));
        assert_ne!(cache_key(&r, "gpt-4o", "t", Some("gpt-4o")), cache_key(&r, "gpt-4o", "tgpt-4o", None));
    }

    #[test]
    fn canonical_json_sorts_nested_keys_and_normalises_numbers() {
        let mut out = Vec::new();
        write_canonical(&json!({"b": [1.0, {"z": 2.50, "a": null}], "a": "x y", "c": 1e3, "d": 0.1}), &mut out);
        assert_eq!(std::str::from_utf8(&out).unwrap(), r#"{"a":"x y","b":[1,{"a":null,"z":2.5}],"c":1000,"d":0.1}"#);
    }
}
