//! A JSON object kept as its top-level fields with raw values: what the gateway does not touch
//! is forwarded byte for byte, in order. Every inbound request type is built on it, so that the
//! gateway's own fields are read and removed the same way from any of them.

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::openai::RequestFormatError;

#[derive(Debug, Clone, Default)]
pub struct RawObject {
    fields: IndexMap<String, Box<RawValue>>,
}

impl RawObject {
    /// Parses a request body, which must be a JSON object.
    pub fn parse(body: &[u8]) -> Result<Self, RequestFormatError> {
        let fields = serde_json::from_slice(body).map_err(|e| {
            let what = if e.is_data() { "the request body must be a JSON object" } else { "invalid JSON" };
            // serde_json's message already ends with "at line L column C".
            RequestFormatError { message: format!("{what}: {e}"), param: None }
        })?;
        Ok(Self { fields })
    }

    /// The non-empty string `model`, which every inbound API requires.
    pub fn model(&self, example: &str) -> Result<String, RequestFormatError> {
        let model: String = self.required("model", &format!("a string such as \"{example}\""))?;
        if model.is_empty() {
            return Err(RequestFormatError::field("model", "`model` must not be empty"));
        }
        Ok(model)
    }

    pub fn raw(&self, key: &str) -> Option<&RawValue> {
        self.fields.get(key).map(|v| &**v)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), &**v))
    }

    /// Removes a field and returns its raw value (used for the gateway's own fields).
    pub fn take(&mut self, key: &str) -> Option<Box<RawValue>> {
        self.fields.shift_remove(key)
    }

    /// Sets a field, replacing it in place or appending it.
    pub fn set(&mut self, key: &str, value: Box<RawValue>) {
        match self.fields.get_mut(key) {
            Some(slot) => *slot = value,
            None => {
                self.fields.insert(key.to_string(), value);
            }
        }
    }

    /// Reads a field as `T`; a present field of the wrong type is an error naming it.
    pub fn get<T: DeserializeOwned>(&self, key: &str, expected: &str) -> Result<Option<T>, RequestFormatError> {
        self.fields.get(key).map(|raw| parse_field(raw, key, expected)).transpose()
    }

    /// The object as JSON, fields in order, raw values as they are.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.fields.iter().map(|(k, v)| k.len() + v.get().len() + 4).sum::<usize>() + 2);
        out.push(b'{');
        for (i, (key, value)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, key).expect("string serialisation");
            out.push(b':');
            out.extend_from_slice(value.get().as_bytes());
        }
        out.push(b'}');
        out
    }

    pub fn required<T: DeserializeOwned>(&self, key: &str, expected: &str) -> Result<T, RequestFormatError> {
        self.get(key, expected)?.ok_or_else(|| RequestFormatError::field(key, format!("`{key}` is required: {expected}")))
    }
}

pub(crate) fn parse_field<T: DeserializeOwned>(raw: &RawValue, key: &str, expected: &str) -> Result<T, RequestFormatError> {
    serde_json::from_str(raw.get()).map_err(|e| RequestFormatError::field(key, format!("invalid `{key}`: expected {expected} ({e})")))
}
