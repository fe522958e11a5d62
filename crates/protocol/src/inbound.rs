//! What every translated inbound API (Anthropic Messages, Responses) shares on its way to the
//! canonical request: the body as a JSON object, and the gateway's own fields carried over as
//! they are (the pipeline reads and removes them the same way for every endpoint).

use serde_json::{Map, Value};

use crate::openai::RequestFormatError;

/// The gateway's own fields (the SDK's `extra_body`).
pub const GATEWAY_FIELDS: &[&str] = &[
    "customer_identifier",
    "fallback_models",
    "cache_enabled",
    "cache_ttl",
    "cache_options",
    "prompt_id",
    "variables",
    "prompt_version",
    "prompt_label",
    "max_cost_usd",
    "disable_log",
];

/// The request body, which must be a JSON object.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, RequestFormatError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(RequestFormatError { message: "the request body must be a JSON object".into(), param: None }),
        Err(e) => Err(RequestFormatError { message: format!("the request body is not valid JSON: {e}"), param: None }),
    }
}

/// Copies the gateway's fields present in `from` into the canonical request.
pub fn carry_gateway_fields(from: &Map<String, Value>, to: &mut Map<String, Value>) {
    for key in GATEWAY_FIELDS {
        if let Some(v) = from.get(*key) {
            to.insert((*key).into(), v.clone());
        }
    }
}

/// A 400 naming the field.
pub fn field(param: impl Into<String>, message: impl Into<String>) -> RequestFormatError {
    RequestFormatError::field(param, message)
}
