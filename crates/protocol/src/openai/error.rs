//! OpenAI's error body `{"error":{"message","type","param","code"}}`, the one shape every gateway
//! error takes on the wire.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl ErrorBody {
    pub fn new(message: impl Into<String>, kind: impl Into<String>, param: Option<String>, code: Option<String>) -> Self {
        Self { error: ErrorDetail { message: message.into(), kind: kind.into(), param, code } }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("error body serialisation")
    }

    /// Lenient read of an upstream error body: OpenAI's shape, or a bare `{"message"}`, or text.
    pub fn from_upstream(body: &[u8]) -> Option<UpstreamError> {
        #[derive(Deserialize)]
        struct Wrapped {
            error: serde_json::Value,
        }
        let value = serde_json::from_slice::<Wrapped>(body).ok()?.error;
        let text = |k: &str| {
            value.get(k).and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        match &value {
            serde_json::Value::String(s) => Some(UpstreamError { message: s.clone(), ..Default::default() }),
            serde_json::Value::Object(_) => Some(UpstreamError {
                message: text("message").unwrap_or_default(),
                kind: text("type"),
                param: text("param"),
                code: text("code"),
            }),
            _ => None,
        }
    }
}

/// The fields of an upstream error, each optional because real providers leave them out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpstreamError {
    pub message: String,
    pub kind: Option<String>,
    pub param: Option<String>,
    pub code: Option<String>,
}
