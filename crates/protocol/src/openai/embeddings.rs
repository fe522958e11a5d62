//! An OpenAI embeddings request, kept as raw top-level fields like a chat request: `model` and
//! `input` are checked, everything else passes through to the upstream untouched.

use serde_json::value::RawValue;

use super::RequestFormatError;
use crate::object::RawObject;

#[derive(Debug, Clone)]
pub struct EmbeddingsRequest {
    fields: RawObject,
    model: String,
}

impl EmbeddingsRequest {
    pub fn parse(body: &[u8]) -> Result<Self, RequestFormatError> {
        let fields = RawObject::parse(body)?;
        let model = fields.model("mock/embed")?;
        if fields.raw("input").is_none_or(|raw| raw.get() == "null") {
            return Err(RequestFormatError::field("input", "`input` is required: a string or an array of strings to embed"));
        }
        Ok(Self { fields, model })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// What to embed, as the client sent it (a string, strings, or token arrays).
    pub fn input(&self) -> serde_json::Value {
        self.fields.raw("input").and_then(|raw| serde_json::from_str(raw.get()).ok()).unwrap_or(serde_json::Value::Null)
    }

    /// The top-level fields, for the gateway's own fields to be read and removed.
    pub fn fields_mut(&mut self) -> &mut RawObject {
        &mut self.fields
    }

    pub fn raw(&self, key: &str) -> Option<&RawValue> {
        self.fields.raw(key)
    }

    /// The body for an upstream, with `model` set to the provider's own model name.
    pub fn to_upstream(&self, model: &str) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for (key, value) in self.fields.iter() {
            let value = if key == "model" {
                serde_json::Value::String(model.to_string())
            } else {
                serde_json::from_str(value.get()).unwrap_or(serde_json::Value::Null)
            };
            out.insert(key.to_string(), value);
        }
        serde_json::Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_and_input_are_required_and_named() {
        let err = |s: &str| EmbeddingsRequest::parse(s.as_bytes()).unwrap_err();
        assert_eq!(err(r#"{"input":"x"}"#).param.as_deref(), Some("model"));
        assert_eq!(err(r#"{"model":"","input":"x"}"#).param.as_deref(), Some("model"));
        assert_eq!(err(r#"{"model":"m"}"#).param.as_deref(), Some("input"));
        assert_eq!(err(r#"{"model":"m","input":null}"#).param.as_deref(), Some("input"));
        assert!(err("[1]").message.contains("JSON object"));
    }

    #[test]
    fn the_upstream_body_keeps_every_field_with_the_model_replaced() {
        let req = EmbeddingsRequest::parse(br#"{"model":"alias","input":["a","b"],"dimensions":8,"vendor":{"x":1}}"#).unwrap();
        assert_eq!(req.input(), serde_json::json!(["a", "b"]));
        assert_eq!(
            req.to_upstream("text-embedding-3-small"),
            serde_json::json!({"model":"text-embedding-3-small","input":["a","b"],"dimensions":8,"vendor":{"x":1}})
        );
    }
}
