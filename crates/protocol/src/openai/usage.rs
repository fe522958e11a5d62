//! OpenAI's usage object and a cheap peek at it inside a response or stream chunk.

use serde::Deserialize;

use crate::Usage;

#[derive(Debug, Default, Deserialize)]
pub struct OpenAiUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PromptDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
    /// Written to a provider's prompt cache (the gateway's own name; see `usage_json`).
    #[serde(default)]
    pub cache_write_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct CompletionDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

impl From<OpenAiUsage> for Usage {
    fn from(u: OpenAiUsage) -> Self {
        Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
            cached_input_tokens: u.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens).unwrap_or(0),
            reasoning_tokens: u.completion_tokens_details.and_then(|d| d.reasoning_tokens).unwrap_or(0),
            cache_write_tokens: u.prompt_tokens_details.and_then(|d| d.cache_write_tokens).unwrap_or(0),
        }
    }
}

/// What the gateway needs to know about a completion or a stream chunk, without building the
/// whole document: usage, whether it carries choices, and an embedded error.
#[derive(Debug, Default, Deserialize)]
pub struct Peek {
    #[serde(default)]
    pub usage: Option<OpenAiUsage>,
    #[serde(default)]
    pub choices: Option<Vec<serde::de::IgnoredAny>>,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

/// Reads usage from a response or chunk; `None` when absent, null or not JSON.
pub fn peek_usage(body: &[u8]) -> Option<Usage> {
    serde_json::from_slice::<Peek>(body).ok()?.usage.map(Into::into)
}

pub use Peek as ChunkPeek;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cached_and_reasoning_tokens() {
        let u = peek_usage(br#"{"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}"#).unwrap();
        assert_eq!(u, Usage { input_tokens: 10, output_tokens: 5, cached_input_tokens: 4, reasoning_tokens: 2, cache_write_tokens: 0 });
        assert_eq!(peek_usage(br#"{"usage":null}"#), None);
        assert_eq!(peek_usage(b"not json"), None);
    }
}
