//! Typed views of the parts of a request the gateway reads: messages, tools and tool choice.
//! Unknown keys are ignored here; the raw request still carries them upstream.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<MessageContent>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// Assistant turns sent back by the client.
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Thinking text a previous answer carried (what the gateway returned as
    /// `reasoning_content`), sent back by the client in multi-turn tool use.
    #[serde(default)]
    pub reasoning_content: Option<String>,
    /// Provider signature of that thinking, round-tripped so the provider accepts the history.
    #[serde(default)]
    pub reasoning_signature: Option<String>,
    /// Encrypted thinking blocks a previous answer carried (`reasoning_redacted`), sent back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_redacted: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ToolCall {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: CalledFunction,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct CalledFunction {
    pub name: String,
    /// JSON text, as OpenAI sends it.
    #[serde(default)]
    pub arguments: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    /// `{"url": "data:…" | "https://…", "detail"}` for `type: image_url`.
    #[serde(default)]
    pub image_url: Option<ImageUrl>,
    /// `{"file_data": "data:application/pdf;base64,…", "filename"}` for `type: file`.
    #[serde(default)]
    pub file: Option<FilePart>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct FilePart {
    #[serde(default)]
    pub file_data: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub file_id: Option<String>,
}

impl Message {
    /// The text of the message: the string content, or its text parts joined by a space.
    pub fn text(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(MessageContent::Text(s)) => s.clone(),
            Some(MessageContent::Parts(parts)) => parts.iter().filter_map(|p| p.text.as_deref()).collect::<Vec<_>>().join(" "),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Tool {
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: ToolFunction,
}

fn function_type() -> String {
    "function".into()
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ToolFunction {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<serde_json::Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ToolChoice {
    Mode(String),
    Named { function: NamedFunction },
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct NamedFunction {
    pub name: String,
}

impl ToolChoice {
    pub fn is_none(&self) -> bool {
        matches!(self, ToolChoice::Mode(m) if m == "none")
    }
    pub fn named(&self) -> Option<&str> {
        match self {
            ToolChoice::Named { function } => Some(&function.name),
            ToolChoice::Mode(_) => None,
        }
    }
}
