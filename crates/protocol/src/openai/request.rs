//! A Chat Completions request kept as its top-level fields with raw JSON values, so that what the
//! gateway does not change is forwarded byte for byte and unknown fields pass through untouched.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::message::{Message, Tool, ToolChoice};
use crate::object::RawObject;

/// Why a request body is not a valid Chat Completions request. `param` names the offending field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RequestFormatError {
    pub message: String,
    pub param: Option<String>,
}

impl RequestFormatError {
    pub fn field(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self { message: message.into(), param: Some(param.into()) }
    }
}

#[derive(Debug, Clone)]
pub struct ChatRequest {
    fields: RawObject,
    model: String,
    stream: bool,
    include_usage: bool,
    messages: Vec<Message>,
    /// The client's own request when it came in an upstream's API (see `native.rs`).
    native: Option<std::sync::Arc<crate::Native>>,
}

impl ChatRequest {
    /// Parses a body. Only the fields the gateway relies on are validated; everything else is
    /// kept as raw JSON text.
    pub fn parse(body: &[u8]) -> Result<Self, RequestFormatError> {
        let fields = RawObject::parse(body)?;
        let model = fields.model("mock/echo")?;
        let stream = fields.get::<Option<bool>>("stream", "a boolean")?.flatten().unwrap_or(false);
        let include_usage = fields
            .get::<Option<StreamOptions>>("stream_options", "an object like {\"include_usage\": true}")?
            .flatten()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
        let messages: Vec<Message> = match fields.raw("messages") {
            None => return Err(RequestFormatError::field("messages", "`messages` is required: a non-empty array of messages")),
            Some(raw) => {
                let de = &mut serde_json::Deserializer::from_str(raw.get());
                serde_path_to_error::deserialize(de).map_err(|e| {
                    let path = e.path().to_string();
                    let param = if path == "." { "messages".to_string() } else { format!("messages{path}") };
                    RequestFormatError::field(param.clone(), format!("invalid `{param}`: {}", e.inner()))
                })?
            }
        };
        if messages.is_empty() {
            return Err(RequestFormatError::field("messages", "`messages` must contain at least one message"));
        }
        Ok(Self { fields, model, stream, include_usage, messages, native: None })
    }

    pub fn model(&self) -> &str {
        &self.model
    }
    pub fn stream(&self) -> bool {
        self.stream
    }
    /// Whether the client itself asked for the usage chunk at the end of a stream.
    pub fn client_wants_usage(&self) -> bool {
        self.include_usage
    }
    pub fn native(&self) -> Option<&crate::Native> {
        self.native.as_deref()
    }
    pub fn set_native(&mut self, native: crate::Native) {
        self.native = Some(std::sync::Arc::new(native));
    }
    /// The client's `anthropic-beta` header, for a native request.
    pub fn set_native_beta(&mut self, beta: Option<String>) {
        if let Some(native) = self.native.as_mut() {
            std::sync::Arc::make_mut(native).beta = beta;
        }
    }

    pub fn messages(&self) -> &[Message] {
        &self.messages
    }
    pub fn raw(&self, key: &str) -> Option<&RawValue> {
        self.fields.raw(key)
    }
    pub fn contains(&self, key: &str) -> bool {
        self.fields.contains(key)
    }

    /// The top-level fields, for the gateway's own fields to be read and removed.
    pub fn fields_mut(&mut self) -> &mut RawObject {
        &mut self.fields
    }

    /// Removes a field and returns its raw value (used for the gateway's own fields).
    pub fn take(&mut self, key: &str) -> Option<Box<RawValue>> {
        self.fields.take(key)
    }

    /// Sets a field (replacing it in place, or appending it), e.g. a gateway-imposed output cap.
    pub fn set(&mut self, key: &str, value: Box<RawValue>) {
        self.fields.set(key, value)
    }

    /// Reads a field as `T`; a present field of the wrong type is an error naming it.
    pub fn get<T: DeserializeOwned>(&self, key: &str, expected: &str) -> Result<Option<T>, RequestFormatError> {
        self.fields.get(key, expected)
    }

    pub fn tools(&self) -> Result<Vec<Tool>, RequestFormatError> {
        Ok(self.get::<Option<Vec<Tool>>>("tools", "an array of tools")?.flatten().unwrap_or_default())
    }

    pub fn tool_choice(&self) -> Result<Option<ToolChoice>, RequestFormatError> {
        Ok(self
            .get::<Option<ToolChoice>>(
                "tool_choice",
                "\"none\", \"auto\", \"required\" or {\"type\":\"function\",\"function\":{\"name\":…}}",
            )?
            .flatten())
    }

    /// The body to send to an OpenAI-compatible upstream: every field as received, in order,
    /// with `model` replaced and, for streams, `stream_options.include_usage` forced on so the
    /// gateway can always account usage. Raw values are copied, not re-serialised.
    pub fn to_upstream_body(&self, model: &str, force_usage: bool) -> Bytes {
        let mut out = Vec::with_capacity(self.fields.iter().map(|(_, v)| v.get().len() + 16).sum::<usize>() + 32);
        out.push(b'{');
        let mut first = true;
        let mut write_key = |out: &mut Vec<u8>, key: &str| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            // Keys came from valid JSON; serialising a str cannot fail.
            serde_json::to_writer(&mut *out, key).expect("string serialisation");
            out.push(b':');
        };
        let stream_usage = force_usage && self.stream;
        for (key, value) in self.fields.iter() {
            match key {
                "model" => {
                    write_key(&mut out, key);
                    serde_json::to_writer(&mut out, model).expect("string serialisation");
                }
                "stream_options" if stream_usage => {
                    write_key(&mut out, key);
                    out.extend_from_slice(&stream_options_with_usage(value));
                }
                _ => {
                    write_key(&mut out, key);
                    out.extend_from_slice(value.get().as_bytes());
                }
            }
        }
        if stream_usage && !self.fields.contains("stream_options") {
            write_key(&mut out, "stream_options");
            out.extend_from_slice(br#"{"include_usage":true}"#);
        }
        out.push(b'}');
        Bytes::from(out)
    }
}

#[derive(serde::Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

/// Keeps any other stream option the client set and turns usage on.
fn stream_options_with_usage(raw: &RawValue) -> Vec<u8> {
    let mut map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw.get()).ok().flatten_object();
    map.insert("include_usage".into(), serde_json::Value::Bool(true));
    serde_json::to_vec(&map).expect("map serialisation")
}

trait FlattenObject {
    fn flatten_object(self) -> serde_json::Map<String, serde_json::Value>;
}
impl FlattenObject for Option<serde_json::Value> {
    fn flatten_object(self) -> serde_json::Map<String, serde_json::Value> {
        match self {
            Some(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ChatRequest, RequestFormatError> {
        ChatRequest::parse(s.as_bytes())
    }

    #[test]
    fn unknown_fields_pass_through_byte_for_byte_in_order() {
        let body = r#"{"vendor_x": {"b": [1, 2.50, "é"]},"model":"up/gpt","messages":[{"role":"user","content":"hi"}],"seed":7}"#;
        let req = parse(body).unwrap();
        let out = req.to_upstream_body("gpt", true);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"vendor_x":{"b": [1, 2.50, "é"]},"model":"gpt","messages":[{"role":"user","content":"hi"}],"seed":7}"#
        );
    }

    #[test]
    fn stream_forces_usage_and_keeps_other_options() {
        let req = parse(
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_obfuscation":false}}"#,
        )
        .unwrap();
        assert!(!req.client_wants_usage());
        let v: serde_json::Value = serde_json::from_slice(&req.to_upstream_body("m", true)).unwrap();
        assert_eq!(v["stream_options"], serde_json::json!({"include_obfuscation": false, "include_usage": true}));

        let req = parse(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}"#).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&req.to_upstream_body("m", true)).unwrap();
        assert_eq!(v["stream_options"], serde_json::json!({"include_usage": true}));
        let v: serde_json::Value = serde_json::from_slice(&req.to_upstream_body("m", false)).unwrap();
        assert!(v.get("stream_options").is_none());
    }

    #[test]
    fn invalid_json_reports_position() {
        let err = parse("{\"model\": \"m\",\n \"messages\": [}").unwrap_err();
        assert!(err.message.contains("line 2"), "{}", err.message);
        assert_eq!(err.param, None);
    }

    #[test]
    fn missing_and_ill_typed_fields_are_named() {
        assert_eq!(parse(r#"{"messages":[{"role":"user","content":"x"}]}"#).unwrap_err().param.as_deref(), Some("model"));
        assert_eq!(parse(r#"{"model":"m"}"#).unwrap_err().param.as_deref(), Some("messages"));
        assert_eq!(parse(r#"{"model":"m","messages":[]}"#).unwrap_err().param.as_deref(), Some("messages"));
        assert_eq!(parse(r#"{"model":3,"messages":[{"role":"user"}]}"#).unwrap_err().param.as_deref(), Some("model"));
        assert_eq!(
            parse(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#).unwrap_err().param.as_deref(),
            Some("stream")
        );
        let err = parse(r#"{"model":"m","messages":[{"role":"user","content":"x"},{"content":"y"}]}"#).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("messages[1]"), "{}", err.message);
        assert!(err.message.contains("role"), "{}", err.message);
        assert!(parse("[1,2]").unwrap_err().message.contains("JSON object"));
    }
}
